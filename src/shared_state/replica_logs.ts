// `/logs` on any replica shows every replica's recent events (SPEC §13). Each replica copies the
// audit lines its sink has just written (handed over by the sink's flush, never per request) into
// a capped Redis list `<REDIS_PREFIX>logs:<GATEWAY_ID>` at most every `publishEveryMs`, in one
// MULTI (RPUSH, LTRIM to `maxLines`, PEXPIRE), and records itself in the sorted set
// `<REDIS_PREFIX>logs:replicas` (score: time of its last copy). A reader takes the other replicas'
// lists in one pipeline; lines read back are checked (size, JSON object, timestamp) before use.
// Redis away: nothing blocks (lines wait, bounded, newest kept), and the reader says who is missing.
import { parseStoredObject } from "./redis_client.ts";
import type { Redis } from "ioredis";
import type { AuditEvent } from "../audit/event/event.ts";
import { lineTimestamp } from "../audit/event/line.ts";
import type { EventList } from "../audit/sink/query.ts";

/** A replica's name as `GATEWAY_ID` allows it (anything else read from Redis is ignored). */
const REPLICA_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Largest line accepted back (a line holds at most ~8 KiB of payload and its fields). */
const MAX_LINE_CHARS = 64 * 1024;
/** Most replicas read by one `/logs`. */
const MAX_REPLICAS = 32;

/** Options of `createReplicaLogs`. */
export interface ReplicaLogOptions {
  /** The Redis client (bounded commands, no offline queue). */
  readonly client: Redis;
  /** Namespace (`REDIS_PREFIX`). */
  readonly prefix: string;
  /** This replica's GATEWAY_ID. */
  readonly gatewayId: string;
  /** Lines kept per replica, in Redis and waiting here (default 1000). */
  readonly maxLines?: number;
  /** Delay between two copies to Redis (default 250 ms). */
  readonly publishEveryMs?: number;
  /** A replica silent this long is forgotten, its list expired by Redis (default 1 day). */
  readonly keepMs?: number;
  /** Wall clock. */
  readonly clock: () => number;
  /** Operational log (one line per failure episode). */
  readonly log: { warn(message: string): void; info(message: string): void };
}

/** What the other replicas hold, as `/logs` merges it. */
export interface OtherReplicas {
  /** Each readable replica's recent events, oldest first, parsed (and checked) only when asked
   * for: `/logs` reads from the newest back until its limit, skipping by timestamp first. */
  readonly events: EventList[];
  /** The replicas read (this one excluded). */
  readonly read: string[];
  /** The replicas that could not be read: the last ones known when Redis does not answer
   * (`*` when none was ever known). */
  readonly unavailable: string[];
}

/** This replica's side of the shared recent events. */
export interface ReplicaLogs {
  /** Hands over the bytes of complete audit lines just written (from the sink's flush). */
  written(bytes: Uint8Array): void;
  /** The other replicas' recent events. Never rejects. */
  readOthers(): Promise<OtherReplicas>;
  /** Copies what waits, then stops. */
  close(): Promise<void>;
}

/** Parses a line read back from Redis; undefined unless it is an audit event. */
export function parseReplicaLine(line: string): AuditEvent | undefined {
  const v = parseStoredObject(line, MAX_LINE_CHARS);
  if (v === undefined) return undefined;
  if (typeof v.timestamp !== "string" || !Number.isFinite(Date.parse(v.timestamp))) {
    return undefined;
  }
  if (typeof v.event_id !== "string" || typeof v.event !== "string") return undefined;
  return v as unknown as AuditEvent;
}

/** Lines read back as an `EventList`: a line is parsed and checked only when asked for, and its
 * timestamp read without parsing (a line not shaped like an audit line has none). */
export function lazyEvents(lines: readonly string[]): EventList {
  return {
    length: lines.length,
    at: (index) => lines[index] === undefined ? undefined : parseReplicaLine(lines[index]),
    timestampAt: (index) => {
      const line = lines[index] ?? "";
      return line.startsWith('{"timestamp":"') ? lineTimestamp(line.slice(0, 64)) : "";
    },
  };
}

/** Starts copying this replica's written lines to Redis (a timer, unref'd). */
export function createReplicaLogs(options: ReplicaLogOptions): ReplicaLogs {
  const { client, prefix, gatewayId, clock, log } = options;
  const maxLines = Math.max(1, options.maxLines ?? 1000);
  const keepMs = options.keepMs ?? 24 * 60 * 60 * 1000;
  const listKey = (name: string) => `${prefix}logs:${name}`;
  const replicasKey = `${prefix}logs:replicas`;
  const decoder = new TextDecoder();
  let waiting: string[] = [];
  let sending: Promise<void> | null = null;
  let failing = false;
  let known: string[] = [];

  async function publish(): Promise<void> {
    if (waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    const now = clock();
    try {
      const answers = await client.multi()
        .rpush(listKey(gatewayId), ...batch)
        .ltrim(listKey(gatewayId), -maxLines, -1)
        .pexpire(listKey(gatewayId), keepMs)
        .zadd(replicasKey, now, gatewayId)
        .zremrangebyscore(replicasKey, 0, now - keepMs)
        .pexpire(replicasKey, keepMs)
        .exec();
      const failed = answers?.find(([error]) => error !== null)?.[0];
      if (failed) throw failed;
      if (failing) log.info("Recent events copied to Redis again (/logs of other replicas)");
      failing = false;
    } catch (error) {
      // Kept for the next try, newest first to survive the bound.
      waiting = [...batch, ...waiting].slice(-maxLines);
      if (!failing) {
        log.warn(
          `Cannot copy recent events to Redis (/logs of other replicas): ${
            (error as Error).message
          }`,
        );
      }
      failing = true;
    }
  }
  const timer = setInterval(() => {
    if (sending !== null || waiting.length === 0) return;
    sending = publish().finally(() => sending = null);
  }, Math.max(10, options.publishEveryMs ?? 250));
  Deno.unrefTimer(timer);

  return {
    written(bytes) {
      const lines = decoder.decode(bytes).split("\n");
      for (const line of lines) if (line !== "") waiting.push(line);
      if (waiting.length > maxLines) waiting = waiting.slice(-maxLines);
    },
    async readOthers() {
      let names: string[];
      try {
        names = (await client.zrangebyscore(replicasKey, clock() - keepMs, "+inf"))
          .filter((name) => name !== gatewayId && REPLICA_NAME.test(name))
          .slice(0, MAX_REPLICAS);
      } catch {
        return { events: [], read: [], unavailable: known.length > 0 ? [...known] : ["*"] };
      }
      known = names;
      if (names.length === 0) return { events: [], read: [], unavailable: [] };
      let answers: [Error | null, unknown][] | null = null;
      try {
        const pipeline = client.pipeline();
        for (const name of names) pipeline.lrange(listKey(name), -maxLines, -1);
        answers = await pipeline.exec();
      } catch {
        answers = null;
      }
      const events: EventList[] = [];
      const read: string[] = [];
      const unavailable: string[] = [];
      names.forEach((name, i) => {
        const [error, lines] = answers?.[i] ?? [new Error("no answer"), null];
        if (error !== null || !Array.isArray(lines)) return void unavailable.push(name);
        read.push(name);
        events.push(lazyEvents(lines.filter((line): line is string => typeof line === "string")));
      });
      return { events, read, unavailable };
    },
    async close() {
      clearInterval(timer);
      await sending;
      await publish();
    },
  };
}
