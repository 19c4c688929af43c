// The in-memory limiter (SPEC §3, §12): the session call cap and the sliding-window rate limits.
// Counters are keyed on who is accountable. In agents mode that is the agent and the rule
// (named by its model glob, which stays the same across reloads): per_model counts per (agent,
// rule), whatever model names matching the glob the agent declares and whatever sessions it
// opens; the cap and per_session count per (agent, rule, session). In open identity mode there
// is no accountable agent, so the declared ids are the key: (model) and (model, session). A call
// is checked against every limit of its rule first and counted against all of them only when
// all admit it: a refused call consumes nothing.

import type { RateSpec, Rule } from "../policy/types.ts";
import type { Denial } from "../reasons.ts";
import { createEntryIndex } from "./entry_index.ts";
import { MAX_STORED } from "./records.ts";
import { capCommit, capWaitMs, DAY_MS, windowCommit, windowWaitMs } from "./window.ts";

/** One call to count: the rule that applies, who makes it, and when. */
export interface TakeRequest {
  /** The rule that matched the model. */
  readonly rule: Rule;
  /** Agent id; null in open identity mode. */
  readonly agentId: string | null;
  /** Model id as sent; part of the key only in open identity mode (agents mode keys by rule). */
  readonly modelId: string;
  /** Session id as sent. */
  readonly sessionId: string;
  /** Current time, epoch milliseconds. */
  readonly now: number;
}

/** The limiter's answer: admitted (and counted), or refused (and not counted). */
export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly denial: Denial };

/** The session cap and rate-limit counters of every (agent, rule, session), or in open identity
 * mode every (model, session): in this process (`createLimiter`) or in a shared store
 * (src/shared_state/redis_limiter.ts), whose answers come later. */
export interface Limiter {
  /** Checks a call against its rule's limits; counts it against all of them if all admit it. */
  take(request: TakeRequest): TakeResult | Promise<TakeResult>;
  /** Removes idle entries, visiting at most `maxEntries` (resumes where it stopped); returns how many. */
  sweep(now: number, maxEntries?: number): number;
  /** Number of tracked entries. */
  size(): number;
}

/** The in-memory limiter: answers at once. */
export interface MemoryLimiter extends Limiter {
  /** Checks a call against its rule's limits; counts it against all of them if all admit it. */
  take(request: TakeRequest): TakeResult;
}

/** How long each limit of a refused call still has to wait (0 = that limit admits it now). */
export interface LimitWaits {
  /** Wait of the session call cap. */
  readonly capWait: number;
  /** Wait of the per_session window. */
  readonly sessionWait: number;
  /** Wait of the per_model window. */
  readonly modelWait: number;
}

/** Options of `createLimiter`. */
export interface LimiterOptions {
  /** Length of the session-cap window; default 24 h. */
  readonly capWindowMs?: number;
}

/** Entries visited by one `sweep` call unless told otherwise. */
export const DEFAULT_SWEEP_BATCH = 10_000;

const ALLOWED: TakeResult = Object.freeze({ ok: true });

