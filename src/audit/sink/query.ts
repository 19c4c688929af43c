import type { AuditEvent, AuditStatus } from "../event/event.ts";

/** A checked `/logs` query (§9); null filters match everything. */
export interface LogQuery {
  /** Most recent matching events returned, 1..1000. */
  limit: number;
  /** Exact `status`. */
  status: AuditStatus | null;
  /** Exact `model_id`. */
  modelId: string | null;
  /** Exact `tool_name`. */
  toolName: string | null;
  /** Exact `session_id`. */
  sessionId: string | null;
  /** Exact `event`. */
  event: string | null;
  /** Only events whose timestamp is strictly after this instant (epoch ms). */
  since: number | null;
}

/** Default `limit`. */
export const DEFAULT_LOG_LIMIT = 100;

/** Largest `limit`. */
export const MAX_LOG_LIMIT = 1000;

const PARAMS = ["limit", "status", "model_id", "tool_name", "session_id", "event", "since"];
const STATUSES: readonly string[] = ["allowed", "blocked", "error", "forwarded", "pending"];
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Checks `/logs` query parameters; empty values mean "no filter" (and default limit). */
export function parseLogQuery(
  params: URLSearchParams,
): { ok: true; query: LogQuery } | { ok: false; error: string } {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!PARAMS.includes(key)) {
      return { ok: false, error: `Unknown query parameter (allowed: ${PARAMS.join(", ")})` };
    }
    if (seen.has(key)) return { ok: false, error: `Query parameter "${key}" given twice` };
    seen.add(key);
  }
  const value = (key: string): string | null => {
    const text = params.get(key);
    return text === null || text === "" ? null : text;
  };
  const limitText = value("limit");
  let limit = DEFAULT_LOG_LIMIT;
  if (limitText !== null) {
    limit = /^[0-9]{1,4}$/.test(limitText) ? Number(limitText) : 0;
    if (limit < 1 || limit > MAX_LOG_LIMIT) {
      return { ok: false, error: `Query parameter "limit" must be an integer from 1 to 1000` };
    }
  }
  const status = value("status");
  if (status !== null && !STATUSES.includes(status)) {
    return {
      ok: false,
      error: `Query parameter "status" must be allowed, blocked, error, forwarded or pending`,
    };
  }
  const sinceText = value("since");
  let since: number | null = null;
  if (sinceText !== null) {
    since = ISO_8601.test(sinceText) ? Date.parse(sinceText) : Number.NaN;
    if (!Number.isFinite(since)) {
      return { ok: false, error: `Query parameter "since" must be an ISO 8601 timestamp` };
    }
  }
  return {
    ok: true,
    query: {
      limit,
      status: status as AuditStatus | null,
      modelId: value("model_id"),
      toolName: value("tool_name"),
      sessionId: value("session_id"),
      event: value("event"),
      since,
    },
  };
}

/** Events by position, oldest first, read one at a time (an array is one). */
export interface EventList {
  /** How many events. */
  readonly length: number;
  /** The event at `index`. */
  at(index: number): AuditEvent | undefined;
  /** Only the `timestamp` of the event at `index`, when that is cheaper than the whole event. */
  timestampAt?(index: number): string;
}

/** The most recent `query.limit` events matching `query`, newest last. */
export function selectEvents(events: EventList, query: LogQuery): AuditEvent[] {
  const picked: AuditEvent[] = [];
  for (let i = events.length - 1; i >= 0 && picked.length < query.limit; i--) {
    if (
      query.since !== null && events.timestampAt !== undefined &&
      !(Date.parse(events.timestampAt(i)) > query.since)
    ) continue;
    const event = events.at(i);
    if (event !== undefined && matches(event, query)) picked.push(event);
  }
  return picked.reverse();
}

function matches(event: AuditEvent, query: LogQuery): boolean {
  if (query.status !== null && event.status !== query.status) return false;
  if (query.modelId !== null && event.model_id !== query.modelId) return false;
  if (query.toolName !== null && event.tool_name !== query.toolName) return false;
  if (query.sessionId !== null && event.session_id !== query.sessionId) return false;
  if (query.event !== null && event.event !== query.event) return false;
  if (query.since !== null && !(Date.parse(event.timestamp) > query.since)) return false;
  return true;
}

/** Merges event lists (each oldest first, as `selectEvents` gives them) by timestamp, and keeps
 * the most recent `limit`, newest last. Ties keep the lists' order. */
export function mergeEvents(
  lists: readonly (readonly AuditEvent[])[],
  limit: number,
): AuditEvent[] {
  const all = lists.flat();
  if (lists.length <= 1) return all.slice(-limit);
  const stamped = all.map((event, index) => ({ event, index, time: Date.parse(event.timestamp) }));
  stamped.sort((a, b) => (a.time - b.time) || (a.index - b.index));
  return stamped.slice(-limit).map((s) => s.event);
}
