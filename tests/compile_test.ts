/** The single binary: built with `deno task compile` where Deno's `denort` runtime is available. */
import { expect } from "expect";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("the compiled binary serves with its embedded policy, schemas and dashboard", async () => {
  const binary = join(ROOT, "dist", "mcp-sec-gateway");
  const compiled = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (compiled.code !== 0) {
    const why = new TextDecoder().decode(compiled.stderr);
    if (/dns error|download|denort|failed to fetch|error sending request/i.test(why)) {
      console.log(
        "SKIPPED compiled-binary test: `deno compile` could not get the denort runtime here " +
          "(no access to Deno's download servers; set DENORT_BIN to a local denort to run it)",
      );
      return;
    }
    throw new Error(`deno task compile failed:\n${why}`);
  }
  const cwd = await Deno.makeTempDir();
  try {
    const check = await new Deno.Command(binary, { args: ["check-policy"], cwd }).output();
    // no policies.yaml in cwd: check-policy reports it missing, serve falls back to the embedded
    expect(check.code).toBe(1);
    const child = new Deno.Command(binary, {
      args: ["serve"],
      cwd,
      env: { PORT: "0", AUDIT_STDOUT: "false", ADMIN_TOKEN: "compiled-admin-token-123" },
      stderr: "piped",
      stdout: "null",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let url = "";
    while (!url) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`binary exited:\n${seen}`);
      seen += value;
      url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen)?.[1] ?? "";
    }
    const drained = (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })();
    const call = await fetch(url + "/mcp/toolcall", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model_id: "claude-3",
        session_id: "s",
        tool_name: "calendar.create_event",
        input: { title: "x", start_time: "not a date" },
      }),
    });
    expect((await call.json()).reason_code).toBe("input_invalid");
    const dash = await fetch(url + "/dash", {
      headers: { authorization: "Bearer compiled-admin-token-123" },
    });
    expect(dash.status).toBe(200);
    expect(await dash.text()).toContain("<html");
    child.kill("SIGTERM");
    expect((await child.status).code).toBe(0);
    await drained;
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
