/** The limiter's behaviour, whatever store holds its counters (SPEC §3, §13): the same cases run
 * against the in-memory limiter and the Redis one (tests/replicas/limiter_stores_test.ts). */
import { expect } from "expect";
import type { Limiter, TakeRequest, TakeResult } from "../../src/limits/limiter.ts";
import { DAY_MS } from "../../src/limits/window.ts";
import type { RateSpec, Rule } from "../../src/policy/types.ts";

const anyGlob = { source: "*", test: () => true };

/** Limits of a test rule. */
export interface Limits {
  /** max_calls_per_session. */
  readonly cap?: number;
  /** rate_limit.per_session. */
  readonly perSession?: RateSpec;
  /** rate_limit.per_model. */
  readonly perModel?: RateSpec;
}

/** A rule matching every model and tool, with these limits. */
export function rule(limits: Limits, glob = "*"): Rule {
  return {
    index: 0,
    model: { ...anyGlob, source: glob },
    allowTools: [anyGlob],
    denyTools: [],
    allowPrompts: [],
    denyPrompts: [],
    maxCallsPerSession: limits.cap,
    rateLimit: { perSession: limits.perSession, perModel: limits.perModel },
  };
}

const UNITS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: DAY_MS } as const;

/** A rate spec like the parser makes. */
export function rate(limit: number, unit: keyof typeof UNITS): RateSpec {
  return { text: `${limit}/${unit}`, limit, windowMs: UNITS[unit] };
}

/** Makes a fresh, empty limiter (a new key prefix for a shared store). */
export type LimiterFactory = (options?: { capWindowMs?: number }) => Limiter;

