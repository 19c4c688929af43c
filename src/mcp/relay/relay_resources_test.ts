import { expect } from "expect";
import { openAuditSink } from "../../audit/sink/sink.ts";
import { silentLogger } from "../../log.ts";
import { parsePolicy } from "../../policy/parse/parse.ts";
import { buildSchemaRegistry } from "../../schema/registry.ts";
import type { Federation } from "../federation/federation.ts";
import type { JsonRpcMessage, JsonRpcNotification } from "../jsonrpc.ts";
import { createRelay } from "./relay.ts";
import type { McpSession, SessionStore } from "../server/session/sessions.ts";

/** A stdio-like upstream (one process shared by every session) that records what it is sent. */
function fakeUpstream(resources: string[]) {
  const sent: string[] = [];
  const client = {
    request(_key: string, method: string, params?: Record<string, unknown>) {
      if (method === "resources/list") {
        return Promise.resolve({ resources: resources.map((uri) => ({ uri, name: uri })) });
      }
      if (method === "resources/templates/list") return Promise.resolve({ resourceTemplates: [] });
      sent.push(`${method} ${params?.uri}`);
      return Promise.resolve(method === "resources/read" ? { contents: [] } : {});
    },
  };
  return { client, sent };
}

function fakeSession(auditId: string) {
  const received: JsonRpcMessage[] = [];
  const session = {
    auditId,
    agentId: null,
    modelId: "gpt-4o",
    streams: { sendStandalone: (message: JsonRpcMessage) => received.push(message) > 0 },
  } as unknown as McpSession;
  return { session, received };
}

async function setup() {
  const parsed = parsePolicy(
    'rules:\n  - model: "*"\n    allow_resources: ["memo://*"]\n' +
      'upstreams:\n  memo:\n    command: ["memo-server"]\n',
    { env: {} },
  );
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const state = { policy: parsed.policy, schemas: buildSchemaRegistry([]).registry };
  const upstream = fakeUpstream(["memo://a", "memo://b"]);
  let listener: ((u: string, n: JsonRpcNotification, key: string | null) => void) | undefined;
  const federation = {
    upstreams: () => [{ name: "memo", prefix: "memo", client: upstream.client }],
    onNotification: (l: typeof listener) => {
      listener = l;
      return () => {};
    },
  } as unknown as Federation;
  const live = new Map<string, McpSession>();
  const sessions = { byAuditId: (id: string) => live.get(id), all: () => live.values() };
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-relay-" });
  const audit = await openAuditSink({ path: `${dir}/audit.log` });
  const relay = createRelay({
    federation,
    sessions: sessions as unknown as SessionStore,
    state: () => state,
    audit,
    clock: () => 0,
    newId: () => crypto.randomUUID(),
    upstreamTimeoutMs: 1000,
    log: silentLogger(),
  });
  const call = (session: McpSession, method: string, uri: string) =>
    relay.handle({ jsonrpc: "2.0", id: 1, method, params: { uri } }, session)!;
  return {
    relay,
    upstream,
    live,
    call,
    notify: (n: JsonRpcNotification) => listener!("memo", n, null),
    async close() {
      relay.close();
      await audit.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("relay: a shared (stdio) upstream keeps a subscription another session still holds", async () => {
  const t = await setup();
  try {
    const a = fakeSession("mcp-a");
    const b = fakeSession("mcp-b");
    t.live.set("mcp-a", a.session);
    t.live.set("mcp-b", b.session);
    await t.call(a.session, "resources/subscribe", "memo://a");
    await t.call(b.session, "resources/subscribe", "memo://a");
    await t.call(a.session, "resources/unsubscribe", "memo://a");
    expect(t.upstream.sent).toEqual([
      "resources/subscribe memo://a",
      "resources/subscribe memo://a",
    ]);
    // updates of a shared upstream go to the sessions subscribed, and only to them
    const update = {
      jsonrpc: "2.0" as const,
      method: "notifications/resources/updated",
      params: { uri: "memo://a" },
    };
    t.notify(update);
    expect([a.received, b.received]).toEqual([[], [update]]);
    await t.call(b.session, "resources/unsubscribe", "memo://a");
    expect(t.upstream.sent.at(-1)).toBe("resources/unsubscribe memo://a");
    // unsubscribing from what one does not hold forwards nothing
    await t.call(b.session, "resources/unsubscribe", "memo://b");
    expect(t.upstream.sent.length).toBe(3);
  } finally {
    await t.close();
  }
});

Deno.test("relay: an update for a session that is gone drops its subscriptions", async () => {
  const t = await setup();
  try {
    const a = fakeSession("mcp-a");
    t.live.set("mcp-a", a.session);
    await t.call(a.session, "resources/subscribe", "memo://a");
    await t.call(a.session, "resources/subscribe", "memo://b");
    expect(t.relay.subscriptionCount()).toBe(2);
    t.live.delete("mcp-a"); // ended without the relay being told
    t.notify({
      jsonrpc: "2.0",
      method: "notifications/resources/updated",
      params: { uri: "memo://a" },
    });
    expect(t.relay.subscriptionCount()).toBe(0);
    expect(a.received).toEqual([]);
  } finally {
    await t.close();
  }
});
