/** The real `main.ts` as a process: start-up checks, SIGTERM flushing, subcommands. */
import { expect } from "expect";
import { join } from "node:path";
import { FLAGS, MAIN, serveGateway } from "./gateway_process.ts";

/** Runs a subcommand to completion. */
async function run(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const POLICY = `defaults:\n  timezone: UTC\nrules:\n  - model: "gpt-4*"\n    allow_tools: ["*"]\n`;

async function fire(url: string, count: number): Promise<number[]> {
  return await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const response = await fetch(url + "/mcp/toolcall", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model_id: "gpt-4o", session_id: `s${i}`, tool_name: "search.web" }),
      });
      await response.body?.cancel();
      return response.status;
    }),
  );
}

Deno.test("a newcomer's start: shipped policy and schemas, no .env, token printed once", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    const gw = await serveGateway(cwd, {});
    expect(gw.stderr()).toMatch(/ADMIN_TOKEN not set.*\/dash\?token=[A-Za-z0-9_-]{20,}/);
    expect(gw.stderr()).toContain("OPEN IDENTITY MODE");
    expect(await (await fetch(gw.url + "/")).text()).toBe("MCP-Sec Gateway OK");
    const denied = await fetch(gw.url + "/mcp/toolcall", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model_id: "gpt-4o", session_id: "s", tool_name: "db.write_row" }),
    });
    expect((await denied.json()).reason_code).toBe("tool_denied");
    gw.child.kill("SIGTERM");
    expect((await gw.child.status).code).toBe(0);
    await gw.drained;
    expect((await Deno.stat(join(cwd, "audit.log"))).size).toBeGreaterThan(0);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("SIGTERM flushes every audited decision; the chain continues across restarts", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(cwd, "policies.yaml"), POLICY);
    await Deno.mkdir(join(cwd, "schemas"));
    const first = await serveGateway(cwd, {});
    const statuses = await fire(first.url, 200);
    expect(statuses.every((status) => status === 200)).toBe(true);
    first.child.kill("SIGTERM");
    expect((await first.child.status).code).toBe(0);
    await first.drained;
    const lines = (await Deno.readTextFile(join(cwd, "audit.log"))).trim().split("\n");
    expect(lines.filter((line) => line.includes('"event":"toolcall"'))).toHaveLength(200);

    const second = await serveGateway(cwd, {});
    expect(await fire(second.url, 3)).toEqual([200, 200, 200]);
    second.child.kill("SIGINT");
    expect((await second.child.status).code).toBe(0);
    await second.drained;
    const after = (await Deno.readTextFile(join(cwd, "audit.log"))).trim().split("\n");
    expect(after.length).toBe(lines.length + 4);
    expect(JSON.parse(after[lines.length]).prev_hash).toBe(JSON.parse(lines.at(-1)!).hash);
    const verified = await run(["verify-log", "audit.log"], { cwd });
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`OK: ${after.length} lines`);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("verify-log reports a tampered line and exits 1", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(cwd, "policies.yaml"), POLICY);
    await Deno.mkdir(join(cwd, "schemas"));
    const gw = await serveGateway(cwd, {});
    await fire(gw.url, 5);
    gw.child.kill("SIGTERM");
    await gw.child.status;
    await gw.drained;
    const path = join(cwd, "audit.log");
    const lines = (await Deno.readTextFile(path)).trim().split("\n");
    lines[3] = lines[3].replace('"session_id":"', '"session_id":"X');
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const result = await run(["verify-log", path], { cwd });
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toMatch(/Broken at .*audit\.log:4/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("start-up refuses an invalid policy or env and reports every problem at once", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(cwd, "policies.yaml"),
      'rules:\n  - model: 1\n    allow_tool: []\n    active_hours: "25:00-26:00"\n',
    );
    await Deno.mkdir(join(cwd, "schemas"));
    await Deno.writeTextFile(join(cwd, "schemas", "broken.json"), "{");
    const result = await run(["serve"], { cwd, env: { PORT: "0" } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Cannot load policy "policies.yaml"');
    expect(result.stderr).toContain("allow_tool");
    expect(result.stderr).toContain("active_hours");
    expect(result.stderr).toContain('Cannot load schema "broken.json"');
    const env = await run(["serve"], { cwd, env: { PORT: "x", ADMIN_TOKEN: "short" } });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain("PORT");
    expect(env.stderr).toContain("ADMIN_TOKEN");
    expect(env.stderr).not.toContain("short\n");
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("check-policy and hash-key subcommands", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    const shipped = await run([
      "check-policy",
      new URL("../policies.yaml", import.meta.url).pathname,
    ]);
    expect(shipped.code).toBe(0);
    expect(shipped.stdout).toContain("is valid");
    await Deno.writeTextFile(join(cwd, "bad.yaml"), "rules:\n  - allow_tools: 3\n");
    const bad = await run(["check-policy", "bad.yaml"], { cwd });
    expect(bad.code).toBe(1);
    expect(
      bad.stderr.split("\n").filter((line) => line.startsWith("Cannot load policy"))
        .length,
    ).toBeGreaterThanOrEqual(2);
    const hashed = await run(["hash-key", "0123456789abcdef-test"]);
    expect(hashed.stdout.trim()).toBe(
      "2b476584d0d0a8437c9da4e2f8c8d177458b1a94d67e9e631c7ac814f8021cfb",
    );
    expect((await run(["hash-key", "test"])).code).toBe(1); // shorter than 16 characters
    const unknown = await run(["frobnicate"]);
    expect(unknown.code).toBe(2);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
