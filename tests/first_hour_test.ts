/** Issue 16, through the real `main.ts` process: what a newcomer and an operator meet first. */
import { expect } from "expect";
import { join } from "node:path";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const FLAGS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run"];
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

/** Starts `serve` and resolves once it prints its listening URL. */
async function serve(cwd: string, env: Record<string, string> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN, "serve"],
    cwd,
    env: { NO_COLOR: "1", PORT: "0", AUDIT_STDOUT: "false", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (true) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`gateway exited before listening:\n${seen}`);
    seen += value;
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
    if (match) {
      const drained = (async () => {
        while (true) {
          const next = await reader.read();
          if (next.done) return seen;
          seen += next.value;
        }
      })();
      return { child, url: match[1], stderr: () => seen, drained };
    }
  }
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
    const first = await serve(cwd);
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
    const again = await serve(cwd);
    const own = await serve(cwd, { AUDIT_LOG_PATH: "other/audit.log", PINS_PATH: "other.json" });
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
    const first = await serve(cwd);
    expect(await call(first.url, "a")).toBe(200);
    await fileContains(join(cwd, "audit.log"), '"session_id":"a"');
    first.child.kill("SIGKILL");
    expect((await first.child.status).signal).toBe("SIGKILL");
    await first.drained;
    const second = await serve(cwd);
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
