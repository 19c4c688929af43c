/**
 * Resources, prompts and completions under the policy (§12 "Policy on every method…"), resource
 * ownership (no shadowing by a second upstream) and bounded subscriptions — attacked through a
 * real gateway on loopback with the official SDK client, a real upstream built on the SDK's
 * server classes, and a hostile second upstream that lists the first one's URIs.
 */
import { join } from "node:path";
import { expect } from "expect";
// @ts-types="@modelcontextprotocol/sdk/client/index.d.ts"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp.d.ts"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { openAuditSink } from "../../src/audit/sink/sink.ts";
import { silentLogger } from "../../src/log.ts";
import { upstreamClientFactory } from "../../src/mcp/upstream/clients.ts";
import { endSession } from "../../src/mcp/server/endpoint.ts";
import type { Federation } from "../../src/mcp/federation/federation.ts";
import { createRelay } from "../../src/mcp/relay/relay.ts";
import { createSessionStore, type McpSession } from "../../src/mcp/server/session/sessions.ts";
import { parsePolicy } from "../../src/policy/parse/parse.ts";
import { buildSchemaRegistry } from "../../src/schema/registry.ts";
import { startConformanceServer } from "../fixtures/conformance_server.ts";
import { startShadowServer } from "../fixtures/shadow_resources_server.ts";
import { eventually, startTestGateway, type TestGateway } from "../harness.ts";

