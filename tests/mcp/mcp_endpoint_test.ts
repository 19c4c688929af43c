/** `/mcp` transport rules over real HTTP (§5.1): guards, sessions, versions, JSON-RPC errors. */
import { expect } from "expect";
import { hashKey } from "../../src/identity/identify.ts";
import { startTestGateway } from "../harness.ts";
import { rawPost } from "./raw_http.ts";

const POLICY = `
defaults:
  timezone: UTC
rules:
  - model: "*"
    allow_tools: ["*"]
`;

const ACCEPT = "application/json, text/event-stream";

function initialize(version = "2025-11-25") {
  return {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: version,
      capabilities: {},
      clientInfo: { name: "raw", version: "1" },
    },
  };
}

async function rpc(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  method = "POST",
) {
  const response = await fetch(url + "/mcp", {
    method,
    headers: { "content-type": "application/json", accept: ACCEPT, ...headers },
    body: method === "POST" ? (typeof body === "string" ? body : JSON.stringify(body)) : undefined,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: text ? JSON.parse(text) : null,
  };
}

Deno.test("initialize issues a random session id; later requests need it and the version", async () => {
  const gw = await startTestGateway({ policy: POLICY });
  try {
    const init = await rpc(gw.url, initialize(), { "x-model-id": "gpt-4o" });
    expect(init.status).toBe(200);
    expect(init.json.result.protocolVersion).toBe("2025-11-25");
    expect(init.json.result.capabilities.tools).toBeDefined();
    const sid = init.headers.get("mcp-session-id")!;
    expect(sid).toMatch(/^[0-9a-f]{64}$/);
    expect(init.headers.get("content-type")).toBe("application/json");
    expect(init.headers.get("x-content-type-options")).toBe("nosniff");
    expect(init.headers.get("x-frame-options")).toBe("DENY");
    const again = await rpc(gw.url, initialize(), { "x-model-id": "gpt-4o" });
    expect(again.headers.get("mcp-session-id")).not.toBe(sid);

    const session = { "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
    expect(
      (await rpc(gw.url, { jsonrpc: "2.0", method: "notifications/initialized" }, session))
        .status,
    ).toBe(202);
    const ping = await rpc(gw.url, { jsonrpc: "2.0", id: 2, method: "ping" }, session);
    expect(ping.json).toEqual({ jsonrpc: "2.0", id: 2, result: {} });
    const list = await rpc(gw.url, { jsonrpc: "2.0", id: 3, method: "tools/list" }, session);
    expect(list.json.result.tools).toEqual([]);

    const missing = await rpc(gw.url, { jsonrpc: "2.0", id: 4, method: "ping" });
    expect(missing.status).toBe(400);
    expect(missing.json.id).toBeNull();
    const unknown = await rpc(gw.url, { jsonrpc: "2.0", id: 5, method: "ping" }, {
      ...session,
      "mcp-session-id": "f".repeat(64),
    });
    expect(unknown.status).toBe(404);
    const noVersion = await rpc(gw.url, { jsonrpc: "2.0", id: 6, method: "ping" }, {
      "mcp-session-id": sid,
    });
    // read as 2025-03-26, a supported version (the conformance suite mixes versions this way)
    expect(noVersion.status).toBe(200);
    const badVersion = await rpc(gw.url, { jsonrpc: "2.0", id: 7, method: "ping" }, {
      ...session,
      "mcp-protocol-version": "2024-11-05",
    });
    expect(badVersion.status).toBe(400);
    expect(badVersion.json.error.message).toContain("unsupported MCP-Protocol-Version");
    const otherModel = await rpc(gw.url, { jsonrpc: "2.0", id: 8, method: "ping" }, {
      ...session,
      "x-model-id": "claude-3",
    });
    expect(otherModel.status).toBe(403);
    const method = await rpc(gw.url, { jsonrpc: "2.0", id: 9, method: "nope/nope" }, session);
    expect(method.json.error.code).toBe(-32601);

    const ended = await rpc(gw.url, null, session, "DELETE");
    expect(ended.status).toBe(200);
    expect((await rpc(gw.url, { jsonrpc: "2.0", id: 10, method: "ping" }, session)).status).toBe(
      404,
    );
    const events = await gw.logs("&event=mcp_session");
    expect(events.map((e) => e.reason)).toEqual([
      "session started",
      "session started",
      "session ended by the client",
    ]);
    expect(events[0].session_id).toMatch(/^mcp-[0-9a-f]{16}$/);
    expect(JSON.stringify(await gw.logs())).not.toContain(sid);
  } finally {
    await gw.close();
  }
});

Deno.test("older clients negotiate 2025-06-18 / 2025-03-26; unknown versions get the newest", async () => {
  const gw = await startTestGateway({ policy: POLICY });
  try {
    for (const version of ["2025-06-18", "2025-03-26"]) {
      const init = await rpc(gw.url, initialize(version), { "x-model-id": "m" });
      expect(init.json.result.protocolVersion).toBe(version);
    }
    const old = await rpc(gw.url, initialize("2025-03-26"), { "x-model-id": "m" });
    // a 2025-03-26 client may omit MCP-Protocol-Version
    const ping = await rpc(gw.url, { jsonrpc: "2.0", id: 2, method: "ping" }, {
      "mcp-session-id": old.headers.get("mcp-session-id")!,
    });
    expect(ping.status).toBe(200);
    const future = await rpc(gw.url, initialize("2099-01-01"), { "x-model-id": "m" });
    expect(future.json.result.protocolVersion).toBe("2025-11-25");
  } finally {
    await gw.close();
  }
});

Deno.test("Host and Origin are checked against DNS rebinding; bad messages get JSON-RPC errors", async () => {
  const gw = await startTestGateway({
    policy: POLICY,
    env: { ALLOWED_ORIGINS: "https://app.example" },
  });
  try {
    const evilHost = await rawPost(gw.url, "/mcp", {
      host: "evil.example:8080",
      "content-type": "application/json",
      accept: ACCEPT,
      "x-model-id": "m",
    }, JSON.stringify(initialize()));
    expect(evilHost.status).toBe(403);
    expect(evilHost.text).toContain('"jsonrpc":"2.0"');
    const goodHost = await rawPost(gw.url, "/mcp", {
      host: "localhost:8080",
      "content-type": "application/json",
      accept: ACCEPT,
      "x-model-id": "m",
    }, JSON.stringify(initialize()));
    expect(goodHost.status).toBe(200);
    const evilOrigin = await rpc(gw.url, initialize(), {
      origin: "http://evil.example",
      "x-model-id": "m",
    });
    expect(evilOrigin.status).toBe(403);
    const listed = await rpc(gw.url, initialize(), {
      origin: "https://app.example",
      "x-model-id": "m",
    });
    expect(listed.status).toBe(200);
    const local = await rpc(gw.url, initialize(), {
      origin: "http://localhost:5173",
      "x-model-id": "m",
    });
    expect(local.status).toBe(200);

    const batch = await rpc(gw.url, [initialize()]);
    expect([batch.status, batch.json.error.code]).toEqual([400, -32600]);
    const garbage = await rpc(gw.url, "{nope");
    expect([garbage.status, garbage.json.error.code]).toEqual([400, -32700]);
    const notRpc = await rpc(gw.url, { hello: 1 });
    expect(notRpc.json.error.code).toBe(-32600);
    const accept = await fetch(gw.url + "/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(initialize()),
    });
    expect(accept.status).toBe(406);
    await accept.body?.cancel();
    const get = await rpc(gw.url, null, {}, "GET");
    expect(get.status).toBe(400); // a GET stream belongs to a session
    const put = await rpc(gw.url, null, {}, "PUT");
    expect(put.status).toBe(405);
    const noModel = await rpc(gw.url, {
      ...initialize(),
      params: { protocolVersion: "2025-11-25", capabilities: {} },
    });
    expect(noModel.status).toBe(400);
  } finally {
    await gw.close();
  }
});

Deno.test("agents mode on /mcp: keys, model binding, and sessions owned by their agent", async () => {
  const policy = `
agents:
  - id: a
    key_sha256: "${hashKey("agent-a-key-0123456789")}"
    models: ["gpt-4o", "gpt-4*"]
  - id: b
    key_sha256: "${hashKey("agent-b-key-0123456789")}"
    models: ["claude-*"]
${POLICY}`;
  const gw = await startTestGateway({ policy });
  try {
    const a = { authorization: "Bearer agent-a-key-0123456789" };
    const b = { authorization: "Bearer agent-b-key-0123456789" };
    const none = await rpc(gw.url, initialize());
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    const forbidden = await rpc(gw.url, initialize(), { ...a, "x-model-id": "claude-3" });
    expect(forbidden.status).toBe(403);
    const globsOnly = await rpc(gw.url, initialize(), b);
    expect(globsOnly.status).toBe(400);
    const init = await rpc(gw.url, initialize(), a);
    expect(init.status).toBe(200);
    const sid = init.headers.get("mcp-session-id")!;
    const session = { "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
    expect(
      (await rpc(gw.url, { jsonrpc: "2.0", id: 2, method: "ping" }, { ...session, ...a }))
        .status,
    ).toBe(200);
    const stolen = await rpc(gw.url, { jsonrpc: "2.0", id: 3, method: "ping" }, {
      ...session,
      ...b,
    });
    expect(stolen.status).toBe(404);
    const anonymous = await rpc(gw.url, { jsonrpc: "2.0", id: 4, method: "ping" }, session);
    expect(anonymous.status).toBe(401);
    const [started] = await gw.logs("&event=mcp_session");
    expect(started).toMatchObject({ agent_id: "a", model_id: "gpt-4o" });
    const failures = await gw.logs("&event=auth_failure");
    expect(failures.map((e) => e.reason_code)).toEqual([
      "unauthenticated",
      "forbidden_model",
      "unauthenticated",
    ]);
  } finally {
    await gw.close();
  }
});
