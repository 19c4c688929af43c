// Dashboard data helpers without DOM: the event store, filters, counters and latency series.
// Pure functions over plain objects, so they are unit-tested from Deno (tests/dashboard_test.ts).

/** Most events the page keeps; the oldest are dropped past this. */
export const MAX_ROWS = 2000;

/** Events that are decisions on a tool call (the decision API's and the proxy's `tools/call`). */
const CALL_EVENTS = new Set(["toolcall", "toolresult"]);

/** The statuses a call's closing line has; `forwarded` is the line written before an upstream
 * call, closed later by a line with the same `event_id`. */
const CLOSING = new Set(["allowed", "blocked", "error"]);

/** Lines written before a call's outcome, closed later by a line with the same `event_id`: held
 * for approval (§15), then forwarded upstream (§12). */
const INTERIM = ["pending", "forwarded"];

/** True for a call decision: a closing `toolcall`/`toolresult` line. Everything else (pin
 * changes, sessions, reloads, auth failures, prompts, resources, forwarded lines) is not a
 * call and never counts as an allowed, blocked or failed one. */
export function isCallDecision(event) {
  return CALL_EVENTS.has(event.event) && CLOSING.has(event.status);
}

/** The key the page holds an event under: a forwarded line and the line that closes the same
 * call share an `event_id`, so both can be fetched and the closing one must not be lost. */
export function eventKey(event) {
  const id = String(event.event_id);
  return INTERIM.includes(event.status) ? `${id}/${event.status}` : id;
}

/** Bucket sizes the latency chart may use, in milliseconds. */
const BUCKET_SIZES = [
  1e3,
  2e3,
  5e3,
  10e3,
  15e3,
  30e3,
  60e3,
  120e3,
  300e3,
  600e3,
  900e3,
  1800e3,
  3600e3,
  7200e3,
  21600e3,
  43200e3,
  86400e3,
];

/** An event as held by the page: the event, its time in ms and its arrival order. */
function toEntry(event, seq) {
  const time = Date.parse(String(event.timestamp));
  return { event, seq, time: Number.isFinite(time) ? time : 0, haystack: null, key: null };
}

function newestFirst(a, b) {
  return b.time - a.time || b.seq - a.seq;
}

/** Creates the event store: dedupes by `eventKey`, keeps the newest `cap` events. A call's
 * closing line replaces its `pending` (held, §15) and `forwarded` lines (one row per call); an interim line that comes
 * after its closing one is dropped. */
export function createStore(cap = MAX_ROWS) {
  const byId = new Map();
  const closed = new Set(); // ids whose closing line was seen: their forwarded line is stale
  let entries = [];
  let seq = 0;
  return {
    /** Adds events (any order); returns the entries that were new. */
    add(events) {
      const added = [];
      let superseded = false;
      for (const event of events) {
        if (!event || typeof event !== "object") continue;
        const key = eventKey(event);
        const id = String(event.event_id);
        if (byId.has(key)) continue;
        const interim = INTERIM.indexOf(event.status);
        if (interim >= 0 && closed.has(id)) continue;
        // A later line of the same call replaces the earlier ones: one row per call.
        const stale = interim >= 0 ? INTERIM.slice(0, interim) : INTERIM;
        if (interim < 0) closed.add(id);
        for (const status of stale) {
          if (byId.delete(`${id}/${status}`)) superseded = true;
        }
        const entry = toEntry(event, seq++);
        byId.set(key, entry);
        added.push(entry);
      }
      for (const entry of added) entry.key = eventKey(entry.event);
      const live = added.filter((entry) => byId.get(entry.key) === entry);
      if (superseded) entries = entries.filter((entry) => byId.get(entry.key) === entry);
      if (live.length === 0) return live;
      entries = entries.concat(live).sort(newestFirst);
      for (const dropped of entries.splice(cap)) {
        byId.delete(dropped.key);
        closed.delete(String(dropped.event.event_id));
      }
      return live.filter((entry) => byId.get(entry.key) === entry);
    },
    /** True when an event with this key (`eventKey`, or an event_id) is held. */
    has(key) {
      return byId.has(String(key));
    },
    /** Held entries, newest first. */
    entries() {
      return entries;
    },
    /** Newest event time held (epoch ms), or null. */
    newest() {
      return entries.length === 0 ? null : entries[0].time;
    },
  };
}

/** The `since` value of the next poll: the newest time minus an overlap (dedupe catches repeats). */
export function sinceParam(newest, overlapMs) {
  if (newest === null || newest === undefined) return null;
  return new Date(Math.max(0, newest - overlapMs)).toISOString();
}

function contains(value, needle) {
  if (needle === "") return true;
  return value !== null && value !== undefined &&
    String(value).toLowerCase().includes(needle);
}

/** Normalises raw filter values: trimmed, lowercased, "" = no filter. */
export function normalizeFilters(raw) {
  const clean = (value) => String(value ?? "").trim().toLowerCase();
  const status = clean(raw.status);
  return {
    status: status === "all" ? "" : status,
    model: clean(raw.model),
    tool: clean(raw.tool),
    session: clean(raw.session),
    text: clean(raw.text),
  };
}

