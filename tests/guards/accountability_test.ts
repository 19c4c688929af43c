/**
 * §12 over real HTTP, as an attacker holding an agent key would try it: limits keyed on the
 * accountable agent (renaming the model, opening new sessions), revocation by reload (the open
 * session, its GET stream, its upstream sessions, the decision API's upstream session), and
 * per-agent quotas on sessions (one agent never ends another's).
 */
import { expect } from "expect";
import { hashKey } from "../../src/identity/identify.ts";
import { type FixtureHttpServer, startFixtureHttpServer } from "../fixtures/http_server.ts";
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from "../harness.ts";

const KEY_A = "agent-a-key-0123456789";
const KEY_A2 = "agent-a-new-key-0123456789";
const KEY_B = "agent-b-key-0123456789";
const ACCEPT = "application/json, text/event-stream";

function policy(upstreamUrl: string, options: { agents?: string; rule?: string } = {}): string {
  const agents = options.agents ?? agentsYaml({ a: ["claude-*"], b: ["claude-*"] });
  return `
defaults:
  timezone: UTC
${agents}
rules:
  - model: "claude-*"
    allow_tools: ["cal.*", "local.*"]
${options.rule ?? ""}
upstreams:
  cal:
    url: "${upstreamUrl}"
`;
}

function agentsYaml(
  models: Record<string, string[]>,
  keys: Record<string, string> = { a: KEY_A, b: KEY_B },
): string {
  return "agents:\n" +
    Object.entries(models).map(([id, list]) =>
      `  - id: ${id}\n    key_sha256: "${hashKey(keys[id])}"\n    models: ${JSON.stringify(list)}\n`
    ).join("");
}

interface RpcAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown> | null;
}

