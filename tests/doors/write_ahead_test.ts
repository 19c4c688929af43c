/**
 * Write-ahead audit (§12), attacked as it happens in production: the real `main.ts` process, a
 * real upstream, `kill -9` while the tool runs, and an audit directory pulled away under the
 * gateway. A tool must never run without a line for it in the audit file.
 */
import { expect } from "expect";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { connectClient } from "../mcp_client.ts";
import { startFixtureHttpServer } from "../fixtures/http_server.ts";
import { startHostileUpstream } from "../fixtures/hostile_upstream.ts";
import { eventually } from "../harness.ts";
import { FLAGS, type GatewayProcess, MAIN, serveGateway } from "../gateway_process.ts";

const ADMIN = "write-ahead-admin-token-0123456789";

function policy(upstreamUrl: string): string {
  return `defaults:
  timezone: UTC
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*"]
upstreams:
  calendar:
    url: "${upstreamUrl}"
`;
}

async function auditLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((line) => line.endsWith("}")).map((line) => JSON.parse(line));
}

function auditSessionId(liveId: string): string {
  return "mcp-" + createHash("sha256").update(liveId).digest("hex").slice(0, 16);
}

Deno.test("kill -9 while the upstream runs the tool: the call's `forwarded` line is in the file", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "mcpsec-wal-" });
  const upstream = startHostileUpstream();
  let gw: GatewayProcess | undefined;
  try {
    await Deno.writeTextFile(join(cwd, "policies.yaml"), policy(upstream.url));
    await Deno.mkdir(join(cwd, "schemas"));
    gw = await serveGateway(cwd, {
      ADMIN_TOKEN: ADMIN,
      AUDIT_LOG_PATH: "audit.log",
      PINS_PATH: "pins.json",
    });
    const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
    const liveId = agent.transport.sessionId!;
    // `hang` never answers: the upstream is "running the tool" when the gateway is killed.
    const call = agent.client.callTool({ name: "calendar.hang", arguments: { n: 1 } })
      .catch((error: unknown) => error);
    await upstream.called; // the upstream has the call: from here the tool may act
    gw.child.kill("SIGKILL");
    expect((await gw.child.status).signal).toBe("SIGKILL");
    await gw.drained;
    await call;
    await agent.client.close().catch(() => {});

    const lines = await auditLines(join(cwd, "audit.log"));
    const calls = lines.filter((line) => line.event === "toolcall");
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      status: "forwarded",
      tool_name: "calendar.hang",
      session_id: auditSessionId(liveId),
      model_id: "gpt-4o",
      upstream_ms: null,
      payload: { n: 1 },
    });
    expect(calls[0].reason).toMatch(/forwarded to upstream "calendar"/);
    expect(JSON.stringify(lines)).not.toContain(liveId);

    const verified = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...FLAGS, MAIN, "verify-log", "audit.log"],
      cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
    expect(new TextDecoder().decode(verified.stdout)).toContain(`OK: ${lines.length} lines`);
    expect(verified.code).toBe(0);
  } finally {
    if (gw) {
      try {
        gw.child.kill("SIGKILL");
      } catch { /* already gone */ }
      await gw.child.status;
    }
    await upstream.close();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a forwarded call's lines pair by event_id: `forwarded` first, then the outcome with upstream_ms", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "mcpsec-wal-" });
  const upstream = startFixtureHttpServer({ jsonResponse: true, noGetStream: true });
  const gw = await (async () => {
    await Deno.writeTextFile(join(cwd, "policies.yaml"), policy(upstream.url));
    await Deno.mkdir(join(cwd, "schemas"));
    return await serveGateway(cwd, {
      ADMIN_TOKEN: ADMIN,
      AUDIT_LOG_PATH: "audit.log",
      PINS_PATH: "pins.json",
    });
  })();
  try {
    const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
    const result = await agent.client.callTool({
      name: "calendar.echo",
      arguments: { text: "hi" },
    });
    expect(result.structuredContent).toEqual({ text: "hi" });
    // The decision API's execution of an upstream tool is written ahead the same way.
    const api = await fetch(gw.url + "/mcp/toolcall", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model_id: "gpt-4o",
        session_id: "s-api",
        tool_name: "calendar.echo",
        input: { text: "api" },
      }),
    });
    const answered = await api.json();
    expect(api.status).toBe(200);
    await agent.close();
    gw.child.kill("SIGTERM");
    expect((await gw.child.status).code).toBe(0);
    await gw.drained;

    const calls = (await auditLines(join(cwd, "audit.log"))).filter((l) => l.event === "toolcall");
    const proxied = calls[0].event_id;
    expect(calls.map((l) => [l.event_id, l.status, typeof l.upstream_ms])).toEqual([
      [proxied, "forwarded", "object"],
      [proxied, "allowed", "number"],
      [answered.event_id, "forwarded", "object"],
      [answered.event_id, "allowed", "number"],
    ]);
  } finally {
    try {
      gw.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await gw.child.status;
    await upstream.close();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("with the audit failing, a proxied call is not forwarded: the upstream sees no tools/call", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "mcpsec-wal-" });
  const upstream = startFixtureHttpServer({ jsonResponse: true, noGetStream: true });
  const logDir = join(cwd, "logs");
  await Deno.writeTextFile(join(cwd, "policies.yaml"), policy(upstream.url));
  await Deno.mkdir(join(cwd, "schemas"));
  const gw = await serveGateway(cwd, {
    ADMIN_TOKEN: ADMIN,
    AUDIT_LOG_PATH: join(logDir, "audit.log"),
    PINS_PATH: "pins.json",
  });
  try {
    const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
    // Learn the catalog first (pins are audited), and let every line so far reach the file, so
    // the sink is healthy and has nothing queued when its directory disappears.
    const listed = await agent.client.listTools();
    const pins = listed.tools.length;
    await eventually(
      async () =>
        (await auditLines(join(logDir, "audit.log"))).filter((l) => l.event === "pin_change")
          .length === pins,
      "the pin lines to be written",
    );
    await Deno.remove(logDir, { recursive: true }); // the gateway does not re-create it

    const result = await agent.client.callTool({ name: "calendar.echo", arguments: { text: "x" } });
    expect(result.isError).toBe(true);
    const decision = (result._meta as Record<string, { reason_code: string }>)[
      "mcp-sec-gateway/decision"
    ];
    expect(decision.reason_code).toBe("audit_unavailable");
    expect(upstream.stats.requests.filter((r) => r.rpcMethod === "tools/call")).toEqual([]);

    // The decision API's execution path refuses the same way: 503, nothing forwarded.
    const api = await fetch(gw.url + "/mcp/toolcall", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model_id: "gpt-4o",
        session_id: "s-api",
        tool_name: "calendar.echo",
        input: { text: "api" },
      }),
    });
    expect(api.status).toBe(503);
    expect((await api.json()).reason_code).toBe("audit_unavailable");
    expect(upstream.stats.requests.filter((r) => r.rpcMethod === "tools/call")).toEqual([]);
    await agent.client.close().catch(() => {});
  } finally {
    gw.child.kill("SIGKILL");
    await gw.child.status;
    await gw.drained;
    await upstream.close();
    await Deno.remove(cwd, { recursive: true });
  }
});
