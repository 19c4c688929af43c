// Tool pins shared by replicas (SPEC §5.6, §13): one Redis hash `<REDIS_PREFIX>pins` (field
// `<upstream>/<tool>`, value the pin record as JSON), never expired (a pin is kept until a change is
// approved). The first replica to see a tool pins it (HSETNX: the first definition seen wins
// everywhere); an approval rewrites the pin and, in the same Lua script, tells every replica on
// `<REDIS_PREFIX>pins` so that none serves a catalog checked against the old pin. Every call is
// bounded by the connection's timeout and rejects with `StateUnavailableError`: fail closed.
import type { Redis } from "ioredis";
import {
  legacyToolDefinitionHash,
  PIN_RECIPE,
  pinKey,
  type PinnableTool,
  type PinObservation,
  type PinRecord,
  type PinStore,
  toolDefinitionHash,
} from "../mcp/federation/pins.ts";
import { parseStoredObject, type RedisConnection, subscribeTo } from "./redis_client.ts";

/** The shared store did not answer (or answered something that is not a pin): fail closed. */
export class StateUnavailableError extends Error {
  /** Always `state_unavailable`. */
  readonly reasonCode = "state_unavailable" as const;
}

/** Largest pin record accepted back from the store. */
const MAX_PIN_BYTES = 4096;
/** Largest change message accepted on the channel. */
const MAX_MESSAGE_BYTES = 1024;

// KEYS[1] pins hash, KEYS[2] channel; ARGV: field, hash, now (ISO), recipe, message.
// pinned_at is kept from the old record; approved_at is now.
const APPROVE_SCRIPT = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
local pinned = ARGV[3]
if old then
  local ok, rec = pcall(cjson.decode, old)
  if ok and type(rec) == 'table' and type(rec.pinned_at) == 'string' then pinned = rec.pinned_at end
end
local record = cjson.encode({hash = ARGV[2], recipe = tonumber(ARGV[4]), pinned_at = pinned,
  approved_at = ARGV[3]})
redis.call('HSET', KEYS[1], ARGV[1], record)
redis.call('PUBLISH', KEYS[2], ARGV[5])
return record`;

// KEYS[1] pins hash; ARGV: field, expected old value, new value. Compare-and-set (recipe upgrade).
const REPLACE_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`;

/** Parses a stored pin; undefined when it is not exactly one. */
export function parsePinRecord(text: string): PinRecord | undefined {
  const v = parseStoredObject(text, MAX_PIN_BYTES);
  if (v === undefined) return undefined;
  if (typeof v.hash !== "string" || !/^[0-9a-f]{64}$/.test(v.hash)) return undefined;
  if (typeof v.pinned_at !== "string" || v.pinned_at.length > 64) return undefined;
  if (v.recipe !== undefined && v.recipe !== 1 && v.recipe !== PIN_RECIPE) return undefined;
  if (
    v.approved_at !== undefined && (typeof v.approved_at !== "string" || v.approved_at.length > 64)
  ) return undefined;
  return {
    hash: v.hash,
    ...(v.recipe === undefined ? {} : { recipe: v.recipe as number }),
    pinned_at: v.pinned_at,
    ...(v.approved_at === undefined ? {} : { approved_at: v.approved_at as string }),
  };
}

/** Options of `openRedisPinStore`. */
export interface RedisPinOptions {
  /** The Redis connection (a second one is made for the change channel). */
  readonly redis: RedisConnection;
  /** Namespace (`REDIS_PREFIX`). */
  readonly prefix: string;
  /** This replica's GATEWAY_ID (its own messages are not handed back). */
  readonly gatewayId: string;
  /** Bound on subscribing at start. */
  readonly timeoutMs: number;
  /** Pins to add where Redis has none yet (a replica's PINS_PATH from before Redis). */
  readonly seed?: ReadonlyMap<string, Readonly<PinRecord>>;
  /** Operational log. */
  readonly log: { info(message: string): void; warn(message: string): void };
}

/** A pin store on Redis, with `onChange` for pins changed by another replica. */
export interface RedisPinStore extends PinStore {
  observe(upstream: string, tool: PinnableTool, now: number): Promise<PinObservation>;
  approve(upstream: string, tool: string, hash: string, now: number): Promise<void>;
  get(upstream: string, tool: string): Promise<Readonly<PinRecord> | undefined>;
  onChange(listener: (upstream: string | null) => void): () => void;
  /** Stops listening for other replicas' changes. */
  close(): void;
}

