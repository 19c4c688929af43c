import { expect } from "expect";
import {
  auditSessionId,
  createSessionStore,
  type McpSession,
  type NewSession,
} from "./sessions.ts";

const fields: NewSession = {
  agentId: null,
  keySha256: null,
  modelId: "gpt-4o",
  protocolVersion: "2025-11-25",
  clientInfo: { name: "c" },
  clientCapabilities: {},
  policyVersion: "v1",
};

function of(agentId: string | null): NewSession {
  return { ...fields, agentId, keySha256: agentId === null ? null : "ab".repeat(32) };
}

type Store = ReturnType<typeof createSessionStore>;

function created(store: Store, f: NewSession, now: number) {
  const outcome = store.create(f, now);
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome;
}

function make(store: Store, f: NewSession, now: number): McpSession {
  return created(store, f, now).session;
}

Deno.test("sessions get random ids, hashed audit ids, and expire when idle", () => {
  const store = createSessionStore({ idleMs: 1000 });
  const a = make(store, fields, 0);
  const b = make(store, fields, 0);
  expect(a.id).toMatch(/^[0-9a-f]{64}$/);
  expect(a.id).not.toBe(b.id);
  expect(a.auditId).toBe(auditSessionId(a.id));
  expect(a.auditId).toMatch(/^mcp-[0-9a-f]{16}$/);
  expect(a.auditId).not.toContain(a.id.slice(0, 16));
  expect(store.get(a.id, 999)?.modelId).toBe("gpt-4o");
  // a was touched at 999; b was not
  expect(store.get(b.id, 1000)).toBeUndefined();
  expect(store.get(a.id, 1998)).toBeDefined();
  expect(store.get(a.id, 2998)).toBeUndefined();
  // An expired session is left for expire(), which hands it back to be ended properly.
  expect(store.size).toBe(2);
  expect(store.expire(2998).map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
  expect(store.size).toBe(0);
});

Deno.test("expire removes idle sessions only; delete ends one", () => {
  const store = createSessionStore({ idleMs: 100 });
  const old = make(store, fields, 0);
  const fresh = make(store, fields, 50);
  expect(store.expire(120).map((s) => s.id)).toEqual([old.id]);
  expect(store.size).toBe(1);
  expect(store.delete(fresh.id)?.id).toBe(fresh.id);
  expect(store.delete(fresh.id)).toBeUndefined();
  expect(store.get("unknown", 0)).toBeUndefined();
});

Deno.test("expire visits every agent's sessions", () => {
  const store = createSessionStore({ idleMs: 100 });
  const a = make(store, of("a"), 0);
  const b = make(store, of("b"), 10);
  make(store, of("a"), 90);
  expect(store.expire(115).map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
  expect(store.countFor("a")).toBe(1);
  expect(store.countFor("b")).toBe(0);
});

Deno.test("open identity mode is one pool: the least recently used session makes room", () => {
  const store = createSessionStore({ idleMs: 10_000, maxSessions: 2 });
  const a = make(store, fields, 0);
  const b = make(store, fields, 1);
  store.get(a.id, 2);
  expect(created(store, fields, 3).evicted.map((s) => s.id)).toEqual([b.id]);
  expect(store.get(b.id, 4)).toBeUndefined();
  expect(store.get(a.id, 4)).toBeDefined();
  expect(store.countFor(null)).toBe(2);
});

Deno.test("per-agent cap: an agent's own least recently used session goes, others' never", () => {
  const store = createSessionStore({ idleMs: 10_000, maxPerAgent: 3 });
  const bs = [make(store, of("b"), 0), make(store, of("b"), 0)];
  const as = [make(store, of("a"), 1), make(store, of("a"), 2), make(store, of("a"), 3)];
  store.get(as[0].id, 4); // a's least recently used is now as[1]
  for (let i = 0; i < 10; i++) {
    const outcome = created(store, of("a"), 5 + i);
    expect(outcome.evicted.length).toBe(1);
    expect(outcome.evicted[0].agentId).toBe("a");
    expect(store.countFor("a")).toBe(3);
  }
  expect(store.get(as[1].id, 20)).toBeUndefined();
  for (const b of bs) expect(store.get(b.id, 20)?.agentId).toBe("b");
  expect(store.countFor("b")).toBe(2);
  expect(store.size).toBe(5);
});

Deno.test("per-agent cap: a session with a call in flight is spared when an idle one exists", () => {
  const store = createSessionStore({ idleMs: 10_000, maxPerAgent: 2 });
  const busy = make(store, of("a"), 0);
  const idle = make(store, of("a"), 1);
  busy.inFlight.set(1, new AbortController());
  expect(created(store, of("a"), 2).evicted).toEqual([idle]);
  expect(store.get(busy.id, 3)).toBe(busy);
});

Deno.test("a full table never evicts another agent's session: it refuses instead", () => {
  const store = createSessionStore({ idleMs: 10_000, maxSessions: 3, maxPerAgent: 10 });
  const bs = [make(store, of("b"), 0), make(store, of("b"), 1), make(store, of("b"), 2)];
  const refused = store.create(of("a"), 3);
  expect(refused).toEqual({ ok: false, reason: "the gateway holds its maximum of 3 sessions" });
  // The creator's own oldest may make room.
  expect(created(store, of("b"), 4).evicted).toEqual([bs[0]]);
  for (const b of bs.slice(1)) expect(store.get(b.id, 5)).toBe(b);
});

Deno.test("an ended session frees what it owns: streams, pending client requests, indexes", () => {
  const store = createSessionStore({ idleMs: 10_000, maxPerAgent: 1 });
  const first = make(store, of("a"), 0);
  const rejected: unknown[] = [];
  first.pending.set("g1", { resolve: () => {}, reject: (e) => rejected.push(e) });
  first.streams.create().send({ jsonrpc: "2.0", method: "notifications/message" });
  const { evicted } = created(store, of("a"), 1);
  expect(evicted).toEqual([first]);
  expect(rejected).toEqual([{ code: -32000, message: "session ended" }]);
  expect(first.pending.size).toBe(0);
  expect(store.byAuditId(first.auditId)).toBeUndefined();
  expect(store.size).toBe(1);
});
