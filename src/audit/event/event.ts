import { createHash } from "node:crypto";
import type { Status } from "../../reasons.ts";
import { redact, redactShared } from "./redact.ts";
import { type Scrubber, SHAPE_SCRUBBER } from "./scrub.ts";

/**
 * The `status` of an audit event: a decision's (`allowed`, `blocked`, `error`), or `forwarded`
 * for the write-ahead line of a call sent upstream (§12), closed later by a line with the same
 * `event_id`; or `pending` for a call held for a person's approval (§15), closed the same way.
 */
export type AuditStatus = Status | "forwarded" | "pending";

/** Largest payload JSON text (UTF-8 bytes) kept whole; longer ones are truncated (§6). */
export const MAX_PAYLOAD_BYTES = 8192;

/** Every audit event field, in the order they are written (§6); `payload_truncated` is optional. */
export const AUDIT_FIELDS = [
  "timestamp",
  "event_id",
  "event",
  "agent_id",
  "model_id",
  "session_id",
  "tool_name",
  "payload",
  "payload_truncated",
  "payload_sha256",
  "status",
  "reason_code",
  "reason",
  "latency_ms",
  "upstream_ms",
  "policy_version",
  "gateway_id",
  "prev_hash",
  "hash",
] as const;

/** What the gateway knows about one audited action, before redaction and chaining. */
export interface AuditInput {
  /** `toolcall`, `toolresult`, `mcp_request`, `policy_reload`, `auth_failure`, `pin_change`, … */
  event: string;
  /** Agent id in agents mode, else null. */
  agentId: string | null;
  /** Model id, null when the request lacked one. */
  modelId: string | null;
  /** Session id as it may be written down (proxy sessions hashed, §5.3), or null. */
  sessionId: string | null;
  /** Tool name, or null. */
  toolName: string | null;
  /** The input/output (raw; redacted here). Absent or null = no payload. */
  payload?: unknown;
  /** Outcome. */
  status: AuditStatus;
  /** Machine-readable reason code. */
  reasonCode: string;
  /** Human-readable reason (never secrets). */
  reason: string;
  /** Gateway's own time in milliseconds, upstream excluded. */
  latencyMs: number;
  /** Upstream time in milliseconds, only when the call was forwarded. */
  upstreamMs?: number | null;
  /** Version of the policy in force, or null. */
  policyVersion: string | null;
}

