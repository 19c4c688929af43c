// The same limiter behaviour from both stores (SPEC §13): in memory, and on a real redis-server;
// and, over random sequences of calls and clock moves, the Redis limiter answers exactly what the
// in-memory one answers (same admissions, same reasons, same waits).
import { expect } from "expect";
import fc from "fast-check";
import { createLimiter, type TakeResult } from "../../src/limits/limiter.ts";
import { connectRedis } from "../../src/shared_state/redis_client.ts";
import { createRedisLimiter } from "../../src/shared_state/redis_limiter.ts";
import { LIMITER_CASES, rate, rule } from "./limiter_contract.ts";
import { redisSkipReason, startRedis } from "../redis_server.ts";

const skip = redisSkipReason();
if (skip) console.log(`limiter_stores_test (redis part): ${skip}`);

Deno.test("limiter behaviour: in-memory store", async (t) => {
  for (const [name, run] of Object.entries(LIMITER_CASES)) {
    await t.step(name, () => run((options) => createLimiter(options)));
  }
});

Deno.test({
  name: "limiter behaviour: Redis store (real redis-server)",
  ignore: skip !== undefined,
  async fn(t) {
    const redis = await startRedis();
    const connection = await connectRedis({ url: redis.url, timeoutMs: 2_000 });
    let n = 0;
    try {
      for (const [name, run] of Object.entries(LIMITER_CASES)) {
        await t.step(name, () =>
          run((options) =>
            createRedisLimiter({
              client: connection.client,
              prefix: `t${n++}:`,
              capWindowMs: options?.capWindowMs,
            })
          ));
      }

      await t.step("keys are namespaced by the prefix and expired by Redis", async () => {
        const limiter = createRedisLimiter({ client: connection.client, prefix: "ns:" });
        const now = 1_700_000_000_000;
        const r = rule({ perSession: rate(5, "second"), perModel: rate(5, "minute") });
        await limiter.take({ rule: r, agentId: "a", modelId: "m", sessionId: "s", now });
        const keys = (await connection.client.keys("ns:*")).sort();
        expect(keys).toEqual(['ns:lim:m:["a","*"]', 'ns:lim:s:["a","*","s"]']);
        const ttlSession = await connection.client.pttl(keys[1]);
        const ttlModel = await connection.client.pttl(keys[0]);
        // Kept two windows after its bucket: 2 s for the session, 2 min for the model.
        expect(ttlSession).toBeGreaterThan(1_000);
        expect(ttlSession).toBeLessThanOrEqual(2_000);
        expect(ttlModel).toBeGreaterThan(60_000);
        expect(ttlModel).toBeLessThanOrEqual(120_000);
      });

      await t.step("property: Redis answers exactly what memory answers", async () => {
        const op = fc.record({
          session: fc.constantFrom("s1", "s2", "s3"),
          model: fc.constantFrom("m1", "m2"),
          agent: fc.constantFrom(null, "a", "b"),
          advance: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3_000 })),
        });
        const limits = fc.record({
          cap: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
          perSession: fc.option(
            fc.tuple(fc.integer({ min: 1, max: 5 }), fc.constantFrom(1_000, 2_000, 5_000)),
            { nil: undefined },
          ),
          perModel: fc.option(
            fc.tuple(fc.integer({ min: 1, max: 8 }), fc.constantFrom(1_000, 3_000)),
            { nil: undefined },
          ),
        });
        let run = 0;
        await fc.assert(
          fc.asyncProperty(limits, fc.array(op, { maxLength: 40 }), async (l, ops) => {
            const spec = (s: [number, number] | undefined) =>
              s && { text: `${s[0]}/${s[1]}ms`, limit: s[0], windowMs: s[1] };
            const r = rule({
              cap: l.cap,
              perSession: spec(l.perSession),
              perModel: spec(l.perModel),
            });
            const memory = createLimiter({ capWindowMs: 10_000 });
            const shared = createRedisLimiter({
              client: connection.client,
              prefix: `p${run++}:`,
              capWindowMs: 10_000,
            });
            let now = 1_700_000_000_123;
            for (const o of ops) {
              now += o.advance;
              const request = {
                rule: r,
                agentId: o.agent,
                modelId: o.model,
                sessionId: o.session,
                now,
              };
              const expected: TakeResult = memory.take(request);
              expect(await shared.take(request)).toEqual(expected);
            }
          }),
          { numRuns: 60 },
        );
      });
    } finally {
      await connection.close();
      await redis.stop();
    }
  },
});
