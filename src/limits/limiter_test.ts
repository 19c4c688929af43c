import { expect } from "expect";
import type { RateSpec, Rule } from "../policy/types.ts";
import { createLimiter, type MemoryLimiter, type TakeRequest, type TakeResult } from "./limiter.ts";
import { DAY_MS } from "./window.ts";

const anyGlob = { source: "*", test: () => true };

interface Limits {
  readonly cap?: number;
  readonly perSession?: RateSpec;
  readonly perModel?: RateSpec;
}

function rule(limits: Limits): Rule {
  return {
    index: 0,
    model: anyGlob,
    allowTools: [anyGlob],
    denyTools: [],
    allowPrompts: [],
    denyPrompts: [],
    maxCallsPerSession: limits.cap,
    rateLimit: { perSession: limits.perSession, perModel: limits.perModel },
  };
}

const UNITS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: DAY_MS } as const;

function rate(limit: number, unit: keyof typeof UNITS): RateSpec {
  return { text: `${limit}/${unit}`, limit, windowMs: UNITS[unit] };
}

/** A limiter driven by a fake clock, with defaults for the identity. */
function harness(r: Rule) {
  const limiter = createLimiter();
  let now = 1_700_000_000_000;
  const take = (over: Partial<TakeRequest> = {}): TakeResult =>
    limiter.take({ rule: r, agentId: null, modelId: "gpt-4o", sessionId: "s1", now, ...over });
  return {
    limiter,
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

/** Asserts `retryAfterMs` is exact: one ms earlier is still refused, then the call passes. */
function expectExactRetry(h: ReturnType<typeof harness>, over: Partial<TakeRequest> = {}): void {
  const wait = denial(h.take(over)).retryAfterMs ?? 0;
  expect(wait).toBeGreaterThanOrEqual(1);
  h.advance(wait - 1);
  expect(h.take(over).ok).toBe(false);
  h.advance(1);
  expect(h.take(over).ok).toBe(true);
}

Deno.test("cap of 5: the 6th call is refused with the exact wait until 24 h after the first", () => {
  const h = harness(rule({ cap: 5 }));
  const first = h.now();
  for (let i = 0; i < 5; i++) {
    expect(h.take()).toEqual({ ok: true });
    h.advance(60_000);
  }
  h.advance(3_600_000 - 5 * 60_000);
  expect(denial(h.take())).toEqual({
    reasonCode: "session_call_cap",
    reason: 'session call cap of 5 reached for model "gpt-4o" (resets in 82800 s)',
    retryAfterMs: first + DAY_MS - h.now(),
  });
  expectExactRetry(h);
  expect(h.now()).toBe(first + DAY_MS);
});

Deno.test("cap: the new window starts at the first call after the reset", () => {
  const h = harness(rule({ cap: 2 }));
  h.take();
  h.take();
  h.advance(DAY_MS);
  expect(h.take().ok).toBe(true); // opens a new window now
  h.advance(1_000);
  expect(h.take().ok).toBe(true);
  expect(denial(h.take()).retryAfterMs).toBe(DAY_MS - 1_000);
});

Deno.test("cap: the model in the reason is quoted and escaped", () => {
  const h = harness(rule({ cap: 1 }));
  h.take({ modelId: 'x"\n' });
  expect(denial(h.take({ modelId: 'x"\n' })).reason).toContain('model "x\\"\\n"');
});

Deno.test("per_session window: refused when full, exact retry, other sessions unaffected", () => {
  const h = harness(rule({ perSession: rate(3, "second") }));
  h.advance(1_000 - (h.now() % 1_000)); // start of a bucket
  for (let i = 0; i < 3; i++) expect(h.take().ok).toBe(true);
  expect(denial(h.take())).toEqual({
    reasonCode: "rate_limited",
    reason: "rate limit 3/second per session exceeded",
    retryAfterMs: 1_334, // next bucket, once 1/3 of the 3 calls has slid out: ceil(1000/3)
  });
  expect(h.take({ sessionId: "s2" }).ok).toBe(true);
  expectExactRetry(h);
});

Deno.test("per_model window: shared by the sessions of a model, not across models", () => {
  const h = harness(rule({ perModel: rate(2, "minute") }));
  expect(h.take({ sessionId: "a" }).ok).toBe(true);
  expect(h.take({ sessionId: "b" }).ok).toBe(true);
  expect(denial(h.take({ sessionId: "c" })).reason).toBe("rate limit 2/minute per model exceeded");
  expect(h.take({ sessionId: "c", modelId: "gpt-4o-mini" }).ok).toBe(true);
  expectExactRetry(h, { sessionId: "d" });
});

Deno.test("order: cap before per_session before per_model; the wait covers every limit", () => {
  const h = harness(
    rule({ cap: 1, perSession: rate(1, "hour"), perModel: rate(1, "day") }),
  );
  h.take();
  const capped = denial(h.take());
  expect(capped.reasonCode).toBe("session_call_cap");
  // per_model (1/day) frees up only 2 days after its bucket: later than the cap's reset.
  expect(capped.retryAfterMs).toBeGreaterThan(DAY_MS);
  expectExactRetry(h);

  const h2 = harness(rule({ perSession: rate(1, "hour"), perModel: rate(1, "hour") }));
  h2.take();
  expect(denial(h2.take()).reason).toBe("rate limit 1/hour per session exceeded");
  expect(denial(h2.take({ sessionId: "s2" })).reason).toBe("rate limit 1/hour per model exceeded");
});

Deno.test("agents are isolated: one cannot use up another's quota", () => {
  const h = harness(rule({ cap: 2, perModel: rate(3, "hour") }));
  expect(h.take({ agentId: "a" }).ok).toBe(true);
  expect(h.take({ agentId: "a" }).ok).toBe(true);
  expect(denial(h.take({ agentId: "a" })).reasonCode).toBe("session_call_cap");
  expect(h.take({ agentId: "b" }).ok).toBe(true); // same model, same session id
  expect(h.take({ agentId: "b" }).ok).toBe(true);
  expect(h.take({ agentId: "a", sessionId: "s2" }).ok).toBe(true); // a's per_model now full
  expect(denial(h.take({ agentId: "a", sessionId: "s3" })).reasonCode).toBe("rate_limited");
  expect(h.take({ agentId: "b", sessionId: "s3" }).ok).toBe(true);
  // Open mode and an agent whose id looks like the open-mode marker are different identities.
  expect(h.take({ agentId: null }).ok).toBe(true);
  expect(h.take({ agentId: "~" }).ok).toBe(true);
});

Deno.test("keys are unambiguous whatever the ids contain", () => {
  const h = harness(rule({ cap: 1 }));
  const ids: Partial<TakeRequest>[] = [
    { modelId: "gpt", sessionId: "4o1" },
    { modelId: "gpt4o", sessionId: "1" },
    { modelId: "a\u0000b", sessionId: "c" },
    { modelId: "a", sessionId: "b\u0000c" },
    { modelId: "1:a", sessionId: "b" },
    { agentId: "1:a", modelId: "b", sessionId: "" },
    { agentId: "1", modelId: "a", sessionId: "1:b" },
    { agentId: "null", modelId: "a", sessionId: "1:b" },
  ];
  for (const id of ids) expect([id, h.take(id).ok]).toEqual([id, true]);
  expect(h.limiter.size()).toBe(ids.length);
});

Deno.test("a refused call consumes nothing", () => {
  const h = harness(rule({ cap: 2, perModel: rate(1, "second") }));
  h.advance(1_000 - (h.now() % 1_000));
  expect(h.take().ok).toBe(true); // cap 1/2
  for (let i = 0; i < 5; i++) expect(denial(h.take()).reasonCode).toBe("rate_limited");
  h.advance(2_000);
  expect(h.take().ok).toBe(true); // cap 2/2: the refusals above did not count
  h.advance(2_000);
  expect(denial(h.take()).reasonCode).toBe("session_call_cap");
  // That refusal did not take the per_model slot either.
  expect(h.take({ sessionId: "s2" }).ok).toBe(true);
});

Deno.test("a rule without limits costs nothing and creates no entries", () => {
  const h = harness(rule({}));
  for (let i = 0; i < 100; i++) expect(h.take({ sessionId: `s${i}` }).ok).toBe(true);
  expect(h.limiter.size()).toBe(0);
  const only = harness(rule({ perModel: rate(1_000, "minute") }));
  for (let i = 0; i < 100; i++) only.take({ sessionId: `s${i}` });
  expect(only.limiter.size()).toBe(1);
});

Deno.test("counters survive a reload; a changed window length starts over", () => {
  const h = harness(rule({ cap: 3, perSession: rate(2, "minute") }));
  h.take();
  h.take();
  const reloaded = rule({ cap: 3, perSession: rate(2, "minute") });
  expect(denial(h.take({ rule: reloaded })).reasonCode).toBe("rate_limited");
  const longer = rule({ cap: 3, perSession: rate(2, "hour") });
  expect(h.take({ rule: longer }).ok).toBe(true); // cap 3/3, new hourly window 1/2
  expect(denial(h.take({ rule: longer })).reasonCode).toBe("session_call_cap");
  const lowerCap = rule({ cap: 1 });
  expect(denial(h.take({ rule: lowerCap, sessionId: "s1" })).reasonCode).toBe("session_call_cap");
});

Deno.test("sweep removes expired entries and leaves live ones", () => {
  const h = harness(rule({ cap: 5 }));
  const t0 = h.now();
  h.take({ sessionId: "old" });
  h.advance(DAY_MS / 2);
  h.take({ sessionId: "young" });
  expect(h.limiter.sweep(t0 + DAY_MS - 1)).toBe(0);
  expect(h.limiter.sweep(t0 + DAY_MS)).toBe(1);
  expect(h.limiter.size()).toBe(1);
  h.advance(DAY_MS / 2 - 1);
  expect(h.take({ sessionId: "young" }).ok).toBe(true); // still counting: 2/5
  expect(h.limiter.sweep(t0 + DAY_MS * 1.5)).toBe(1);
  expect(h.limiter.size()).toBe(0);

  const w = harness(rule({ perModel: rate(1, "minute") }));
  const start = w.now() - (w.now() % 60_000);
  w.take();
  expect(w.limiter.sweep(start + 120_000 - 1)).toBe(0);
  expect(w.limiter.sweep(start + 120_000)).toBe(1);
  w.advance(start + 120_000 - w.now());
  expect(w.take().ok).toBe(true); // nothing was lost by the removal
});

Deno.test("sweep is incremental: a bounded batch per call, resuming where it stopped", () => {
  const h = harness(rule({ cap: 5, perSession: rate(10, "minute") }));
  for (let i = 0; i < 1_000; i++) h.take({ sessionId: `old${i}` });
  h.advance(DAY_MS / 2);
  for (let i = 0; i < 500; i++) h.take({ sessionId: `live${i}` });
  h.advance(DAY_MS / 2);
  const removed: number[] = [];
  for (let i = 0; i < 4; i++) removed.push(h.limiter.sweep(h.now(), 400));
  expect(removed.every((n) => n <= 400)).toBe(true);
  expect(removed.reduce((a, b) => a + b, 0)).toBe(1_000);
  expect(h.limiter.size()).toBe(500);
  expect(h.limiter.sweep(h.now(), 400)).toBe(0); // a new pass: 400 of the 500 live entries
  expect(h.take({ sessionId: "live0" }).ok).toBe(true);
  const later = h.now() + DAY_MS;
  expect(h.limiter.sweep(later)).toBe(100); // finishes that pass, however large the budget
  expect(h.limiter.sweep(later)).toBe(400);
  expect(h.limiter.size()).toBe(0);
});

Deno.test("a sweep paused mid-pass and interleaved with new calls keeps every live entry", () => {
  const h = harness(rule({ cap: 1, perModel: rate(1_000, "minute") }));
  const ids: Partial<TakeRequest>[] = [];
  for (const agentId of ["a", "b", null]) {
    for (const modelId of ["m1", "m2", "m3"]) {
      // In agents mode the model is no part of the key (§12), so it goes into the session id.
      for (const s of ["s1", "s2", "s3"]) {
        ids.push({ agentId, modelId, sessionId: agentId === null ? s : modelId + s });
      }
    }
  }
  for (const id of ids) h.take(id);
  // 27 sessions; per_model: one per agent (a, b), one per model in open mode (3)
  expect(h.limiter.size()).toBe(27 + 5);
  h.advance(DAY_MS);
  for (const id of ids) {
    h.limiter.sweep(h.now(), 1);
    expect([id, h.take(id).ok]).toEqual([id, true]); // a fresh cap window after the expiry
  }
  for (let i = 0; i < 100; i++) h.limiter.sweep(h.now(), 7);
  expect(h.limiter.size()).toBe(27 + 5);
  for (const id of ids) {
    expect([id, denial(h.take(id)).reasonCode]).toEqual([id, "session_call_cap"]);
  }
});

Deno.test("bad clocks and options fail loudly instead of admitting", () => {
  const h = harness(rule({ cap: 5 }));
  expect(() => h.take({ now: NaN })).toThrow("Cannot apply rate limits");
  expect(() => h.limiter.sweep(Infinity)).toThrow("Cannot sweep limiter");
  expect(() => h.limiter.sweep(0, 0)).toThrow("maxEntries");
  expect(() => createLimiter({ capWindowMs: 0 })).toThrow("Cannot create limiter");
  const broken = rule({ perSession: { text: "1/x", limit: 1, windowMs: 0 } });
  expect(() => h.take({ rule: broken })).toThrow('Cannot apply rate limit "1/x"');
  expect(denial(h.take({ rule: rule({ cap: 0 }) })).reasonCode).toBe("session_call_cap");
});

Deno.test("a custom cap window is honoured", () => {
  const limiter: MemoryLimiter = createLimiter({ capWindowMs: 1_000 });
  const r = rule({ cap: 1 });
  const call = (now: number) =>
    limiter.take({ rule: r, agentId: null, modelId: "m", sessionId: "s", now });
  expect(call(0).ok).toBe(true);
  expect(denial(call(999)).retryAfterMs).toBe(1);
  expect(call(1_000).ok).toBe(true);
});
