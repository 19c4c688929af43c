/**
 * One behaviour suite for both approvals stores (§15, §13): in memory and on a real
 * redis-server. With Redis, two store instances (two replicas) see one record: a decision made
 * on one wakes the watcher of the other, and a use happens once however many race for it.
 */
import { expect } from "expect";
import { type ApprovalRecord, inputSha256, newApprovalId } from "../../src/approvals/approval.ts";
import { type ApprovalStore, createMemoryApprovals } from "../../src/approvals/store.ts";
import { connectRedis, type RedisConnection } from "../../src/shared_state/redis_client.ts";
import { openRedisApprovals, parseApprovalRecord } from "../../src/shared_state/redis_approvals.ts";
import { redisSkipReason, startRedis } from "../redis_server.ts";

const skip = redisSkipReason();
if (skip) console.log(`approval_stores_test (Redis part): ${skip}`);

const TIMEOUT = 1000;
const T0 = Date.now();
const quiet = { warn() {} };

function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: newApprovalId(),
    state: "pending",
    door: "mcp",
    toolName: "db.delete_row",
    agentId: "ops",
    modelId: "gpt-4o",
    sessionId: "mcp-1",
    inputSha256: inputSha256({ id: 7 }),
    eventId: crypto.randomUUID(),
    inputText: '{"id":7}',
    createdAt: T0,
    deadline: T0 + TIMEOUT,
    ...overrides,
  };
}

async function behaviour(store: ApprovalStore): Promise<void> {
  const held = record();
  expect((await store.create(held, T0)).ok).toBe(true);
  expect((await store.pending(T0)).map((r) => r.id)).toContain(held.id);
  expect((await store.get(held.id))?.state).toBe("pending");
  expect((await store.consume(held.id, held, T0)).ok).toBe(false);
  const approved = await store.decide(held.id, { decision: "approve", by: "a", note: "n", at: T0 });
  expect(approved.ok && approved.record.state).toBe("approved");
  expect((await store.pending(T0)).map((r) => r.id)).not.toContain(held.id);
  const again = await store.decide(held.id, { decision: "deny", by: "b", note: "", at: T0 });
  expect(again.ok).toBe(false);
  expect((await store.consume(held.id, { ...held, inputSha256: inputSha256({}) }, T0)).ok)
    .toBe(false);
  expect((await store.consume(held.id, held, T0)).ok).toBe(true);
  expect((await store.consume(held.id, held, T0)).ok).toBe(false);
  expect((await store.get(held.id))?.state).toBe("used");

  const late = record();
  await store.create(late, T0);
  const tooLate = await store.decide(late.id, {
    decision: "approve",
    by: "a",
    note: "",
    at: T0 + TIMEOUT + 1,
  });
  expect(tooLate).toMatchObject({ ok: false, reason: `approval ${late.id} is already expired` });

  // Overdue: still marked pending past its deadline, until someone settles it (once).
  expect((await store.overdue(T0 + TIMEOUT + 1)).map((r) => r.id)).toContain(late.id);
  expect((await store.settle(late.id, "expired", T0 + TIMEOUT + 1)).ok).toBe(true);
  expect((await store.settle(late.id, "expired", T0 + TIMEOUT + 1)).ok).toBe(false);
  expect((await store.overdue(T0 + TIMEOUT + 1)).map((r) => r.id)).not.toContain(late.id);

  const gone = record();
  await store.create(gone, T0);
  expect((await store.settle(gone.id, "withdrawn", T0)).ok).toBe(true);
  expect((await store.decide(gone.id, { decision: "approve", by: "a", note: "", at: T0 })).ok)
    .toBe(false);
  expect(await store.get(newApprovalId())).toBeUndefined();
}

Deno.test("approvals store behaviour: in memory", async () => {
  await behaviour(createMemoryApprovals({ timeoutMs: TIMEOUT }));
});

Deno.test({
  name: "approvals store behaviour: Redis, and two replicas share one record",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await startRedis();
    const connections: RedisConnection[] = [];
    const stores: ApprovalStore[] = [];
    try {
      const open = async () => {
        const connection = await connectRedis({ url: redis.url, timeoutMs: 2_000 });
        connections.push(connection);
        const store = await openRedisApprovals({
          redis: connection,
          prefix: "t:",
          timeoutMs: TIMEOUT,
          redisTimeoutMs: 2_000,
          log: quiet,
        });
        stores.push(store);
        return store;
      };
      const [a, b] = [await open(), await open()];
      await behaviour(a);

      // Held on A, decided on B: A's watcher is woken by the message, with no polling.
      const held = record();
      await a.create(held, T0);
      expect((await b.pending(T0)).map((r) => r.id)).toContain(held.id);
      const woken = Promise.withResolvers<void>();
      const unwatch = a.watch(held.id, () => woken.resolve());
      await b.decide(held.id, { decision: "approve", by: "b", note: "", at: T0 });
      await woken.promise;
      unwatch();
      expect((await a.get(held.id))?.state).toBe("approved");
      // Used once, whichever replicas race for it.
      const uses = await Promise.all([
        a.consume(held.id, held, T0),
        b.consume(held.id, held, T0),
        a.consume(held.id, held, T0),
        b.consume(held.id, held, T0),
      ]);
      expect(uses.filter((use) => use.ok).length).toBe(1);
      // Records expire in Redis itself.
      const ttl = await connections[0].client.pttl(`t:appr:${held.id}`);
      expect(ttl).toBeGreaterThan(0);
      // A corrupted record is refused, never trusted.
      expect(parseApprovalRecord('{"id":"x"}')).toBeUndefined();
      await connections[0].client.set(`t:appr:${held.id}`, JSON.stringify({ ...held, state: "x" }));
      expect(await a.get(held.id)).toBeUndefined();
    } finally {
      for (const store of stores) store.close();
      for (const connection of connections) await connection.close();
      await redis.stop();
    }
  },
});
