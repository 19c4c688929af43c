import { expect } from "expect";
import { auditSessionId, createSessionStore } from "./sessions.ts";

const fields = {
  agentId: null,
  modelId: "gpt-4o",
  protocolVersion: "2025-11-25",
  clientInfo: { name: "c" },
  clientCapabilities: {},
};

Deno.test("sessions get random ids, hashed audit ids, and expire when idle", () => {
  const store = createSessionStore({ idleMs: 1000 });
  const a = store.create(fields, 0);
  const b = store.create(fields, 0);
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
  expect(store.size).toBe(0);
});

Deno.test("expire removes idle sessions only; delete ends one", () => {
  const store = createSessionStore({ idleMs: 100 });
  const old = store.create(fields, 0);
  const fresh = store.create(fields, 50);
  expect(store.expire(120).map((s) => s.id)).toEqual([old.id]);
  expect(store.size).toBe(1);
  expect(store.delete(fresh.id)?.id).toBe(fresh.id);
  expect(store.delete(fresh.id)).toBeUndefined();
  expect(store.get("unknown", 0)).toBeUndefined();
});

Deno.test("the table is bounded: the least recently used session makes room", () => {
  const store = createSessionStore({ idleMs: 10_000, maxSessions: 2 });
  const a = store.create(fields, 0);
  const b = store.create(fields, 1);
  store.get(a.id, 2);
  store.create(fields, 3);
  expect(store.get(b.id, 4)).toBeUndefined();
  expect(store.get(a.id, 4)).toBeDefined();
});
