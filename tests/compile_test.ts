/** The single binary: built with `deno task compile` where Deno's `denort` runtime is available. */
import { expect } from "expect";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** Why this test cannot run here (decided before it is registered, so a skip shows as ignored,
 * never as passed), or null. `deno compile` needs the `denort` runtime: DENORT_BIN, or Deno's
 * cached download of it. */
async function whyNoDenort(): Promise<string | null> {
  const exists = async (path: string) => {
    try {
      return (await Deno.stat(path)).isFile;
    } catch {
      return false;
    }
  };
  const configured = Deno.env.get("DENORT_BIN");
  if (configured) return await exists(configured) ? null : `DENORT_BIN="${configured}" not found`;
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
    .output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
  const cached = join(
    denoDir,
    "dl",
    "release",
    `v${Deno.version.deno}`,
    `denort-${Deno.build.target}.zip`,
  );
  return await exists(cached)
    ? null
    : `no denort runtime (${cached} absent and DENORT_BIN unset; \`deno compile\` would download ` +
      "it from Deno's servers)";
}

const NO_DENORT = await whyNoDenort();
if (NO_DENORT !== null) console.log(`IGNORED the compiled-binary test: ${NO_DENORT}`);

Deno.test({
  name: "the compiled binary serves with its embedded policy, schemas and dashboard",
  ignore: NO_DENORT !== null,
}, async () => {
  const binary = join(ROOT, "dist", "mcp-sec-gateway");
  const compiled = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (compiled.code !== 0) {
    throw new Error(`deno task compile failed:\n${new TextDecoder().decode(compiled.stderr)}`);
  }
  const cwd = await Deno.makeTempDir();
  try {
    const version = await new Deno.Command(binary, { args: ["--version"], cwd }).output();
    const { version: expected } = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
    expect(new TextDecoder().decode(version.stdout).trim()).toBe(`mcp-sec-gateway ${expected}`);
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
