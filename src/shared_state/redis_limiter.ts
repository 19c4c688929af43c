// The limiter on Redis (SPEC §13): the same counters as src/limits/limiter.ts, shared by every
// replica. One script call per decision (limiter_script.ts) checks and counts atomically; when it
// refuses, the stored counters come back and the exact wait is computed here with the same pure
// functions the in-memory limiter uses, so both answer with the same words and the same waits.
// A store that cannot answer in time refuses the call: 503 `state_unavailable` (fail closed).
import type { Redis } from "ioredis";
import {
  checkRateSpecs,
  limitDenial,
  type Limiter,
  type TakeRequest,
  type TakeResult,
} from "../limits/limiter.ts";
import type { CapCounter, WindowCounter } from "../limits/window.ts";
import { capWaitMs, DAY_MS, windowWaitMs } from "../limits/window.ts";
import { LIMITER_LUA } from "./limiter_script.ts";

/** Options of `createRedisLimiter`. */
export interface RedisLimiterOptions {
  /** The connected client (its command timeout bounds every decision). */
  readonly client: Redis;
  /** Namespace of every key (REDIS_PREFIX). */
  readonly prefix: string;
  /** Length of the session-cap window; default 24 h. */
  readonly capWindowMs?: number;
  /** Told why a decision could not reach the store (operational log). */
  readonly onError?: (message: string) => void;
}

type LimitScript = (
  sessionKey: string,
  modelKey: string,
  ...args: (string | number)[]
) => Promise<(string | number)[]>;

const ALLOWED: TakeResult = Object.freeze({ ok: true });

/** The reason of a call refused because the shared store did not answer. */
export const STATE_UNAVAILABLE_REASON =
  "the shared state store (Redis) cannot be reached; refusing rather than allowing unlimited";

/** Creates a limiter whose counters live in Redis under `prefix`. */
export function createRedisLimiter(options: RedisLimiterOptions): Limiter {
  const { client, prefix } = options;
  const capWindowMs = options.capWindowMs ?? DAY_MS;
  client.defineCommand("mcpsecLimit", { numberOfKeys: 2, lua: LIMITER_LUA });
  const script = (client as unknown as { mcpsecLimit: LimitScript }).mcpsecLimit.bind(client);

  const take = async (request: TakeRequest): Promise<TakeResult> => {
    const { rule, now, agentId, modelId, sessionId } = request;
    const cap = rule.maxCallsPerSession;
    const { perSession, perModel } = rule.rateLimit;
    if (cap === undefined && perSession === undefined && perModel === undefined) return ALLOWED;
    if (!Number.isFinite(now)) {
      throw new Error("Cannot apply rate limits: the clock is not a finite number");
    }
    checkRateSpecs(rule);
    const scope = agentId === null ? modelId : rule.model.source;
    // JSON arrays: unambiguous whatever the ids contain (null agent ≠ agent named "null").
    const sessionKey = `${prefix}lim:s:${JSON.stringify([agentId, scope, sessionId])}`;
    const modelKey = `${prefix}lim:m:${JSON.stringify([agentId, scope])}`;
    let reply: (string | number)[];
    try {
      reply = await script(
        sessionKey,
        modelKey,
        Math.trunc(now),
        cap ?? -1,
        capWindowMs,
        perSession?.limit ?? -1,
        perSession?.windowMs ?? 1,
        perModel?.limit ?? -1,
        perModel?.windowMs ?? 1,
      );
    } catch (error) {
      options.onError?.(`Limiter store call failed: ${(error as Error).message}`);
      return unavailable();
    }
    if (!Array.isArray(reply) || reply.length === 0) return unavailable();
    if (reply[0] === 1) return ALLOWED;
    const [, cs, cc, sws, swc, swp, mws, mwc, mwp] = reply.map(String);
    const capC: CapCounter = { windowMs: capWindowMs, windowStart: time(cs), count: Number(cc) };
    const win = (windowMs: number, start: string, current: string, previous: string) =>
      ({
        windowMs,
        bucketStart: time(start),
        current: Number(current),
        previous: Number(previous),
      }) satisfies WindowCounter;
    const waits = {
      capWait: cap === undefined ? 0 : capWaitMs(capC, { limit: cap, now }),
      sessionWait: perSession
        ? windowWaitMs(win(perSession.windowMs, sws, swc, swp), { limit: perSession.limit, now })
        : 0,
      modelWait: perModel
        ? windowWaitMs(win(perModel.windowMs, mws, mwc, mwp), { limit: perModel.limit, now })
        : 0,
    };
    // The script refused: a refusal it is, even if the waits computed here disagree (1 ms then).
    return { ok: false, denial: limitDenial(request, waits) };
  };

  return { take, sweep: () => 0, size: () => 0 };
}

function time(text: string): number {
  return text === "" ? -Infinity : Number(text);
}

function unavailable(): TakeResult {
  return {
    ok: false,
    denial: { reasonCode: "state_unavailable", reason: STATE_UNAVAILABLE_REASON },
  };
}