/** One audit log line as an object; key insertion order is the §6 field order. */
export interface AuditEvent {
  /** ISO 8601 UTC with milliseconds. */
  timestamp: string;
  /** UUID of this event. */
  event_id: string;
  /** Event kind. */
  event: string;
  /** Agent id or null. */
  agent_id: string | null;
  /** Model id or null. */
  model_id: string | null;
  /** Session id or null. */
  session_id: string | null;
  /** Tool name or null. */
  tool_name: string | null;
  /** Redacted payload; the first 8 KiB of its JSON text (a string) when truncated; or null. */
  payload: unknown;
  /** Present (and true) only when `payload` was truncated. */
  payload_truncated?: true;
  /** sha256 hex of the redacted payload's full JSON text, or null without payload. */
  payload_sha256: string | null;
  /** Outcome. */
  status: AuditStatus;
  /** Machine-readable reason code. */
  reason_code: string;
  /** Human-readable reason. */
  reason: string;
  /** Gateway's own time in milliseconds, 3 decimals. */
  latency_ms: number;
  /** Upstream time in milliseconds, 3 decimals, or null when not forwarded. */
  upstream_ms: number | null;
  /** Policy version or null. */
  policy_version: string | null;
  /** The replica that wrote the line (`GATEWAY_ID`, §13); set by the sink, null before. */
  gateway_id: string | null;
  /** Hash of the previous line (null until chained). */
  prev_hash: string | null;
  /** sha256 of this line's text up to `prev_hash` (null until chained). */
  hash: string | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds the (unchained) audit event for `input` at `context.now` with id `context.eventId`. */
export function buildAuditEvent(
  input: AuditInput,
  context: { now: number; eventId: string },
): AuditEvent {
  return buildAuditRecord(input, context).event;
}

/**
 * `buildAuditEvent` plus the redacted payload's JSON text, which the sink reuses for the line
 * instead of serialising the payload again. The `reason` and every payload string pass through
 * `context.scrubber` (default: the credential-shape detectors only, §12).
 */
export function buildAuditRecord(
  input: AuditInput,
  context: { now: number; eventId: string; scrubber?: Scrubber; prepared?: AuditPayload },
): AuditRecord {
  const scrubber = context.scrubber ?? SHAPE_SCRUBBER;
  const prepared = context.prepared;
  const body = prepared !== undefined && prepared.source === input.payload &&
      prepared.scrubber === scrubber
    ? prepared
    : preparePayload(input.payload, scrubber);
  const event: AuditEvent = {
    timestamp: isoTimestamp(context.now),
    event_id: context.eventId,
    event: input.event,
    agent_id: input.agentId,
    model_id: input.modelId,
    session_id: input.sessionId,
    tool_name: input.toolName,
    payload: body.payload,
    ...(body.truncated ? { payload_truncated: true as const } : {}),
    payload_sha256: body.sha256,
    status: input.status,
    reason_code: input.reasonCode,
    reason: scrubber.text(input.reason),
    latency_ms: milliseconds(input.latencyMs) ?? 0,
    upstream_ms: milliseconds(input.upstreamMs),
    policy_version: input.policyVersion,
    gateway_id: null,
    prev_hash: null,
    hash: null,
  };
  return { event, payloadJson: body.json };
}

/** An event ready for the sink, with its payload's JSON text. */
export interface AuditRecord {
  /** The event; `prev_hash` and `hash` still null. */
  readonly event: AuditEvent;
  /** The redacted payload's full JSON text (what `payload_sha256` hashes), null without one. */
  readonly payloadJson: string | null;
}

let lastTime = Number.NaN;
let lastIso = "";

// `new Date(now).toISOString()`, formatted once per millisecond.
function isoTimestamp(now: number): string {
  if (now !== lastTime) {
    lastIso = new Date(now).toISOString();
    lastTime = now;
  }
  return lastIso;
}

/** sha256 hex of a string's UTF-8 bytes. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The first `maxBytes` UTF-8 bytes of `text`, cut before a character that would not fit whole. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return text;
  let cut = maxBytes;
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
  return decoder.decode(bytes.subarray(0, cut));
}

/**
 * A payload as events carry it: redacted and scrubbed, its JSON text and that text's sha256.
 * Prepared once for the two lines of a forwarded call (same payload, same scrubber).
 */
export interface AuditPayload {
  /** The raw payload it was prepared from. */
  readonly source: unknown;
  /** The scrubber it was prepared with. */
  readonly scrubber: Scrubber;
  /** What the event's `payload` holds (redacted, or its truncated JSON text). */
  readonly payload: unknown;
  /** Whether `payload` is a truncated text. */
  readonly truncated: boolean;
  /** The redacted payload's full JSON text, null without one. */
  readonly json: string | null;
  /** sha256 hex of `json`, null without one. */
  readonly sha256: string | null;
}

/** Prepares `payload` for events (`buildAuditRecord` does it itself unless given one). */
export function preparePayload(
  payload: unknown,
  scrubber: Scrubber = SHAPE_SCRUBBER,
): AuditPayload {
  const none = {
    source: payload,
    scrubber,
    payload: null,
    truncated: false,
    json: null,
    sha256: null,
  };
  if (payload === undefined || payload === null) return none;
  let redacted = redactShared(payload);
  let text = redacted === undefined ? undefined : JSON.stringify(redacted);
  // One scan of the JSON text decides whether any string in it needs scrubbing (rarely).
  if (text !== undefined && scrubber.mayHold(text)) {
    redacted = redact(redacted, scrubber);
    text = JSON.stringify(redacted);
  }
  if (text === undefined || text === "null") return none;
  const fields = { source: payload, scrubber, json: text, sha256: sha256Hex(text) };
  if (text.length * 3 <= MAX_PAYLOAD_BYTES || encoder.encode(text).length <= MAX_PAYLOAD_BYTES) {
    return { ...fields, payload: redacted, truncated: false };
  }
  return { ...fields, payload: truncateUtf8(text, MAX_PAYLOAD_BYTES), truncated: true };
}

function milliseconds(value: number | null | undefined): number | null {
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  return Math.round(Math.max(0, value) * 1000) / 1000;
}
