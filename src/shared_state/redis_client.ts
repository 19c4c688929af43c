// The connection to Redis (SPEC §13), with the bounds that make it fail closed: every command
// answers within `timeoutMs` or rejects, commands are refused at once (no offline queue) while
// the connection is down, and the client reconnects by itself in the background.
import { Redis } from "ioredis";

/** Options of `connectRedis`. */
export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  readonly url: string;
  /** Bound on every command and on connecting, in milliseconds. */
  readonly timeoutMs: number;
  /** Called when the connection comes up or goes down (not for every retry). */
  readonly onChange?: (up: boolean, detail: string) => void;
}

/** A bounded Redis connection. */
export interface RedisConnection {
  /** The client (commands time out after `timeoutMs`; none are queued while down). */
  readonly client: Redis;
  /** True while the connection is ready for commands. */
  readonly up: boolean;
  /** A second connection for SUBSCRIBE (a subscribed connection can send nothing else). */
  duplicate(): Redis;
  /** Closes the connection (and every duplicate made). */
  close(): Promise<void>;
}

/** Longest pause between two reconnection attempts. */
export const MAX_RECONNECT_DELAY_MS = 500;

/** Opens the connection; rejects with `Cannot connect to Redis …` when it is not up in time. */
export async function connectRedis(options: RedisOptions): Promise<RedisConnection> {
  const settings = {
    lazyConnect: true,
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Keep trying forever, quickly: the gateway refuses what needs the store until it is back.
    retryStrategy: (times: number) => Math.min(times * 50, MAX_RECONNECT_DELAY_MS),
  };
  let client: Redis;
  try {
    client = new Redis(options.url, settings);
  } catch (error) {
    throw new Error(`Cannot connect to Redis: REDIS_URL is not usable (${describe(error)})`);
  }
  const duplicates: Redis[] = [];
  let up = false;
  client.on("ready", () => {
    if (!up) options.onChange?.(true, "connected");
    up = true;
  });
  client.on("close", () => {
    if (up) options.onChange?.(false, "connection closed");
    up = false;
  });
  // Errors are reported through `close` and through the commands that fail; an unhandled
  // "error" event would otherwise be printed by the client for every retry.
  client.on("error", () => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out")), options.timeoutMs * 4);
      }),
    ]);
  } catch (error) {
    client.disconnect();
    throw new Error(`Cannot connect to Redis at ${safeTarget(options.url)}: ${describe(error)}`);
  } finally {
    clearTimeout(timer);
  }
  return {
    client,
    get up() {
      return up && client.status === "ready";
    },
    duplicate() {
      const copy = client.duplicate({ ...settings, lazyConnect: false });
      copy.on("error", () => {});
      duplicates.push(copy);
      return copy;
    },
    async close() {
      for (const copy of duplicates) copy.disconnect();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/**
 * A second connection of `redis` subscribed to `channel`, ready within `timeoutMs` or rejected
 * (the connection closed again): the pub/sub side of reloads, pins and approvals (§13).
 */
export async function subscribeTo(
  redis: RedisConnection,
  channel: string,
  timeoutMs: number,
): Promise<Redis> {
  const subscriber = redis.duplicate();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      subscriber.status === "ready"
        ? Promise.resolve()
        : new Promise<void>((resolve) => subscriber.once("ready", () => resolve())),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
      }),
    ]);
    await subscriber.subscribe(channel);
    return subscriber;
  } catch (error) {
    subscriber.disconnect();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** A JSON object read back from Redis, at most `maxChars` long; undefined for anything else
 * (Redis is inside the trust boundary, but what it returns is parsed strictly all the same). */
export function parseStoredObject(
  text: string | null,
  maxChars: number,
): Record<string, unknown> | undefined {
  if (text === null || text.length > maxChars) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}

/** The URL's host and port only: never its password (no secret in logs). */
export function safeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return "(unparsable REDIS_URL)";
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
