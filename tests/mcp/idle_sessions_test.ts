// What an idle session's end says on several replicas (SPEC §13): a session idle on this replica
// but still used on another is only released here (its shared record lives on, its next request
// here takes it back in); only a session whose shared record is gone expired. Real redis-server.
import { expect } from "expect";
import { connectRedis } from "../../src/shared_state/redis_client.ts";
import { createRedisSessions, type SessionRecord } from "../../src/shared_state/session_records.ts";
import { endIdleSessions, IDLE_REASONS } from "../../src/mcp/server/session/shared_sessions.ts";
import type { McpSession } from "../../src/mcp/server/session/sessions.ts";
import { redisSkipReason, startRedis } from "../redis_server.ts";

const skip = redisSkipReason();
if (skip) console.log(`idle_sessions_test (redis part): ${skip}`);

const RECORD: SessionRecord = {
  agentId: null,
  keySha256: null,
  modelId: "m1",
  protocolVersion: "2025-06-18",
  policyVersion: "v1",
  clientInfo: { name: "c" },
  clientCapabilities: {},
};

const session = (id: string) => ({ id }) as McpSession;

async function ended(idle: McpSession[], shared?: Parameters<typeof endIdleSessions>[1]["shared"]) {
  const reasons = new Map<string, string>();
  await endIdleSessions(idle, { shared, end: (s, reason) => reasons.set(s.id, reason) });
  return reasons;
}

Deno.test("one replica (no shared records): an idle session expired", async () => {
  expect(await ended([session("a")])).toEqual(new Map([["a", "session expired (idle)"]]));
});

Deno.test({
  name: "several replicas: idle here but open elsewhere is released, not called expired",
  ignore: skip !== undefined,
  async fn() {
    const redis = await startRedis();
    const connection = await connectRedis({ url: redis.url, timeoutMs: 2_000 });
    try {
      const shared = createRedisSessions({
        client: connection.client,
        prefix: "i:",
        idleMs: 60_000,
      });
      await shared.save("alive", RECORD);
      await shared.save("ended", RECORD);
      await shared.remove("ended");
      const reasons = await ended([session("alive"), session("ended")], shared);
      expect(reasons.get("alive")).toBe(IDLE_REASONS.elsewhere);
      expect(reasons.get("alive")).toContain("still open on another replica");
      expect(reasons.get("ended")).toBe("session expired (idle)");
      // Asking does not keep the session alive: its deadline is not pushed back.
      const before = await connection.client.pttl((await connection.client.keys("i:sess:*"))[0]);
      expect(before).toBeLessThanOrEqual(60_000);
      // The store away: the copy here is released, and the line says the rest is unknown.
      await redis.kill();
      const unknown = await ended([session("alive")], shared);
      expect(unknown.get("alive")).toBe(IDLE_REASONS.unknown);
    } finally {
      await connection.close();
      await redis.stop();
    }
  },
});