async function connect(url: string, model: string) {
  const client = new Client({ name: "resource-agent", version: "1.0.0" }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url + "/mcp"), {
    requestInit: { headers: { "x-model-id": model } },
  });
  await client.connect(transport);
  return {
    client,
    transport,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

/** The JSON-RPC error a request failed with (fails the test when it succeeded). */
async function rpcFailure(
  pending: Promise<unknown>,
): Promise<{ code: number; message: string; data: Record<string, unknown> }> {
  try {
    await pending;
  } catch (error) {
    const { code, message, data } = error as { code: number; message: string; data?: unknown };
    return { code, message, data: (data ?? {}) as Record<string, unknown> };
  }
  throw new Error("expected the request to be refused");
}

const uris = (list: { resources: { uri: string }[] }) => list.resources.map((r) => r.uri).sort();
const templates = (list: { resourceTemplates: { uriTemplate: string }[] }) =>
  list.resourceTemplates.map((t) => t.uriTemplate).sort();

async function auditOf(gw: TestGateway, event: string) {
  return (await gw.logs(`&event=${event}`)).map((e) => ({
    status: e.status,
    reason_code: e.reason_code,
  }));
}

Deno.test("zero trust: a model with no allow_resources sees no resource and reads, subscribes or completes none", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({
    policy: `
defaults: { timezone: UTC }
rules:
  - model: "reader"
    allow_tools: ["*"]
    allow_prompts: ["*"]
    allow_resources: ["test://*"]
    deny_resources: ["test://static-binary"]
  - model: "*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
upstreams:
  conformance:
    url: "${upstream.url}"
    prefix: "conf"
`,
  });
  const nobody = await connect(gw.url, "gpt-4o");
  const reader = await connect(gw.url, "reader");
  try {
    // the model with every tool and prompt but no allow_resources
    expect(uris(await nobody.client.listResources())).toEqual([]);
    expect(templates(await nobody.client.listResourceTemplates())).toEqual([]);
    const existing = await rpcFailure(nobody.client.readResource({ uri: "test://static-text" }));
    const missing = await rpcFailure(nobody.client.readResource({ uri: "test://no-such-thing" }));
    expect(existing.code).toBe(-32002);
    expect(existing.data.reason_code).toBe("resource_not_allowed");
    // the refusal is the same whether the resource exists or not
    expect([missing.code, missing.data.reason_code]).toEqual([
      existing.code,
      "resource_not_allowed",
    ]);
    expect(existing.message.replace("static-text", "X")).toBe(
      missing.message.replace("no-such-thing", "X"),
    );
    const subscribe = await rpcFailure(
      nobody.client.subscribeResource({ uri: "test://watched-resource" }),
    );
    expect([subscribe.code, subscribe.data.reason_code]).toEqual([-32002, "resource_not_allowed"]);
    const completion = await rpcFailure(nobody.client.complete({
      ref: { type: "ref/resource", uri: "test://template/{id}/data" },
      argument: { name: "id", value: "" },
    }));
    expect(completion.data.reason_code).toBe("resource_not_allowed");
    // the reader: allow_resources with a deny that wins
    expect(uris(await reader.client.listResources())).toEqual([
      "test://static-text",
      "test://watched-resource",
    ]);
    expect(templates(await reader.client.listResourceTemplates())).toEqual([
      "test://template/{id}/data",
    ]);
    const text = await reader.client.readResource({ uri: "test://static-text" });
    expect((text.contents[0] as { text: string }).text).toContain("static text resource");
    const denied = await rpcFailure(reader.client.readResource({ uri: "test://static-binary" }));
    expect([denied.code, denied.data.reason_code]).toEqual([-32002, "resource_denied"]);
    // an unlisted URI is routed by the one upstream template it matches
    const templated = await reader.client.readResource({ uri: "test://template/42/data" });
    expect((templated.contents[0] as { text: string }).text).toContain("Data for ID: 42");
    const reads = await auditOf(gw, "resource_read");
    expect(reads).toEqual(expect.arrayContaining([
      { status: "blocked", reason_code: "resource_not_allowed" },
      { status: "blocked", reason_code: "resource_denied" },
      { status: "allowed", reason_code: "ok" },
    ]));
    expect(reads.filter((r) => r.status === "allowed").length).toBe(2);
  } finally {
    await nobody.close();
    await reader.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("a caller whose rule allows no resource sends nothing upstream", async () => {
  const upstream = startShadowServer({ resources: ["memo://notes"], templates: ["memo://{id}"] });
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
upstreams:
  memo:
    url: "${upstream.url}"
`,
  });
  const agent = await connect(gw.url, "gpt-4o");
  try {
    const { client } = agent;
    expect(uris(await client.listResources())).toEqual([]);
    expect(templates(await client.listResourceTemplates())).toEqual([]);
    expect((await rpcFailure(client.readResource({ uri: "memo://notes" }))).code).toBe(-32002);
    expect((await rpcFailure(client.subscribeResource({ uri: "memo://7" }))).code).toBe(-32002);
    expect([upstream.lists(), upstream.received]).toEqual([0, []]);
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("outside active hours no prompt, resource or completion is listed or relayed", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({
    policy: `
defaults: { timezone: UTC }
rules:
  - model: "*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
    allow_resources: ["*"]
    active_hours: "08:00-09:00"
upstreams:
  conformance:
    url: "${upstream.url}"
    prefix: "conf"
`,
  });
  // the harness clock stands at 10:00 UTC: outside 08:00-09:00
  const agent = await connect(gw.url, "gpt-4o");
  try {
    const { client } = agent;
    expect((await client.listPrompts()).prompts).toEqual([]);
    expect(uris(await client.listResources())).toEqual([]);
    expect(templates(await client.listResourceTemplates())).toEqual([]);
    const read = await rpcFailure(client.readResource({ uri: "test://static-text" }));
    expect(read.data.reason_code).toBe("outside_active_hours");
    const subscribed = await rpcFailure(
      client.subscribeResource({ uri: "test://watched-resource" }),
    );
    expect(subscribed.data.reason_code).toBe("outside_active_hours");
    const prompt = await rpcFailure(client.complete({
      ref: { type: "ref/prompt", name: "conf.test_prompt_with_arguments" },
      argument: { name: "arg1", value: "" },
    }));
    expect(prompt.data.reason_code).toBe("outside_active_hours");
    const resource = await rpcFailure(client.complete({
      ref: { type: "ref/resource", uri: "test://template/{id}/data" },
      argument: { name: "id", value: "" },
    }));
    expect(resource.data.reason_code).toBe("outside_active_hours");
    // back inside the hours, the same session sees and reads them
    gw.clock.set(Date.parse("2026-11-25T08:30:00Z"));
    expect(uris(await client.listResources())).toContain("test://static-text");
    expect((await client.readResource({ uri: "test://static-text" })).contents.length).toBe(1);
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("audit failing: relayed requests get audit_unavailable and never reach the upstream", async () => {
  const upstream = startShadowServer({ resources: ["memo://notes"], text: "notes" });
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
    allow_resources: ["*"]
upstreams:
  memo:
    url: "${upstream.url}"
`,
  });
  const agent = await connect(gw.url, "gpt-4o");
  try {
    const { client } = agent;
    expect(uris(await client.listResources())).toEqual(["memo://notes"]);
    expect((await client.readResource({ uri: "memo://notes" })).contents.length).toBe(1);
    const auditDir = join(gw.dir, "audit");
    // a file where the audit directory was: every write now fails, even as root
    await Deno.remove(auditDir, { recursive: true });
    await Deno.writeTextFile(auditDir, "");
    await client.ping();
    await gw.post("/mcp/toolcall", { model_id: "m", session_id: "s", tool_name: "x.y" });
    await eventually(
      async () =>
        (await (await fetch(gw.url + "/healthz", {
          headers: { authorization: `Bearer ${gw.adminToken}` },
        })).json()).status === "degraded",
      "/healthz to turn degraded",
    );
    const before = upstream.received.length;
    const requests: [string, () => Promise<unknown>][] = [
      ["read", () => client.readResource({ uri: "memo://notes" })],
      ["subscribe", () => client.subscribeResource({ uri: "memo://notes" })],
      ["resources/list", () => client.listResources()],
      ["templates/list", () => client.listResourceTemplates()],
      ["prompts/list", () => client.listPrompts()],
      ["logging/setLevel", () => client.setLoggingLevel("debug")],
      ["complete", () =>
        client.complete({
          ref: { type: "ref/resource", uri: "memo://notes" },
          argument: { name: "x", value: "" },
        })],
    ];
    for (const [what, send] of requests) {
      expect([what, (await rpcFailure(send())).data.reason_code]).toEqual([
        what,
        "audit_unavailable",
      ]);
    }
    expect(upstream.received.slice(before)).toEqual([]);
  } finally {
    const auditDir = join(gw.dir, "audit");
    if ((await Deno.stat(auditDir)).isFile) {
      await Deno.remove(auditDir);
      await Deno.mkdir(auditDir);
    }
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("a hostile upstream listing another's URIs shadows nothing: clashes are refused for both", async () => {
  const owner = await startConformanceServer();
  const hostile = startShadowServer({
    resources: ["test://static-text", "evil://own"],
    templates: ["test://template/{id}/data", "evil://{+path}"],
  });
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
    allow_resources: ["*"]
upstreams:
  conformance:
    url: "${owner.url}"
  memory:
    url: "${hostile.url}"
`,
  });
  const first = await connect(gw.url, "gpt-4o");
  try {
    // a read before any list: the gateway learns who lists what first, and refuses the clash
    const early = await rpcFailure(first.client.readResource({ uri: "test://static-text" }));
    expect(early.code).toBe(-32002);
    expect(uris(await first.client.listResources())).toEqual([
      "evil://own",
      "test://static-binary",
      "test://watched-resource",
    ]);
    expect(templates(await first.client.listResourceTemplates())).toEqual(["evil://{+path}"]);
    const clash = await rpcFailure(first.client.readResource({ uri: "test://static-text" }));
    expect(clash.code).toBe(-32002);
    // a URI nobody listed that two upstreams' templates match: refused, not tried in turn
    const ambiguous = await rpcFailure(
      first.client.readResource({ uri: "test://template/5/data" }),
    );
    expect(ambiguous.code).toBe(-32002);
    // a URI nobody listed and no template matches: refused without asking anyone
    expect((await rpcFailure(first.client.readResource({ uri: "test://nowhere" }))).code).toBe(
      -32002,
    );
    // each upstream serves what it alone listed
    const binary = await first.client.readResource({ uri: "test://static-binary" });
    expect(typeof (binary.contents[0] as { blob: string }).blob).toBe("string");
    expect((await first.client.readResource({ uri: "evil://own" })).contents.length).toBe(1);
    expect(
      ((await first.client.readResource({ uri: "evil://deep/path" })).contents[0] as {
        text: string;
      }).text,
    ).toBe("HOSTILE CONTENT");
    await rpcFailure(first.client.subscribeResource({ uri: "test://static-text" }));
    // the hostile upstream never saw a request for a URI it does not own alone
    expect(hostile.received).toEqual(["read evil://own", "read evil://deep/path"]);
    const clashes = await gw.logs("&event=resource_clash");
    expect(clashes.length).toBeGreaterThan(0);
    expect(JSON.stringify(clashes.map((e) => e.payload))).toContain("test://static-text");
    const upstreams = await (await fetch(gw.url + "/upstreams", {
      headers: { authorization: `Bearer ${gw.adminToken}` },
    })).json();
    expect(upstreams.resource_clashes).toEqual([
      { kind: "uri", value: "test://static-text", upstreams: ["conformance", "memory"] },
      {
        kind: "uriTemplate",
        value: "test://template/{id}/data",
        upstreams: ["conformance", "memory"],
      },
    ]);
  } finally {
    await first.close();
    await gw.close();
    await owner.close();
    await hostile.close();
  }
});

Deno.test("completion/complete follows the prompt or resource it refers to", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
    allow_prompts: ["conf.test_prompt_with_arguments"]
    allow_resources: ["test://template/*"]
upstreams:
  conformance:
    url: "${upstream.url}"
    prefix: "conf"
`,
  });
  const agent = await connect(gw.url, "gpt-4o");
  try {
    const { client } = agent;
    const allowedPrompt = await client.complete({
      ref: { type: "ref/prompt", name: "conf.test_prompt_with_arguments" },
      argument: { name: "arg1", value: "pa" },
    });
    expect(allowedPrompt.completion.values).toEqual(["paris", "park", "party"]);
    const deniedPrompt = await rpcFailure(client.complete({
      ref: { type: "ref/prompt", name: "conf.test_prompt_with_embedded_resource" },
      argument: { name: "resourceUri", value: "" },
    }));
    expect(deniedPrompt.data.reason_code).toBe("prompt_not_allowed");
    const allowedResource = await client.complete({
      ref: { type: "ref/resource", uri: "test://template/{id}/data" },
      argument: { name: "id", value: "1" },
    });
    expect(allowedResource.completion.values).toEqual(["123"]);
    const deniedResource = await rpcFailure(client.complete({
      ref: { type: "ref/resource", uri: "test://static-text" },
      argument: { name: "x", value: "" },
    }));
    expect(deniedResource.data.reason_code).toBe("resource_not_allowed");
    expect(await auditOf(gw, "completion")).toEqual([
      { status: "allowed", reason_code: "ok" },
      { status: "blocked", reason_code: "prompt_not_allowed" },
      { status: "allowed", reason_code: "ok" },
      { status: "blocked", reason_code: "resource_not_allowed" },
    ]);
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("subscriptions are capped per session; the session's end frees its slots", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_resources: ["test://*"]
upstreams:
  conformance:
    url: "${upstream.url}"
`,
  });
  const agent = await connect(gw.url, "gpt-4o");
  try {
    const { client } = agent;
    for (let i = 0; i < 100; i++) {
      expect(await client.subscribeResource({ uri: `test://template/${i}/data` })).toEqual({});
    }
    // subscribing again to a URI already held takes no new slot
    expect(await client.subscribeResource({ uri: "test://template/7/data" })).toEqual({});
    const full = await rpcFailure(client.subscribeResource({ uri: "test://watched-resource" }));
    expect(full.code).toBe(-32602);
    expect(full.message).toContain("100 subscriptions");
    expect(await client.unsubscribeResource({ uri: "test://template/0/data" })).toEqual({});
    expect(await client.subscribeResource({ uri: "test://watched-resource" })).toEqual({});
    const stats = await gw.logs("&event=resource_subscribe");
    expect(stats.filter((e) => e.status === "blocked").length).toBe(1);
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("a session's subscriptions are freed when it ends (endSession: DELETE, expiry, revocation, eviction)", async () => {
  const upstream = await startConformanceServer();
  const parsed = parsePolicy(
    `rules:\n  - model: "*"\n    allow_resources: ["test://*"]\n` +
      `upstreams:\n  conformance:\n    url: "${upstream.url}"\n`,
    { env: {} },
  );
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const state = { policy: parsed.policy, schemas: buildSchemaRegistry([]).registry };
  const client = upstreamClientFactory({
    startTimeoutMs: 5000,
    version: "test",
    log: silentLogger(),
  })(
    "conformance",
    parsed.policy.upstreams.conformance,
  );
  const federation = {
    upstreams: () => [{ name: "conformance", prefix: "conformance", client }],
    onNotification: () => () => {},
    closeSession: (key: string) => client.closeSession(key),
  } as unknown as Federation;
  const sessions = createSessionStore({ idleMs: 60_000 });
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-subs-" });
  const audit = await openAuditSink({ path: join(dir, "audit.log") });
  const deps = {
    federation,
    sessions,
    state: () => state,
    audit,
    clock: () => 0,
    newId: () => crypto.randomUUID(),
    upstreamTimeoutMs: 5000,
    log: silentLogger(),
  };
  const relay = createRelay(deps);
  const open = (): McpSession => {
    const created = sessions.create({
      agentId: null,
      modelId: "gpt-4o",
      protocolVersion: "2025-11-25",
      clientCapabilities: {},
      clientInfo: { name: "t", version: "1" },
      keySha256: null,
      policyVersion: parsed.policy.version,
    } as never, 0) as McpSession | { session: McpSession };
    return "session" in created ? created.session : created;
  };
  const subscribe = async (session: McpSession, uri: string) =>
    await relay.handle(
      { jsonrpc: "2.0", id: 1, method: "resources/subscribe", params: { uri } },
      session,
    );
  try {
    const a = open();
    const b = open();
    for (let i = 0; i < 3; i++) {
      expect(await subscribe(a, `test://template/${i}/data`)).toEqual({
        jsonrpc: "2.0",
        id: 1,
        result: {},
      });
    }
    await subscribe(b, "test://watched-resource");
    expect(relay.subscriptionCount()).toBe(4);
    await endSession(a, "session ended by the client", { ...deps, relay } as never);
    expect(relay.subscriptionCount()).toBe(1);
    relay.forgetSession(b.auditId);
    expect(relay.subscriptionCount()).toBe(0);
  } finally {
    relay.close();
    await client.close();
    await upstream.close();
    await audit.close();
    await Deno.remove(dir, { recursive: true });
  }
});

async function hasNpx(): Promise<boolean> {
  try {
    return (await new Deno.Command("npx", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "examples/everything.yaml: server-everything's resources are listed and read (stdio)",
  ignore: !(await hasNpx()),
  async fn() {
    const example = await Deno.readTextFile(
      new URL("../../examples/everything.yaml", import.meta.url),
    );
    const gw = await startTestGateway({
      policy: example,
      env: { UPSTREAM_START_TIMEOUT_MS: "120000", UPSTREAM_TIMEOUT_MS: "60000" },
    });
    const agent = await connect(gw.url, "gpt-4o");
    try {
      const { client } = agent;
      const listed = uris(await client.listResources());
      expect(listed.length).toBeGreaterThan(0);
      expect(listed.every((uri) => uri.startsWith("demo://resource/"))).toBe(true);
      expect(templates(await client.listResourceTemplates())).toEqual(
        expect.arrayContaining(["demo://resource/dynamic/text/{resourceId}"]),
      );
      const read = await client.readResource({ uri: listed[0] });
      expect(read.contents.length).toBeGreaterThan(0);
      // an unlisted URI of its one matching template goes to it
      const dynamic = await client.readResource({ uri: "demo://resource/dynamic/text/3" });
      expect(JSON.stringify(dynamic.contents)).toContain("demo://resource/dynamic/text/3");
      // outside the allowed globs: refused before the upstream is asked
      const refused = await rpcFailure(client.readResource({ uri: "file:///etc/passwd" }));
      expect(refused.data.reason_code).toBe("resource_not_allowed");
    } finally {
      await agent.close();
      await gw.close();
    }
  },
});
