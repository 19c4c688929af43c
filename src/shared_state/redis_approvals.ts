// Held calls shared by replicas (SPEC §15, §13): each record is one Redis string
// `<prefix>appr:<id>` (JSON, expired by Redis `keepMs` after its deadline) and the pending ones
// are indexed in the sorted set `<prefix>appr:pending` (score = creation time). Every transition
// reads the record, applies the same rule as the in-memory store and writes it back with one Lua
// compare-and-set (the write happens only if the record is still the one read), so a decision and
// a use happen once across all replicas. Each change is published on `<prefix>approvals`: the
// replica holding the waiting call learns of a decision made on another one without polling.
import type { Redis } from "ioredis";
import type { ApprovalRecord, ApprovalState } from "../approvals/approval.ts";
import {
  isApprovalId,
  MAX_PENDING_APPROVALS,
  MAX_PENDING_PER_AGENT,
} from "../approvals/approval.ts";
import {
  type ApprovalResult,
  type ApprovalStore,
  type ApprovalStoreOptions,
  consumeTransition,
  createWatchers,
  decideTransition,
  keepMs,
} from "../approvals/store.ts";
import { effectiveState } from "../approvals/approval.ts";
import { parseStoredObject, type RedisConnection, subscribeTo } from "./redis_client.ts";

