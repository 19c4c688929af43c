/**
 * Proving the log is whole (§12), through the real `main.ts`: the audit head printed at shutdown
 * anchors `verify-log --head` / `--expect-lines`, which catch a file whose last lines were cut off
 * (a cut chain still verifies on its own).
 */
import { expect } from "expect";
import { join } from "node:path";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const FLAGS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run"];
const POLICY = `defaults:\n  timezone: UTC\nrules:\n  - model: "gpt-4*"\n    allow_tools: ["*"]\n`;

async function verifyLog(cwd: string, args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN, "verify-log", ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
}

Deno.test("the audit head printed at shutdown lets verify-log catch a log cut short", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "mcpsec-whole-" });
  try {
    await Deno.writeTextFile(join(cwd, "policies.yaml"), POLICY);
    await Deno.mkdir(join(cwd, "schemas"));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...FLAGS, MAIN, "serve"],
      cwd,
      env: {
        NO_COLOR: "1",
        PORT: "0",
        AUDIT_STDOUT: "false",
        ADMIN_TOKEN: "whole-log-admin-0123456789",
      },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    const { promise: url, resolve: listening } = Promise.withResolvers<string>();
    const drained = (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderr += text;
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (match) listening(match[1]);
      }
    })();
    const base = await Promise.race([
      url,
      child.status.then((status) => {
        throw new Error(`gateway exited (${status.code}) before listening:\n${stderr}`);
      }),
    ]);
    for (let i = 0; i < 5; i++) {
      const response = await fetch(base + "/mcp/toolcall", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model_id: "gpt-4o", session_id: `s${i}`, tool_name: "search.web" }),
      });
      expect(response.status).toBe(200);
      await response.body?.cancel();
    }
    child.kill("SIGTERM");
    expect((await child.status).code).toBe(0);
    await drained;
    const printed = /Audit head: ([0-9a-f]{64}) \((\d+) lines\)/.exec(stderr);
    expect(printed).not.toBeNull();
    const [, head, count] = printed!;
    const path = join(cwd, "audit.log");
    const lines = (await Deno.readTextFile(path)).split("\n").filter((line) => line !== "");
    expect(Number(count)).toBe(lines.length);
    expect(JSON.parse(lines.at(-1)!).hash).toBe(head);

    const intact = await verifyLog(cwd, ["--head", head, "--expect-lines", count]);
    expect(intact).toEqual({ code: 0, stdout: `OK: ${count} lines, head ${head}\n` });

    // The attacker cuts the last two lines (their own calls) off the file.
    await Deno.writeTextFile(path, lines.slice(0, -2).map((line) => line + "\n").join(""));
    const plain = await verifyLog(cwd, []);
    expect(plain.code).toBe(0); // what is left is a valid chain
    const byHead = await verifyLog(cwd, ["--head", head]);
    expect(byHead.code).toBe(1);
    expect(byHead.stdout).toMatch(/^Cut short: /);
    const byCount = await verifyLog(cwd, ["--expect-lines", count]);
    expect(byCount.code).toBe(1);
    expect(byCount.stdout).toBe(
      `Cut short: ${lines.length - 2} lines, at least ${count} expected\n`,
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
