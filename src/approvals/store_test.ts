import { expect } from "expect";
import {
  type ApprovalRecord,
  canonicalJson,
  inputSha256,
  isApprovalId,
  newApprovalId,
} from "./approval.ts";
import { createMemoryApprovals } from "./store.ts";

const T0 = Date.parse("2026-12-04T10:00:00Z");

function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: newApprovalId(),
    state: "pending",
    door: "api",
    toolName: "db.delete_row",
    agentId: "ops",
    modelId: "gpt-4o",
    sessionId: "s-1",
    inputSha256: inputSha256({ id: 7 }),
    eventId: crypto.randomUUID(),
    inputText: '{"id":7}',
    createdAt: T0,
    deadline: T0 + 1000,
    ...overrides,
  };
}

Deno.test("approval ids: 128 random bits as 32 hex, checked before any lookup", () => {
  const id = newApprovalId();
  expect(isApprovalId(id)).toBe(true);
  expect(newApprovalId()).not.toBe(id);
  for (const bad of ["", "x".repeat(32), id.toUpperCase(), id + "0", "../" + id, 42]) {
    expect(isApprovalId(bad)).toBe(false);
  }
});

Deno.test("canonicalJson: key order does not change the input hash; values do", () => {
  expect(canonicalJson({ b: 1, a: [{ y: 2, x: null }] })).toBe('{"a":[{"x":null,"y":2}],"b":1}');
  expect(inputSha256({ a: 1, b: 2 })).toBe(inputSha256({ b: 2, a: 1 }));
  expect(inputSha256({ a: 1 })).not.toBe(inputSha256({ a: "1" }));
});

Deno.test("memory approvals: decided once, used once, for its own call only", async () => {
  const store = createMemoryApprovals({ timeoutMs: 1000 });
  const held = record();
  expect((await store.create(held, T0)).ok).toBe(true);
  const seen: string[] = [];
  const unwatch = store.watch(held.id, () => seen.push("changed"));
  expect((await store.consume(held.id, held, T0)).ok).toBe(false); // not approved yet
  const first = await store.decide(held.id, {
    decision: "approve",
    by: "a",
    note: "n",
    at: T0 + 1,
  });
  expect(first.ok && first.record.state).toBe("approved");
  const second = await store.decide(held.id, { decision: "deny", by: "b", note: "", at: T0 + 2 });
  expect(second).toMatchObject({ ok: false, reason: `approval ${held.id} is already approved` });
  expect((await store.consume(held.id, { ...held, sessionId: "s-2" }, T0 + 3)).ok).toBe(false);
  expect((await store.consume(held.id, { ...held, door: "mcp" }, T0 + 3)).ok).toBe(false);
  expect((await store.consume(held.id, held, T0 + 3)).ok).toBe(true);
  expect((await store.consume(held.id, held, T0 + 4)).ok).toBe(false);
  expect(seen).toEqual(["changed", "changed"]);
  unwatch();
});

Deno.test("memory approvals: expiry, withdrawal and the pending limits", async () => {
  const store = createMemoryApprovals({ timeoutMs: 1000, maxPending: 3, maxPerAgent: 2 });
  const a = record();
  const b = record();
  await store.create(a, T0);
  await store.create(b, T0);
  expect(await store.create(record(), T0)).toMatchObject({ ok: false });
  expect((await store.create(record({ agentId: "other" }), T0)).ok).toBe(true);
  expect(await store.create(record({ agentId: "third" }), T0)).toMatchObject({ ok: false });
  // Past its deadline a pending approval is expired: it can no longer be decided.
  const late = await store.decide(a.id, { decision: "approve", by: "a", note: "", at: T0 + 1001 });
  expect(late).toMatchObject({ ok: false, reason: `approval ${a.id} is already expired` });
  expect((await store.pending(T0 + 1001)).length).toBe(0);
  // The waiting call gives up: pending → withdrawn, once.
  expect((await store.settle(b.id, "withdrawn", T0)).ok).toBe(true);
  expect((await store.settle(b.id, "expired", T0)).ok).toBe(false);
  // Records are forgotten well after their deadline (bounded memory).
  await store.pending(T0 + 1000 + 2 * 1000 + 60_001);
  expect(await store.get(a.id)).toBeUndefined();
});