/** Creates an empty limiter. */
export function createLimiter(options: LimiterOptions = {}): MemoryLimiter {
  const capWindowMs = options.capWindowMs ?? DAY_MS;
  if (!isPositiveInteger(capWindowMs)) {
    throw new Error("Cannot create limiter: capWindowMs must be a positive integer");
  }
  const index = createEntryIndex(capWindowMs);
  const { records } = index;

  const take = (request: TakeRequest): TakeResult => {
    const { rule, now } = request;
    const cap = rule.maxCallsPerSession;
    const { perSession, perModel } = rule.rateLimit;
    if (cap === undefined && perSession === undefined && perModel === undefined) return ALLOWED;
    if (!Number.isFinite(now)) {
      throw new Error("Cannot apply rate limits: the clock is not a finite number");
    }
    checkSpec(perSession);
    checkSpec(perModel);

    const { agentId, modelId, sessionId } = request;
    // Agents mode: the rule's glob, the same string for every model name it matches (no string
    // built per call); open mode: the model id as declared.
    const scope = agentId === null ? modelId : rule.model.source;
    const bySession = cap !== undefined || perSession !== undefined;
    let group = index.find(agentId, scope);
    let sSlot = bySession ? group?.sessions.get(sessionId) ?? -1 : -1;
    let mSlot = perModel !== undefined && group !== undefined ? group.modelSlot : -1;
    const capC = cap === undefined ? undefined : records.readCap(sSlot);
    const sessionC = perSession && records.readWindow(sSlot, perSession.windowMs);
    const modelC = perModel && records.readWindow(mSlot, perModel.windowMs);

    const capWait = cap !== undefined && capC ? capWaitMs(capC, { limit: cap, now }) : 0;
    const sessionWait = perSession && sessionC
      ? windowWaitMs(sessionC, { limit: perSession.limit, now })
      : 0;
    const modelWait = perModel && modelC ? windowWaitMs(modelC, { limit: perModel.limit, now }) : 0;
    if (capWait > 0 || sessionWait > 0 || modelWait > 0) {
      return { ok: false, denial: limitDenial(request, { capWait, sessionWait, modelWait }) };
    }

    group ??= index.ensure(agentId, scope);
    if (bySession) {
      if (sSlot < 0) sSlot = index.addSession(group, sessionId);
      if (capC) records.writeCap(sSlot, capCommit(capC, now));
      if (sessionC) records.writeWindow(sSlot, windowCommit(sessionC, now));
    }
    if (modelC) {
      if (mSlot < 0) mSlot = index.addModel(group);
      records.writeWindow(mSlot, windowCommit(modelC, now));
    }
    return ALLOWED;
  };

  const sweep = (now: number, maxEntries: number = DEFAULT_SWEEP_BATCH): number => {
    if (!Number.isFinite(now)) throw new Error("Cannot sweep limiter: the clock is not finite");
    if (!isPositiveInteger(maxEntries)) {
      throw new Error("Cannot sweep limiter: maxEntries must be a positive integer");
    }
    return index.sweep(now, maxEntries);
  };

  return { take, sweep, size: () => index.size() };
}

/** The refusal of a call one of whose limits is full; every limit only frees up as time passes,
 * so the call fits once the longest wait is over. */
export function limitDenial(request: TakeRequest, waits: LimitWaits): Denial {
  const { rule, agentId, modelId } = request;
  const { capWait, sessionWait, modelWait } = waits;
  const { perSession, perModel } = rule.rateLimit;
  const retryAfterMs = Math.max(1, Math.ceil(Math.max(capWait, sessionWait, modelWait)));
  const whose = agentId === null
    ? ""
    : ` (counted for agent ${JSON.stringify(agentId)} under rule ${
      JSON.stringify(rule.model.source)
    })`;
  if (capWait > 0) {
    const reason = `session call cap of ${rule.maxCallsPerSession} reached for model ${
      JSON.stringify(modelId)
    }${whose} (resets in ${Math.ceil(capWait / 1000)} s)`;
    return { reasonCode: "session_call_cap", reason, retryAfterMs };
  }
  const reason = sessionWait > 0
    ? `rate limit ${perSession?.text} per session exceeded${whose}`
    : `rate limit ${perModel?.text} per model exceeded${whose}`;
  return { reasonCode: "rate_limited", reason, retryAfterMs };
}

/** Checks the window lengths of a rule's limits (from the policy parser); a broken one fails
 * closed rather than dividing by 0. */
export function checkRateSpecs(rule: Rule): void {
  checkSpec(rule.rateLimit.perSession);
  checkSpec(rule.rateLimit.perModel);
}

function isPositiveInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

// Window lengths come from the policy parser; a broken one fails closed rather than dividing by 0.
function checkSpec(spec: RateSpec | undefined): void {
  if (spec !== undefined && !(isPositiveInteger(spec.windowMs) && spec.windowMs <= MAX_STORED)) {
    throw new Error(`Cannot apply rate limit "${spec.text}": invalid window length`);
  }
}