/** Opens the shared pins; rejects with `Cannot open the shared pins …` when Redis does not answer. */
export async function openRedisPinStore(options: RedisPinOptions): Promise<RedisPinStore> {
  const { redis, gatewayId, log } = options;
  const client: Redis = redis.client;
  const key = `${options.prefix}pins`;
  const channel = `${options.prefix}pins`;
  const listeners = new Set<(upstream: string | null) => void>();
  let subscriber: Redis;
  try {
    subscriber = await subscribeTo(redis, channel, options.timeoutMs * 4);
  } catch (error) {
    throw new Error(`Cannot open the shared pins in Redis: ${(error as Error).message}`);
  }
  try {
    if (options.seed !== undefined && options.seed.size > 0) {
      const batch = client.multi();
      for (const [field, record] of options.seed) batch.hsetnx(key, field, JSON.stringify(record));
      await batch.exec();
    }
  } catch (error) {
    subscriber.disconnect();
    throw new Error(`Cannot open the shared pins in Redis: ${(error as Error).message}`);
  }
  const tell = (upstream: string | null) => {
    for (const listener of listeners) listener(upstream);
  };
  subscriber.on("message", (from: string, message: string) => {
    if (from !== channel || message.length > MAX_MESSAGE_BYTES) return;
    let parsed: { from?: unknown; upstream?: unknown; tool?: unknown };
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (parsed?.from === gatewayId || typeof parsed?.upstream !== "string") return;
    log.info(
      `Pin of ${JSON.stringify(String(parsed.tool).slice(0, 200))} approved on replica ` +
        `${JSON.stringify(String(parsed.from).slice(0, 128))}; catalog of upstream ` +
        `${JSON.stringify(parsed.upstream.slice(0, 128))} read again on next use`,
    );
    tell(parsed.upstream);
  });
  // Messages sent while this replica was cut off are lost: after a reconnection every catalog
  // is checked against the pins again.
  let connected = true;
  subscriber.on("close", () => connected = false);
  subscriber.on("ready", () => {
    if (connected) return;
    connected = true;
    log.warn("Shared pins: reconnected; every catalog is checked against the pins again");
    tell(null);
  });

  const fail = (what: string, error: unknown) =>
    new StateUnavailableError(
      `the shared pin store (Redis) cannot be reached (${what}: ${(error as Error).message})`,
    );
  const parse = (text: string, field: string) => {
    const record = parsePinRecord(text);
    if (record === undefined) {
      throw new StateUnavailableError(`the shared pin of "${field}" is malformed in Redis`);
    }
    return record;
  };
  async function get(upstream: string, tool: string) {
    const field = pinKey(upstream, tool);
    let text: string | null;
    try {
      text = await client.hget(key, field);
    } catch (error) {
      throw fail("read", error);
    }
    return text === null ? undefined : parse(text, field);
  }
  return {
    get,
    async observe(upstream, tool: PinnableTool, now) {
      const field = pinKey(upstream, tool.name);
      const hash = toolDefinitionHash(tool);
      const fresh = JSON.stringify({
        hash,
        recipe: PIN_RECIPE,
        pinned_at: new Date(now).toISOString(),
      });
      let answers: [Error | null, unknown][] | null;
      try {
        answers = await client.multi().hsetnx(key, field, fresh).hget(key, field).exec();
      } catch (error) {
        throw fail("pin", error);
      }
      const [added, stored] = answers ?? [];
      if (!added || !stored || added[0] || stored[0] || typeof stored[1] !== "string") {
        throw fail("pin", added?.[0] ?? stored?.[0] ?? new Error("no answer"));
      }
      if (added[1] === 1) return { state: "new", hash };
      const pinned = parse(stored[1], field);
      if (pinned.recipe === PIN_RECIPE) {
        return { state: pinned.hash === hash ? "pinned" : "changed", hash };
      }
      if (pinned.hash !== legacyToolDefinitionHash(tool)) return { state: "changed", hash };
      const upgraded = JSON.stringify({ ...pinned, hash, recipe: PIN_RECIPE });
      try {
        await client.eval(REPLACE_SCRIPT, 1, key, field, stored[1], upgraded);
      } catch (error) {
        throw fail("upgrade", error);
      }
      return { state: "pinned", hash, upgraded: true };
    },
    async approve(upstream, tool, hash, now) {
      const message = JSON.stringify({ from: gatewayId, upstream, tool });
      try {
        await client.eval(
          APPROVE_SCRIPT,
          2,
          key,
          channel,
          pinKey(upstream, tool),
          hash,
          new Date(now).toISOString(),
          String(PIN_RECIPE),
          message,
        );
      } catch (error) {
        throw fail("approve", error);
      }
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush: () => Promise.resolve(),
    close: () => subscriber.disconnect(),
  };
}
