// §12 "Limits are keyed on who is accountable": in agents mode per_model counts per (agent,
// rule) whatever model names the agent declares and whatever sessions it opens; open identity
// mode keys by the declared ids.
import { expect } from "expect";
import fc from "fast-check";
import { compileGlob as glob } from "../policy/glob.ts";
import type { RateSpec, Rule } from "../policy/types.ts";
import { createLimiter, type TakeResult } from "./limiter.ts";

function rule(
  model: string,
  limits: { cap?: number; perSession?: RateSpec; perModel?: RateSpec },
  index = 0,
): Rule {
  return {
    index,
    model: glob(model),
    allowTools: [glob("*")],
    denyTools: [],
    allowPrompts: [],
    denyPrompts: [],
    maxCallsPerSession: limits.cap,
    rateLimit: { perSession: limits.perSession, perModel: limits.perModel },
  };
}

const perMinute = (limit: number): RateSpec => ({
  text: `${limit}/minute`,
  limit,
  windowMs: 60_000,
});
const T0 = 1_700_000_040_000; // start of a minute bucket

function denial(result: TakeResult) {
  if (result.ok) throw new Error("expected a refusal");
  return result.denial;
}

Deno.test("agents mode: renaming the model does not escape per_model (claude-v1..vN)", () => {
  const limiter = createLimiter();
  const r = rule("claude-*", { perModel: perMinute(4) });
  for (let i = 1; i <= 4; i++) {
    expect(
      limiter.take({ rule: r, agentId: "a", modelId: `claude-v${i}`, sessionId: "s", now: T0 }),
    )
      .toEqual({ ok: true });
  }
  const refused = denial(
    limiter.take({ rule: r, agentId: "a", modelId: "claude-v5", sessionId: "s", now: T0 }),
  );
  expect(refused.reasonCode).toBe("rate_limited");
  expect(refused.reason).toBe(
    'rate limit 4/minute per model exceeded (counted for agent "a" under rule "claude-*")',
  );
  // Another agent under the same rule has its own quota.
  expect(limiter.take({ rule: r, agentId: "b", modelId: "claude-v5", sessionId: "s", now: T0 }).ok)
    .toBe(true);
});

Deno.test("agents mode: new sessions do not reset per_model; per_session stays per session", () => {
  const limiter = createLimiter();
  const r = rule("gpt-*", { perModel: perMinute(3), perSession: perMinute(2) });
  const take = (modelId: string, sessionId: string) =>
    limiter.take({ rule: r, agentId: "a", modelId, sessionId, now: T0 });
  expect(take("gpt-1", "s1").ok).toBe(true);
  expect(take("gpt-2", "s1").ok).toBe(true);
  // per_session counts (agent, rule, session): a new model name in the same session is no escape
  expect(denial(take("gpt-3", "s1")).reason).toContain("per session exceeded");
  expect(take("gpt-3", "s2").ok).toBe(true); // a new session: per_session fresh, per_model 3/3
  expect(denial(take("gpt-4", "s3")).reason).toContain("per model exceeded");
});

Deno.test("agents mode: max_calls_per_session counts per (agent, rule, session)", () => {
  const limiter = createLimiter();
  const r = rule("gpt-*", { cap: 2 });
  const take = (modelId: string, sessionId: string, agentId = "a") =>
    limiter.take({ rule: r, agentId, modelId, sessionId, now: T0 });
  expect(take("gpt-1", "s1").ok).toBe(true);
  expect(take("gpt-2", "s1").ok).toBe(true);
  const capped = denial(take("gpt-3", "s1"));
  expect(capped.reasonCode).toBe("session_call_cap");
  expect(capped.reason).toContain('(counted for agent "a" under rule "gpt-*")');
  expect(take("gpt-3", "s2").ok).toBe(true); // still per session
  expect(take("gpt-1", "s1", "b").ok).toBe(true); // and per agent
});

Deno.test("agents mode: each rule keeps its own counters; a reload keeping the glob keeps them", () => {
  const limiter = createLimiter();
  const claude = rule("claude-*", { perModel: perMinute(1) });
  const gpt = rule("gpt-*", { perModel: perMinute(1) }, 1);
  const take = (r: Rule, modelId: string) =>
    limiter.take({ rule: r, agentId: "a", modelId, sessionId: "s", now: T0 });
  expect(take(claude, "claude-1").ok).toBe(true);
  expect(take(gpt, "gpt-1").ok).toBe(true);
  // Same glob at another position after a reload: same counters (they survive reloads).
  const moved = rule("claude-*", { perModel: perMinute(1) }, 5);
  expect(denial(take(moved, "claude-2")).reasonCode).toBe("rate_limited");
});

Deno.test("open identity mode keys by the declared model id (as before)", () => {
  const limiter = createLimiter();
  const r = rule("claude-*", { perModel: perMinute(1) });
  const take = (modelId: string) =>
    limiter.take({ rule: r, agentId: null, modelId, sessionId: "s", now: T0 });
  expect(take("claude-v1").ok).toBe(true);
  expect(take("claude-v1").ok).toBe(false);
  expect(take("claude-v2").ok).toBe(true);
});

Deno.test("property: per_model admits at most N per agent per window, whatever models and sessions", () => {
  const agents = ["a", "b", "c"];
  const call = fc.record({
    agent: fc.constantFrom(...agents),
    // model names the rule's glob matches, including odd ones
    model: fc.string({ maxLength: 12 }).map((tail) => `claude-${tail}`),
    session: fc.string({ maxLength: 4 }),
    // milliseconds since T0, over three windows
    at: fc.integer({ min: 0, max: 3 * 60_000 - 1 }),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.array(call, { maxLength: 120 }),
      fc.boolean(),
      (limit, calls, withSessionLimit) => {
        const limiter = createLimiter();
        const r = rule("claude-*", {
          perModel: perMinute(limit),
          ...(withSessionLimit ? { perSession: perMinute(limit + 1) } : {}),
        });
        const sorted = [...calls].sort((x, y) => x.at - y.at);
        const admitted = new Map<string, number>(); // agent + window → admitted calls
        const perAgent = new Map<string, boolean[]>();
        for (const c of sorted) {
          const result = limiter.take({
            rule: r,
            agentId: c.agent,
            modelId: c.model,
            sessionId: c.session,
            now: T0 + c.at,
          });
          const key = `${c.agent}/${Math.floor(c.at / 60_000)}`;
          if (result.ok) admitted.set(key, (admitted.get(key) ?? 0) + 1);
          perAgent.set(c.agent, [...(perAgent.get(c.agent) ?? []), result.ok]);
        }
        for (const count of admitted.values()) expect(count).toBeLessThanOrEqual(limit);
        // No agent's admissions depend on another's calls: replayed alone, the same answers.
        for (const agent of agents) {
          const alone = createLimiter();
          const answers = sorted.filter((c) => c.agent === agent).map((c) =>
            alone.take({
              rule: r,
              agentId: agent,
              modelId: c.model,
              sessionId: c.session,
              now: T0 + c.at,
            }).ok
          );
          expect(answers).toEqual(perAgent.get(agent) ?? []);
        }
      },
    ),
    { numRuns: 300 },
  );
});
