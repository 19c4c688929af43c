// Where the state that replicas must share lives (SPEC §13): in this process (the default, one
// replica) or in Redis (REDIS_URL). Not to be confused with src/state/, the policy in force.
import { createLimiter, type Limiter } from "../limits/limiter.ts";
import { connectRedis, type RedisConnection } from "./redis_client.ts";
import { createRedisLimiter } from "./redis_limiter.ts";
import { createRedisSessions, type SharedSessions } from "./session_records.ts";

/** The shared state of the gateway: limiter counters, and whether the store answers. */
export interface SharedState {
  /** `memory` (one process) or `redis` (every replica on one Redis). */
  readonly kind: "memory" | "redis";
  /** Caps and rate windows. */
  readonly limiter: Limiter;
  /** False while the store cannot be reached (calls needing it are then refused). */
  readonly healthy: boolean;
  /** MCP session records for other replicas; undefined in memory (one process). */
  readonly sessions?: SharedSessions;
  /** The Redis connection; undefined in memory. */
  readonly redis?: RedisConnection;
  /** Closes the store's connections. */
  close(): Promise<void>;
}

/** Options of `openSharedState`. */
export interface SharedStateOptions {
  /** Redis URL; undefined = in-memory. */
  readonly redisUrl?: string;
  /** Namespace of every key. */
  readonly prefix: string;
  /** Bound on every store call. */
  readonly timeoutMs: number;
  /** Idle time after which a session record expires (SESSION_IDLE_MS). */
  readonly sessionIdleMs: number;
  /** Operational messages (connection lost and back, failed calls). */
  readonly log: { info(message: string): void; error(message: string): void };
}

/** The in-memory shared state: one process, always healthy. */
export function memorySharedState(): SharedState {
  return {
    kind: "memory",
    limiter: createLimiter(),
    healthy: true,
    close: () => Promise.resolve(),
  };
}

/** Opens the shared state; rejects with `Cannot connect to Redis …` when Redis is not up. */
export async function openSharedState(options: SharedStateOptions): Promise<SharedState> {
  if (options.redisUrl === undefined) return memorySharedState();
  const { log } = options;
  const redis = await connectRedis({
    url: options.redisUrl,
    timeoutMs: options.timeoutMs,
    onChange: (up, detail) =>
      up
        ? log.info(`Shared state (Redis) reachable again: ${detail}`)
        : log.error(`Shared state (Redis) lost, refusing what needs it: ${detail}`),
  });
  // At most one line a second about failing calls, however many are refused.
  let lastReport = -Infinity;
  const limiter = createRedisLimiter({
    client: redis.client,
    prefix: options.prefix,
    onError: (message) => {
      const now = performance.now();
      if (now - lastReport < 1000) return;
      lastReport = now;
      log.error(message);
    },
  });
  return {
    kind: "redis",
    limiter,
    get healthy() {
      return redis.up;
    },
    sessions: createRedisSessions({
      client: redis.client,
      prefix: options.prefix,
      idleMs: options.sessionIdleMs,
    }),
    redis,
    close: () => redis.close(),
  };
}