/** Writes ARGV[2] over KEYS[1] only if it still holds ARGV[1]; publishes the id on change. */
const SWAP_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
if ARGV[3] ~= 'pending' then redis.call('ZREM', KEYS[2], ARGV[4]) end
redis.call('PUBLISH', KEYS[3], ARGV[4])
return 1`;

/** Largest record accepted back from the store (a hostile or corrupted value is refused). */
const MAX_RECORD_BYTES = 64 * 1024;

/** Attempts of one transition when another replica changed the record in between. */
const MAX_SWAPS = 3;

const STATES: readonly ApprovalState[] = [
  "pending",
  "approved",
  "denied",
  "expired",
  "withdrawn",
  "used",
];

/** Options of `openRedisApprovals`. */
export interface RedisApprovalOptions extends ApprovalStoreOptions {
  /** The Redis connection (a second one is made for the subscription). */
  readonly redis: RedisConnection;
  /** Namespace of the keys and channel (REDIS_PREFIX). */
  readonly prefix: string;
  /** Bound on Redis calls (REDIS_TIMEOUT_MS); subscribing at start may take four times that. */
  readonly redisTimeoutMs: number;
  /** Operational log. */
  readonly log: { warn(message: string): void };
}

/** Parses a stored record; undefined for anything that is not exactly one. */
export function parseApprovalRecord(text: string | null): ApprovalRecord | undefined {
  const v = parseStoredObject(text, MAX_RECORD_BYTES);
  if (v === undefined) return undefined;
  const str = (x: unknown) => typeof x === "string";
  const num = (x: unknown) => typeof x === "number" && Number.isFinite(x);
  if (
    !isApprovalId(v.id) || !STATES.includes(v.state as ApprovalState) ||
    (v.door !== "mcp" && v.door !== "api") || !str(v.toolName) ||
    !(v.agentId === null || str(v.agentId)) || !str(v.modelId) || !str(v.sessionId) ||
    !str(v.inputSha256) || !str(v.eventId) || !str(v.inputText) || !num(v.createdAt) ||
    !num(v.deadline) || !(v.usedAt === undefined || num(v.usedAt))
  ) return undefined;
  if (v.decided !== undefined) {
    const d = v.decided as Record<string, unknown> | null;
    if (
      typeof d !== "object" || d === null || (d.decision !== "approve" && d.decision !== "deny") ||
      !str(d.by) || !str(d.note) || !num(d.at)
    ) return undefined;
  }
  return v as unknown as ApprovalRecord;
}

/** Opens the shared approvals; rejects with `Cannot open the shared approvals …` when Redis is away. */
export async function openRedisApprovals(options: RedisApprovalOptions): Promise<ApprovalStore> {
  const { redis, prefix } = options;
  const client: Redis = redis.client;
  const maxPending = options.maxPending ?? MAX_PENDING_APPROVALS;
  const maxPerAgent = options.maxPerAgent ?? MAX_PENDING_PER_AGENT;
  const keep = keepMs(options.timeoutMs);
  const key = (id: string) => `${prefix}appr:${id}`;
  const index = `${prefix}appr:pending`;
  const channel = `${prefix}approvals`;
  const watchers = createWatchers();
  const notify = watchers.notify;
  let subscriber: Redis;
  try {
    subscriber = await subscribeTo(redis, channel, options.redisTimeoutMs * 4);
  } catch (error) {
    throw new Error(`Cannot open the shared approvals in Redis: ${(error as Error).message}`);
  }
  subscriber.on("message", (from: string, message: string) => {
    if (from === channel && isApprovalId(message)) notify(message);
  });
  // Messages sent while this replica was cut off are lost: every waiting call looks again.
  let connected = true;
  subscriber.on("close", () => connected = false);
  subscriber.on("ready", () => {
    if (connected) return;
    connected = true;
    options.log.warn("Shared approvals: reconnected; every waiting call checks its approval again");
    for (const id of [...watchers.ids()]) notify(id);
  });

  const read = async (id: string): Promise<{ text: string | null; record?: ApprovalRecord }> => {
    const text = await client.get(key(id));
    return { text, record: parseApprovalRecord(text) };
  };
  /** Reads, applies `rule`, writes back if nothing changed in between (else tries again). */
  const transition = async (
    id: string,
    rule: (record: ApprovalRecord | undefined) => ApprovalResult,
  ): Promise<ApprovalResult> => {
    let last: ApprovalRecord | undefined;
    for (let attempt = 0; attempt < MAX_SWAPS; attempt++) {
      const { text, record } = await read(id);
      last = record;
      const result = rule(record);
      if (!result.ok || text === null) return result;
      const next = JSON.stringify(result.record);
      const swapped = await client.eval(
        SWAP_SCRIPT,
        3,
        key(id),
        index,
        channel,
        text,
        next,
        result.record.state,
        id,
      );
      if (swapped === 1) return result;
    }
    return {
      ok: false,
      reason: `approval ${id} is being changed by another replica; try again`,
      ...(last ? { record: last } : {}),
    };
  };
  /** The records of the ids in `range` that `keep` accepts; ids of missing or unwanted ones are
   * dropped from the index. */
  const fromIndex = async (
    range: [min: number | string, max: number | string],
    keep: (record: ApprovalRecord) => boolean,
  ): Promise<ApprovalRecord[]> => {
    const ids = (await client.zrangebyscore(index, range[0], range[1], "LIMIT", 0, maxPending))
      .filter(isApprovalId);
    if (ids.length === 0) return [];
    const texts = await client.mget(ids.map(key));
    const records: ApprovalRecord[] = [];
    const gone: string[] = [];
    texts.forEach((text, i) => {
      const record = parseApprovalRecord(text);
      if (record !== undefined && keep(record)) records.push(record);
      else if (record === undefined || record.state !== "pending") gone.push(ids[i]);
    });
    if (gone.length > 0) await client.zrem(index, ...gone);
    return records;
  };
  // Created within the last timeout: may still be pending. Older ones are overdue (or settled).
  const pendingNow = (now: number) =>
    fromIndex(
      [now - options.timeoutMs, "+inf"],
      (record) => effectiveState(record, now) === "pending",
    );
  return {
    kind: "redis",
    async create(record, now) {
      // Limits are counted here, then the record is added: across replicas they can be passed by
      // the few calls held at the same instant, never by more.
      const pending = await pendingNow(now);
      if (pending.length >= maxPending) {
        return { ok: false, reason: `${maxPending} calls already wait for approval` };
      }
      if (pending.filter((held) => held.agentId === record.agentId).length >= maxPerAgent) {
        return {
          ok: false,
          reason: `${maxPerAgent} calls of this agent already wait for approval`,
        };
      }
      const ttl = Math.max(1, Math.ceil(record.deadline + keep - now));
      await client.multi()
        .set(key(record.id), JSON.stringify(record), "PX", ttl, "NX")
        .zadd(index, record.createdAt, record.id)
        .exec();
      return { ok: true, record };
    },
    async get(id) {
      return (await read(id)).record;
    },
    pending: pendingNow,
    overdue: (now) =>
      fromIndex(
        ["-inf", now - options.timeoutMs - 1],
        (record) => record.state === "pending" && effectiveState(record, now) === "expired",
      ),
    decide: (id, decision) => transition(id, (record) => decideTransition(record, id, decision)),
    consume: (id, call, now) =>
      transition(
        id,
        (record) => consumeTransition(record, { id, call, now, timeoutMs: options.timeoutMs }),
      ),
    settle: (id, to) =>
      transition(id, (record) => {
        if (record === undefined) return { ok: false, reason: `no approval ${id}` };
        if (record.state !== "pending") {
          return { ok: false, reason: `approval ${id} is already ${record.state}`, record };
        }
        return { ok: true, record: { ...record, state: to } };
      }),
    watch: watchers.watch,
    close: () => subscriber.disconnect(),
  };
}
