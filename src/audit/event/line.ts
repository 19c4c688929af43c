/**
 * The exact text of an audit log line (§6), built from an event in two steps so that the line's
 * hash can be computed later, off the request path, in a batch or a worker: first the text up to
 * `"prev_hash":"` (`linePrefix`), then the chained line once the previous hash is known
 * (`chainPrefix`). Pure.
 */
import type { AuditEvent } from "./event.ts";
import { sha256Hex } from "./event.ts";
import { redact } from "./redact.ts";

/** A chained line: its text (without newline) and its hash. */
export interface ChainedLine {
  /** `P,"hash":"H"}`. */
  readonly line: string;
  /** `H`. */
  readonly hash: string;
}

const q = JSON.stringify;

/** Printable ASCII but `"` and `\`: such a string's JSON text is itself in quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `JSON.stringify(value)` for a line field (string or null), without its cost for plain text:
 * a call each is most of a line's build time, and most fields are plain ASCII. */
function text(value: string | null | undefined): string {
  if (value === null || value === undefined) return "null";
  return typeof value === "string" && PLAIN.test(value) ? `"${value}"` : q(value);
}

/** `JSON.stringify(value)` for a number field (finite numbers print the same either way). */
function number(value: number | null | undefined): string {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : q(value ?? null);
}

/**
 * The text of `event`'s line up to and including `"prev_hash":"`. `payloadJson` (from
 * `buildAuditRecord`) is the redacted payload's full JSON text, reused as the `payload` text
 * when the payload was not truncated; without it the payload is serialised here, made JSON-safe
 * first if it has to be. Byte for byte what `JSON.stringify` of each field gives (property test).
 */
export function linePrefix(event: AuditEvent, payloadJson?: string | null): string {
  let payloadText: string;
  if (payloadJson !== undefined) {
    payloadText = payloadJson === null
      ? "null"
      : event.payload_truncated === true
      ? q(event.payload)
      : payloadJson;
  } else {
    try {
      payloadText = q(event.payload ?? null);
    } catch {
      // A payload that did not come through the event builders (cycle, bigint): make it safe.
      payloadText = q(redact(event.payload) ?? null);
    }
  }
  return `{"timestamp":${text(event.timestamp)},"event_id":${text(event.event_id)},"event":${
    text(event.event)
  },"agent_id":${text(event.agent_id)},"model_id":${text(event.model_id)},"session_id":${
    text(event.session_id)
  },"tool_name":${text(event.tool_name)},"payload":${payloadText}${
    event.payload_truncated === true ? ',"payload_truncated":true' : ""
  },"payload_sha256":${text(event.payload_sha256)},"status":${text(event.status)},` +
    `"reason_code":${text(event.reason_code)},"reason":${text(event.reason)},"latency_ms":${
      number(event.latency_ms)
    },"upstream_ms":${number(event.upstream_ms)},"policy_version":${
      text(event.policy_version)
    },"gateway_id":${text(event.gateway_id)},"prev_hash":"`;
}

const TIMESTAMP_AT = '{"timestamp":"'.length;

/** The `timestamp` of a line or line prefix, read without parsing it: it comes first, and an
 * ISO string holds nothing to unescape. */
export function lineTimestamp(line: string): string {
  return line.slice(TIMESTAMP_AT, line.indexOf('"', TIMESTAMP_AT));
}

/** Chains one line after `prevHash` (a checked sha256 hex). */
export function chainPrefix(prefix: string, prevHash: string): ChainedLine {
  const hash = sha256Hex(`${prefix}${prevHash}"}`);
  return { line: completeLine(prefix, prevHash, hash), hash };
}

/** The whole line of `prefix`: chained (`prevHash` and `hash` given) or not yet (both null). */
export function completeLine(prefix: string, prevHash: string | null, hash: string | null): string {
  return prevHash === null || hash === null
    ? `${prefix.slice(0, -1)}null,"hash":null}`
    : `${prefix}${prevHash}","hash":"${hash}"}`;
}

/**
 * `text` as one flat string. A string built piece by piece is a tree of pieces until something
 * reads it whole; one kept for a while (the audit ring) then costs every garbage collection a
 * visit per piece (under load, young-generation pauses of ~5 ms instead of ~1 ms). Converting it
 * to a number reads it whole; the result is stored only so that no compiler drops the conversion.
 */
export function flatten(text: string): string {
  flattened = Number(text);
  return text;
}

// deno-lint-ignore no-unused-vars
let flattened = 0;
