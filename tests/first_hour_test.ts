/** Issue 16, through the real `main.ts` process: what a newcomer and an operator meet first. */
import { expect } from "expect";
import { join } from "node:path";
import { FLAGS, MAIN, serveGateway } from "./gateway_process.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs `main.ts` with `args` to completion (bounded: killed after 20 s). */
async function run(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", AUDIT_STDOUT: "false", PORT: "0", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const output = await child.output();
  clearTimeout(guard);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const POLICY = `defaults:\n  timezone: UTC\nrules:\n  - model: "gpt-4*"\n    allow_tools: ["*"]\n`;

async function workspace(): Promise<string> {
  const cwd = await Deno.makeTempDir({ prefix: "mcpsec-first-hour-" });
  await Deno.writeTextFile(join(cwd, "policies.yaml"), POLICY);
  await Deno.mkdir(join(cwd, "schemas"));
  return cwd;
}

async function call(url: string, session: string): Promise<number> {
  const response = await fetch(url + "/mcp/toolcall", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model_id: "gpt-4o", session_id: session, tool_name: "search.web" }),
  });
  await response.body?.cancel();
  return response.status;
}

/** Waits (bounded, 5 s) until the file at `path` holds `text`. */
async function fileContains(path: string, text: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!(await Deno.readTextFile(path).catch(() => "")).includes(text)) {
    if (performance.now() > deadline) throw new Error(`"${path}" never held ${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("two gateways on one audit file: the second refuses to start and names the holder", async () => {
  const cwd = await workspace();
  try {
    const first = await serveGateway(cwd);
    expect(await call(first.url, "a")).toBe(200);
    const second = await run(["serve"], { cwd });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`Cannot open audit log "audit.log"`);
    expect(second.stderr).toContain(`pid ${first.child.pid}`);
    expect(second.stderr).toContain("AUDIT_LOG_PATH");
    expect(second.stderr).not.toMatch(/Uncaught|\n {4}at /);
    // The first keeps writing one unbroken chain.
    expect(await call(first.url, "b")).toBe(200);
    first.child.kill("SIGTERM");
    expect((await first.child.status).code).toBe(0);
    await first.drained;
    const verified = await run(["verify-log"], { cwd });
    expect(verified.stdout).toMatch(/^OK: \d+ lines/);
    expect(verified.code).toBe(0);
    // A gateway with its own file starts beside another one.
    const again = await serveGateway(cwd);
    const own = await serveGateway(cwd, {
      AUDIT_LOG_PATH: "other/audit.log",
      PINS_PATH: "other.json",
    });
    for (const gw of [again, own]) {
      gw.child.kill("SIGTERM");
      expect((await gw.child.status).code).toBe(0);
      await gw.drained;
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("the audit lock dies with its holder: after SIGKILL the next gateway starts", async () => {
  const cwd = await workspace();
  try {
    const first = await serveGateway(cwd);
    expect(await call(first.url, "a")).toBe(200);
    await fileContains(join(cwd, "audit.log"), '"session_id":"a"');
    first.child.kill("SIGKILL");
    expect((await first.child.status).signal).toBe("SIGKILL");
    await first.drained;
    const second = await serveGateway(cwd);
    expect(await call(second.url, "b")).toBe(200);
    second.child.kill("SIGTERM");
    expect((await second.child.status).code).toBe(0);
    await second.drained;
    const verified = await run(["verify-log"], { cwd });
    expect(verified.code).toBe(0);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

const ROOT = new URL("..", import.meta.url).pathname;
const NPX = (Deno.env.get("PATH") ?? "").split(":").map((dir) => join(dir, "npx"))
  .find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
if (NPX === undefined) console.log("IGNORED the npx service test: no npx on PATH");

/** True while a process with this pid exists (and is not a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

Deno.test({
  name: "SIGTERM to the README's `npx -y deno@2.9.6 task start` stops the gateway, audit flushed",
  ignore: NPX === undefined || Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mcpsec-npx-" });
    const audit = join(dir, "audit.log");
    const npx = new Deno.Command(NPX!, {
      args: ["-y", "deno@2.9.6", "task", "start"],
      cwd: ROOT,
      env: {
        NO_COLOR: "1",
        PORT: "0",
        AUDIT_LOG_PATH: audit,
        PINS_PATH: join(dir, "pins.json"),
        AUDIT_STDOUT: "false",
        ADMIN_TOKEN: "npx-service-admin-token-0123",
        LOG_LEVEL: "debug",
      },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = npx.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let url = "";
    try {
      // Listening, and watching its launchers (read from the process table after start-up).
      while (!url || !/Watching the launcher\(s\)/.test(seen)) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`npx exited before the gateway listened:\n${seen}`);
        seen += value;
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen)?.[1] ?? "";
      }
      // Ends when the last holder of the pipe, the gateway itself, has exited.
      const drained = (async () => {
        while (true) {
          const next = await reader.read();
          if (next.done) return;
          seen += next.value;
        }
      })();
      const denied = await fetch(url + "/mcp/toolcall", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model_id: "claude-3",
          session_id: "svc",
          tool_name: "db.write_row",
        }),
      });
      expect((await denied.json()).reason_code).toBe("tool_denied");
      const gatewayPid = Number((await Deno.readTextFile(`${audit}.lock`)).trim());
      expect(gatewayPid).toBeGreaterThan(1);
      expect(gatewayPid).not.toBe(npx.pid);
      expect(alive(gatewayPid)).toBe(true);

      npx.kill("SIGTERM"); // what a process manager sends to the command it started
      await npx.status;
      let bound: ReturnType<typeof setTimeout> | undefined;
      const exited = await Promise.race([
        drained.then(() => true),
        new Promise<boolean>((resolve) => bound = setTimeout(() => resolve(false), 10_000)),
      ]);
      clearTimeout(bound);
      if (!exited && alive(gatewayPid)) Deno.kill(gatewayPid, "SIGKILL");
      expect(exited).toBe(true);
      expect(alive(gatewayPid)).toBe(false);
      expect(seen).toMatch(/The command that started the gateway \(pid \d+\) exited: stopping/);
      // A clean stop: the lock was released (emptied), every line is in the file and verifies.
      expect(await Deno.readTextFile(`${audit}.lock`)).toBe("");
      const lines = (await Deno.readTextFile(audit)).trim().split("\n");
      expect(lines.some((line) => line.includes('"session_id":"svc"'))).toBe(true);
      const verified = await run(["verify-log", audit]);
      expect(verified.stdout).toBe(
        `OK: ${lines.length} lines, head ${JSON.parse(lines.at(-1)!).hash}\n`,
      );
      await expect(fetch(url + "/")).rejects.toThrow();
    } finally {
      try {
        npx.kill("SIGKILL");
      } catch { /* already gone */ }
      await npx.status;
      await reader.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a typo in .env is named with the key it meant; debug lists the config, no secrets", async () => {
  const cwd = await workspace();
  try {
    await Deno.writeTextFile(
      join(cwd, ".env"),
      "PROT=18021\nLOG_LEVEL=debug\nADMIN_TOKEN=dotenv-admin-token-0123456789\n",
    );
    const gw = await serveGateway(cwd, { PORT: "0" });
    expect(await call(gw.url, "a")).toBe(200); // (signal handlers are set just after "listening")
    gw.child.kill("SIGTERM");
    expect((await gw.child.status).code).toBe(0);
    const stderr = await gw.drained;
    expect(stderr).toContain('WARN .env: unknown key "PROT" is ignored: did you mean PORT?');
    expect(stderr).toContain("DEBUG Configuration: PORT=0 (environment)");
    expect(stderr).toContain("DEBUG Configuration: LOG_LEVEL=debug (.env)");
    expect(stderr).toContain("DEBUG Configuration: ADMIN_TOKEN is set (.env)");
    expect(stderr).not.toContain("dotenv-admin-token");
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("every subcommand has a real --help, and --help never starts the server", async () => {
  const cwd = await workspace();
  try {
    const top = await run(["--help"], { cwd });
    expect(top.code).toBe(0);
    for (const command of ["serve", "check-policy", "verify-log", "hash-key"]) {
      expect(top.stdout).toContain(`  ${command}`);
      for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
        const help = await run(args, { cwd });
        expect([help.code, help.stderr]).toEqual([0, ""]);
        expect(help.stdout).toContain(`Usage: mcp-sec-gateway ${command}`);
        expect(help.stdout.split("\n").length).toBeGreaterThan(3);
      }
    }
    const serveHelp = await run(["serve", "--help"], { cwd });
    expect(serveHelp.stdout).not.toContain("listening");
    await expect(Deno.stat(join(cwd, "audit.log"))).rejects.toThrow(); // nothing was started
    const extra = await run(["serve", "--port", "9"], { cwd });
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain("serve takes no arguments");
    const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    const version = await run(["--version"], { cwd });
    expect(version.stdout.trim()).toBe(`mcp-sec-gateway ${deno.version}`);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("hash-key refuses a key shorter than 16 characters without echoing it", async () => {
  const short = await run(["hash-key", "abcdefghijk"]); // 11 characters
  expect(short.code).toBe(1);
  expect(short.stdout).toBe("");
  expect(short.stderr).toContain("at least 16 characters, this one has 11");
  expect(short.stderr).not.toContain("abcdefghijk");
  const good = await run(["hash-key", "0123456789abcdef"]);
  expect(good.code).toBe(0);
  expect(good.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
});