/** Reason codes of result scanning (§15): a redacted or flagged result is `allowed` with one of
 * these, a withheld one `blocked`; shown with a "scan" badge and found by the "scanned" filter. */
export const SCAN_CODES = new Set(["result_secret", "result_injection", "tool_poisoning"]);

/** True when the entry passes the (normalised) filters; text fields match substrings. */
export function matchesFilters(entry, filters) {
  const event = entry.event;
  if (filters.status === "scanned") {
    if (!SCAN_CODES.has(event.reason_code)) return false;
  } else if (filters.status !== "" && event.status !== filters.status) return false;
  if (!contains(event.model_id, filters.model)) return false;
  if (!contains(event.tool_name, filters.tool)) return false;
  if (!contains(event.session_id, filters.session)) return false;
  if (filters.text === "") return true;
  if (entry.haystack === null) entry.haystack = JSON.stringify(event).toLowerCase();
  return entry.haystack.includes(filters.text);
}

function bump(map, key, status) {
  if (key === null || key === undefined) return;
  const name = String(key);
  let row = map.get(name);
  if (!row) {
    row = { name, allowed: 0, blocked: 0, error: 0, total: 0 };
    map.set(name, row);
  }
  if (status === "allowed" || status === "blocked" || status === "error") row[status]++;
  row.total++;
}

function byTotal(a, b) {
  return b.total - a.total || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Counts call decisions (`isCallDecision`) by status, per model, per tool, and the reason codes
 * of refused calls; every other event is counted apart, by its `event` name (`others`). */
export function tally(entries) {
  const totals = { allowed: 0, blocked: 0, error: 0, total: 0, other: 0 };
  const models = new Map();
  const tools = new Map();
  const reasons = new Map();
  const others = new Map();
  for (const { event } of entries) {
    if (!isCallDecision(event)) {
      const name = event.status === "forwarded"
        ? `${String(event.event)} (forwarded)`
        : String(event.event ?? "unknown");
      others.set(name, (others.get(name) ?? 0) + 1);
      totals.other++;
      continue;
    }
    const status = event.status;
    totals[status]++;
    totals.total++;
    bump(models, event.model_id, status);
    bump(tools, event.tool_name, status);
    // A tool that ran and reported isError is an allowed call, but its code is worth seeing.
    if (
      status !== "allowed" || event.reason_code === "tool_error" ||
      SCAN_CODES.has(event.reason_code)
    ) {
      const code = String(event.reason_code ?? "unknown");
      reasons.set(code, (reasons.get(code) ?? 0) + 1);
    }
  }
  return {
    totals,
    models: [...models.values()].sort(byTotal),
    tools: [...tools.values()].sort(byTotal),
    reasons: [...reasons.entries()]
      .map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1)),
    others: [...others.entries()]
      .map(([event, count]) => ({ event, count }))
      .sort((a, b) => b.count - a.count || (a.event < b.event ? -1 : 1)),
  };
}

/** The `p` (0..1) percentile of ascending `sorted` numbers, nearest rank; null when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1];
}

/** The smallest bucket size whose aligned buckets cover `min`..`max` (ms) in `maxBuckets`. */
export function bucketSize(min, max, maxBuckets) {
  for (const size of BUCKET_SIZES) {
    if (Math.floor(max / size) - Math.floor(min / size) + 1 <= maxBuckets) return size;
  }
  return BUCKET_SIZES[BUCKET_SIZES.length - 1];
}

/** p50/p95 latency per time bucket over call decisions, oldest bucket first (gaps included). */
export function latencySeries(entries, maxBuckets = 30) {
  const points = [];
  for (const { event, time } of entries) {
    if (!isCallDecision(event)) continue;
    if (typeof event.latency_ms !== "number" || !Number.isFinite(event.latency_ms)) continue;
    points.push({ time, value: event.latency_ms });
  }
  if (points.length === 0) return { sizeMs: 0, buckets: [] };
  let min = Infinity;
  let max = -Infinity;
  for (const point of points) {
    min = Math.min(min, point.time);
    max = Math.max(max, point.time);
  }
  const sizeMs = bucketSize(min, max, maxBuckets);
  const first = Math.floor(min / sizeMs) * sizeMs;
  const count = Math.floor((max - first) / sizeMs) + 1;
  const values = Array.from({ length: count }, () => []);
  for (const point of points) values[Math.floor((point.time - first) / sizeMs)].push(point.value);
  const buckets = values.map((list, index) => {
    list.sort((a, b) => a - b);
    return {
      start: first + index * sizeMs,
      count: list.length,
      p50: percentile(list, 0.5),
      p95: percentile(list, 0.95),
      max: list.length === 0 ? null : list[list.length - 1],
    };
  });
  return { sizeMs, buckets };
}