function harness(make: LimiterFactory, r: Rule) {
  const limiter = make();
  let now = 1_700_000_000_000;
  const take = async (over: Partial<TakeRequest> = {}): Promise<TakeResult> =>
    await limiter.take({
      rule: r,
      agentId: null,
      modelId: "gpt-4o",
      sessionId: "s1",
      now,
      ...over,
    });
  return {
    take,
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function denial(result: TakeResult) {
  if (result.ok) throw new Error("expected a refusal");
  return result.denial;
}

async function expectExactRetry(
  h: ReturnType<typeof harness>,
  over: Partial<TakeRequest> = {},
): Promise<void> {
  const wait = denial(await h.take(over)).retryAfterMs ?? 0;
  expect(wait).toBeGreaterThanOrEqual(1);
  h.advance(wait - 1);
  expect((await h.take(over)).ok).toBe(false);
  h.advance(1);
  expect((await h.take(over)).ok).toBe(true);
}

/** The cases, by name. */
export const LIMITER_CASES: Record<string, (make: LimiterFactory) => Promise<void>> = {
  "cap of 5: the 6th call is refused with the exact wait": async (make) => {
    const h = harness(make, rule({ cap: 5 }));
    const first = h.now();
    for (let i = 0; i < 5; i++) {
      expect(await h.take()).toEqual({ ok: true });
      h.advance(60_000);
    }
    h.advance(3_600_000 - 5 * 60_000);
    expect(denial(await h.take())).toEqual({
      reasonCode: "session_call_cap",
      reason: 'session call cap of 5 reached for model "gpt-4o" (resets in 82800 s)',
      retryAfterMs: first + DAY_MS - h.now(),
    });
    await expectExactRetry(h);
  },
  "per_session window: refused when full, exact retry, other sessions unaffected": async (make) => {
    const h = harness(make, rule({ perSession: rate(3, "second") }));
    h.advance(1_000 - (h.now() % 1_000));
    for (let i = 0; i < 3; i++) expect((await h.take()).ok).toBe(true);
    expect(denial(await h.take())).toEqual({
      reasonCode: "rate_limited",
      reason: "rate limit 3/second per session exceeded",
      retryAfterMs: 1_334,
    });
    expect((await h.take({ sessionId: "s2" })).ok).toBe(true);
    await expectExactRetry(h);
  },
  "per_model window: shared by the sessions of a model, not across models": async (make) => {
    const h = harness(make, rule({ perModel: rate(2, "minute") }));
    expect((await h.take({ sessionId: "a" })).ok).toBe(true);
    expect((await h.take({ sessionId: "b" })).ok).toBe(true);
    expect(denial(await h.take({ sessionId: "c" })).reason).toBe(
      "rate limit 2/minute per model exceeded",
    );
    expect((await h.take({ sessionId: "c", modelId: "gpt-4o-mini" })).ok).toBe(true);
    await expectExactRetry(h, { sessionId: "d" });
  },
  "order: cap before per_session before per_model": async (make) => {
    const h = harness(
      make,
      rule({ cap: 1, perSession: rate(1, "hour"), perModel: rate(1, "day") }),
    );
    await h.take();
    const capped = denial(await h.take());
    expect(capped.reasonCode).toBe("session_call_cap");
    expect(capped.retryAfterMs).toBeGreaterThan(DAY_MS);
    await expectExactRetry(h);
    const h2 = harness(make, rule({ perSession: rate(1, "hour"), perModel: rate(1, "hour") }));
    await h2.take();
    expect(denial(await h2.take()).reason).toBe("rate limit 1/hour per session exceeded");
    expect(denial(await h2.take({ sessionId: "s2" })).reason).toBe(
      "rate limit 1/hour per model exceeded",
    );
  },
  "agents are isolated and keys unambiguous": async (make) => {
    const h = harness(make, rule({ cap: 1 }));
    const ids: Partial<TakeRequest>[] = [
      { modelId: "gpt", sessionId: "4o1" },
      { modelId: "gpt4o", sessionId: "1" },
      { modelId: "a\u0000b", sessionId: "c" },
      { modelId: "a", sessionId: "b\u0000c" },
      { modelId: "1:a", sessionId: "b" },
      { agentId: "1:a", modelId: "b", sessionId: "" },
      { agentId: "1", modelId: "a", sessionId: "1:b" },
      { agentId: "null", modelId: "a", sessionId: "1:b" },
      { agentId: null, modelId: "a", sessionId: "1:b" },
    ];
    for (const id of ids) expect([id, (await h.take(id)).ok]).toEqual([id, true]);
    for (const id of ids) expect([id, (await h.take(id)).ok]).toEqual([id, false]);
  },
  "a refused call consumes nothing": async (make) => {
    const h = harness(make, rule({ cap: 2, perModel: rate(1, "second") }));
    h.advance(1_000 - (h.now() % 1_000));
    expect((await h.take()).ok).toBe(true);
    for (let i = 0; i < 5; i++) expect(denial(await h.take()).reasonCode).toBe("rate_limited");
    h.advance(2_000);
    expect((await h.take()).ok).toBe(true);
    h.advance(2_000);
    expect(denial(await h.take()).reasonCode).toBe("session_call_cap");
    expect((await h.take({ sessionId: "s2" })).ok).toBe(true);
  },
  "counters survive a reload; a changed window length starts over": async (make) => {
    const h = harness(make, rule({ cap: 3, perSession: rate(2, "minute") }));
    await h.take();
    await h.take();
    const reloaded = rule({ cap: 3, perSession: rate(2, "minute") });
    expect(denial(await h.take({ rule: reloaded })).reasonCode).toBe("rate_limited");
    const longer = rule({ cap: 3, perSession: rate(2, "hour") });
    expect((await h.take({ rule: longer })).ok).toBe(true);
    expect(denial(await h.take({ rule: longer })).reasonCode).toBe("session_call_cap");
  },
  "agents mode keys per_model by rule, not by declared model": async (make) => {
    const r = rule({ perModel: rate(2, "hour") }, "claude-*");
    const h = harness(make, r);
    expect((await h.take({ agentId: "a", modelId: "claude-v1" })).ok).toBe(true);
    expect((await h.take({ agentId: "a", modelId: "claude-v2", sessionId: "x" })).ok).toBe(true);
    const refused = denial(await h.take({ agentId: "a", modelId: "claude-v3", sessionId: "y" }));
    expect(refused.reason).toBe(
      'rate limit 2/hour per model exceeded (counted for agent "a" under rule "claude-*")',
    );
    expect((await h.take({ agentId: "b", modelId: "claude-v3" })).ok).toBe(true);
  },
  "a custom cap window is honoured": async (make) => {
    const limiter = make({ capWindowMs: 1_000 });
    const r = rule({ cap: 1 });
    const call = async (now: number) =>
      await limiter.take({ rule: r, agentId: null, modelId: "m", sessionId: "s", now });
    expect((await call(1_000_000)).ok).toBe(true);
    expect(denial(await call(1_000_999)).retryAfterMs).toBe(1);
    expect((await call(1_001_000)).ok).toBe(true);
  },
};