async function rpc(
  gw: TestGateway,
  body: unknown,
  headers: Record<string, string>,
  method = "POST",
): Promise<RpcAnswer> {
  const response = await fetch(gw.url + "/mcp", {
    method,
    headers: { "content-type": "application/json", accept: ACCEPT, ...headers },
    body: method === "POST" ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let json: Record<string, unknown> | null = null;
  if (text) {
    // An SSE answer carries the JSON-RPC message in its last data line.
    json = (response.headers.get("content-type") ?? "").includes("text/event-stream")
      ? JSON.parse(text.split("\n").filter((l) => l.startsWith("data: {")).at(-1)!.slice(6))
      : JSON.parse(text);
  }
  return { status: response.status, headers: response.headers, json };
}

/** A raw MCP session: initialize + initialized, then requests with its headers. */
async function openSession(gw: TestGateway, key: string, model: string) {
  const auth = { authorization: `Bearer ${key}`, "x-model-id": model };
  const init = await rpc(gw, {
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "attacker", version: "1" },
    },
  }, auth);
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}`);
  const headers = {
    ...auth,
    "mcp-session-id": init.headers.get("mcp-session-id")!,
    "mcp-protocol-version": "2025-11-25",
  };
  await rpc(gw, { jsonrpc: "2.0", method: "notifications/initialized" }, headers);
  let id = 1;
  return {
    headers,
    call: (text: string, over: Record<string, string> = {}) =>
      rpc(gw, {
        jsonrpc: "2.0",
        id: id++,
        method: "tools/call",
        params: { name: "cal.echo", arguments: { text } },
      }, { ...headers, ...over }),
    ping: (over: Record<string, string> = {}) =>
      rpc(gw, { jsonrpc: "2.0", id: id++, method: "ping" }, { ...headers, ...over }),
  };
}

function decisionCode(answer: RpcAnswer): string | undefined {
  const result = answer.json?.result as Record<string, unknown> | undefined;
  if (result === undefined) return undefined;
  const meta = result._meta as Record<string, { reason_code: string }> | undefined;
  return meta?.["mcp-sec-gateway/decision"]?.reason_code ?? (result.isError ? "error" : "ok");
}

async function reload(gw: TestGateway, text: string): Promise<void> {
  await Deno.writeTextFile(gw.policyPath, text);
  const response = await fetch(gw.url + "/reload", {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" },
  });
  expect(response.status).toBe(200);
  await response.body?.cancel();
}

/** The upstream session ids that carried a tools/call, in order. */
function callSessions(upstream: FixtureHttpServer): string[] {
  return upstream.stats.requests
    .filter((r) => r.rpcMethod === "tools/call")
    .map((r) => r.headers["mcp-session-id"]);
}

/** Resolves once the upstream received DELETE for every id (bounded: fails after 3 s). */
async function deletedUpstream(upstream: FixtureHttpServer, ids: string[]): Promise<void> {
  const deleted = (stats: FixtureHttpServer["stats"]) =>
    ids.every((id) =>
      stats.requests.some((r) => r.httpMethod === "DELETE" && r.headers["mcp-session-id"] === id)
    );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`upstream sessions not closed: ${ids}`)), 3000);
  });
  try {
    await Promise.race([upstream.waitFor(deleted), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function deletesOf(upstream: FixtureHttpServer, ids: string[]): string[] {
  return upstream.stats.requests
    .filter((r) => r.httpMethod === "DELETE" && ids.includes(r.headers["mcp-session-id"]))
    .map((r) => r.headers["mcp-session-id"]);
}

async function withGateway(
  options: { rule?: string; env?: Record<string, string> },
  run: (gw: TestGateway, upstream: FixtureHttpServer) => Promise<void>,
): Promise<void> {
  const upstream = startFixtureHttpServer({ jsonResponse: true, noGetStream: true });
  const gw = await startTestGateway({
    policy: policy(upstream.url, { rule: options.rule }),
    env: options.env,
  });
  try {
    await run(gw, upstream);
  } finally {
    await gw.close();
    await upstream.close();
  }
}

const PER_MODEL_3 = `    rate_limit:\n      per_model: "3/minute"\n`;

Deno.test("renaming the model does not escape per_model: claude-v1..v4 under 3/minute, the 4th is 429", async () => {
  await withGateway({ rule: PER_MODEL_3 }, async (gw) => {
    const auth = { authorization: `Bearer ${KEY_A}` };
    const answers: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const answer = await gw.post("/mcp/toolcall", {
        model_id: `claude-v${i}`,
        session_id: `s${i}`,
        tool_name: "local.tool",
        input: {},
      }, auth);
      answers.push(answer.status);
      if (i === 4) {
        expect(answer.json.reason_code).toBe("rate_limited");
        expect(answer.json.reason).toContain('counted for agent "a" under rule "claude-*"');
        expect(answer.headers.get("retry-after")).not.toBeNull();
      }
    }
    expect(answers).toEqual([200, 200, 200, 429]);
    // Another agent under the same rule has its own quota.
    const other = await gw.post("/mcp/toolcall", {
      model_id: "claude-v9",
      session_id: "s1",
      tool_name: "local.tool",
      input: {},
    }, { authorization: `Bearer ${KEY_B}` });
    expect(other.status).toBe(200);
  });
});

Deno.test("new MCP sessions with new model names do not reset per_model (and it spans both doors)", async () => {
  await withGateway({ rule: PER_MODEL_3 }, async (gw) => {
    const codes: (string | undefined)[] = [];
    for (let i = 1; i <= 3; i++) {
      const session = await openSession(gw, KEY_A, `claude-v${i}`);
      codes.push(decisionCode(await session.call(`call ${i}`)));
    }
    const fourth = await openSession(gw, KEY_A, "claude-v4");
    codes.push(decisionCode(await fourth.call("call 4")));
    expect(codes).toEqual(["ok", "ok", "ok", "rate_limited"]);
    // The decision API door counts against the same (agent, rule) quota.
    const api = await gw.post("/mcp/toolcall", {
      model_id: "claude-v5",
      session_id: "fresh",
      tool_name: "local.tool",
      input: {},
    }, { authorization: `Bearer ${KEY_A}` });
    expect(api.status).toBe(429);
    const b = await openSession(gw, KEY_B, "claude-v1");
    expect(decisionCode(await b.call("b"))).toBe("ok");
  });
});

Deno.test("a reload removing the agent: its open session gets 403 (audited), its stream and upstream session close", async () => {
  await withGateway({}, async (gw, upstream) => {
    const victim = await openSession(gw, KEY_A, "claude-v1");
    const bystander = await openSession(gw, KEY_B, "claude-v1");
    expect(decisionCode(await victim.call("before"))).toBe("ok");
    expect(decisionCode(await bystander.call("before"))).toBe("ok");
    const [victimUpstream, bystanderUpstream] = callSessions(upstream);
    // The revoked agent holds a GET stream open, waiting for notifications.
    const stream = await fetch(gw.url + "/mcp", {
      headers: { ...victim.headers, accept: "text/event-stream" },
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    await reader.read(); // priming event

    await reload(gw, policy(upstream.url, { agents: agentsYaml({ b: ["claude-*"] }) }));

    // At once: the stream ends and the upstream session is closed, before any new request.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
        return true;
      })(),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), 2000)),
    ]);
    clearTimeout(timer);
    if (!ended) await reader.cancel(); // the old code kept it open: do not hang the test
    expect(ended).toBe(true);
    await deletedUpstream(upstream, [victimUpstream]);

    const refused = await victim.call("after");
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: {
        code: -32000,
        message: 'session revoked: agent "a" was removed from the policy; initialize again',
      },
    });
    // The key is gone and so is the session: unauthenticated from now on.
    expect((await victim.call("again")).status).toBe(401);
    const failures = await gw.logs("&event=auth_failure");
    expect(failures.map((e) => [e.agent_id, e.reason_code, e.reason])).toContainEqual([
      "a",
      "forbidden_model",
      'session revoked: agent "a" was removed from the policy',
    ]);
    const ends = await gw.logs("&event=mcp_session");
    expect(ends.map((e) => e.reason)).toContain(
      'session revoked by a policy reload: agent "a" was removed from the policy',
    );
    // The other agent is untouched.
    expect(decisionCode(await bystander.call("after"))).toBe("ok");
    expect(deletesOf(upstream, [bystanderUpstream])).toEqual([]);
  });
});

Deno.test("a reload narrowing the agent's models revokes sessions of that model only; then 404", async () => {
  await withGateway({}, async (gw, upstream) => {
    const v1 = await openSession(gw, KEY_A, "claude-v1");
    const v2 = await openSession(gw, KEY_A, "claude-v2");
    expect(decisionCode(await v1.call("x"))).toBe("ok");
    expect(decisionCode(await v2.call("x"))).toBe("ok");
    const [v1Upstream] = callSessions(upstream);
    await reload(
      gw,
      policy(upstream.url, { agents: agentsYaml({ a: ["claude-v2"], b: ["claude-*"] }) }),
    );
    const refused = await v1.call("y");
    expect(refused.status).toBe(403);
    expect((refused.json?.error as { message: string }).message).toContain(
      'agent "a" may no longer act as model "claude-v1"',
    );
    await deletedUpstream(upstream, [v1Upstream]);
    expect((await v1.ping()).status).toBe(404);
    expect(decisionCode(await v2.call("y"))).toBe("ok");
    const failures = await gw.logs("&event=auth_failure");
    expect(failures.some((e) => String(e.reason).includes("may no longer act as model"))).toBe(
      true,
    );
  });
});

Deno.test("a reload changing the agent's key revokes its sessions, whichever key comes back", async () => {
  await withGateway({}, async (gw, upstream) => {
    const old1 = await openSession(gw, KEY_A, "claude-v1");
    const old2 = await openSession(gw, KEY_A, "claude-v1");
    expect((await old1.ping()).status).toBe(200);
    await reload(
      gw,
      policy(upstream.url, {
        agents: agentsYaml({ a: ["claude-*"], b: ["claude-*"] }, { a: KEY_A2, b: KEY_B }),
      }),
    );
    const withOldKey = await old1.ping();
    expect(withOldKey.status).toBe(403);
    expect((withOldKey.json?.error as { message: string }).message).toContain(
      'the key of agent "a" was changed',
    );
    expect((await old1.ping()).status).toBe(401);
    // The new key on a session opened with the old one: the session is not carried over.
    const withNewKey = await old2.ping({ authorization: `Bearer ${KEY_A2}` });
    expect(withNewKey.status).toBe(403);
    expect((await old2.ping({ authorization: `Bearer ${KEY_A2}` })).status).toBe(404);
    const fresh = await openSession(gw, KEY_A2, "claude-v1");
    expect((await fresh.ping()).status).toBe(200);
  });
});

Deno.test("decision API: a reload removing the agent refuses its key and closes its upstream API session", async () => {
  await withGateway({}, async (gw, upstream) => {
    const auth = { authorization: `Bearer ${KEY_A}` };
    const call = { model_id: "claude-v1", session_id: "s1", tool_name: "cal.echo" };
    const first = await gw.post("/mcp/toolcall", { ...call, input: { text: "hi" } }, auth);
    expect(first.status).toBe(200);
    const byB = await gw.post(
      "/mcp/toolcall",
      { ...call, input: { text: "b" } },
      { authorization: `Bearer ${KEY_B}` },
    );
    expect(byB.status).toBe(200);
    const [apiUpstream, bUpstream] = callSessions(upstream);
    expect(apiUpstream).not.toBe(bUpstream); // same session_id, two agents: two sessions
    await reload(gw, policy(upstream.url, { agents: agentsYaml({ b: ["claude-*"] }) }));
    await deletedUpstream(upstream, [apiUpstream]);
    const after = await gw.post("/mcp/toolcall", { ...call, input: { text: "x" } }, auth);
    expect(after.status).toBe(401);
    expect(after.json.reason_code).toBe("unauthenticated");
    expect(deletesOf(upstream, [bUpstream])).toEqual([]);
  });
});

Deno.test("agent A opening MAX_SESSIONS_PER_AGENT + 2 sessions ends its own oldest, never B's", async () => {
  await withGateway({ env: { MAX_SESSIONS_PER_AGENT: "3" } }, async (gw, upstream) => {
    const b = await openSession(gw, KEY_B, "claude-v1");
    expect(decisionCode(await b.call("b"))).toBe("ok");
    const a: Awaited<ReturnType<typeof openSession>>[] = [];
    for (let i = 0; i < 3; i++) {
      a.push(await openSession(gw, KEY_A, "claude-v1"));
      expect(decisionCode(await a[i].call(`a${i}`))).toBe("ok");
    }
    const [bUpstream, ...aUpstreams] = callSessions(upstream);
    await a[2].ping(); // a[0] and a[1] are A's least recently used
    for (let i = 0; i < 2; i++) a.push(await openSession(gw, KEY_A, "claude-v1"));
    // A's two oldest idle sessions were ended: 404, their upstream sessions closed.
    expect((await a[0].ping()).status).toBe(404);
    expect((await a[1].ping()).status).toBe(404);
    await deletedUpstream(upstream, aUpstreams.slice(0, 2));
    for (const live of a.slice(2)) expect((await live.ping()).status).toBe(200);
    // B's session lives on, upstream session included.
    expect(decisionCode(await b.call("b again"))).toBe("ok");
    expect(deletesOf(upstream, [bUpstream])).toEqual([]);
    const ends = (await gw.logs("&event=mcp_session")).filter((e) =>
      String(e.reason).startsWith("session ended to make room")
    );
    expect(ends.map((e) => e.agent_id)).toEqual(["a", "a"]);
    // Hammering on: A never holds more than 3, B keeps its one.
    for (let i = 0; i < 10; i++) await openSession(gw, KEY_A, "claude-v1");
    let alive = 0;
    for (const session of a) if ((await session.ping()).status === 200) alive++;
    expect(alive).toBe(0);
    expect((await b.ping()).status).toBe(200);
  });
});

Deno.test("decision API sessions are bounded per agent: past the cap A's oldest upstream session closes", async () => {
  await withGateway({ env: { MAX_SESSIONS_PER_AGENT: "3" } }, async (gw, upstream) => {
    const call = (key: string, session: string) =>
      gw.post("/mcp/toolcall", {
        model_id: "claude-v1",
        session_id: session,
        tool_name: "cal.echo",
        input: { text: session },
      }, { authorization: `Bearer ${key}` });
    expect((await call(KEY_B, "b1")).status).toBe(200);
    for (let i = 1; i <= 5; i++) expect((await call(KEY_A, `a${i}`)).status).toBe(200);
    const [bUpstream, ...aUpstreams] = callSessions(upstream);
    expect(aUpstreams.length).toBe(5);
    await deletedUpstream(upstream, aUpstreams.slice(0, 2));
    expect(deletesOf(upstream, aUpstreams.slice(2))).toEqual([]);
    expect(deletesOf(upstream, [bUpstream])).toEqual([]);
  });
});
