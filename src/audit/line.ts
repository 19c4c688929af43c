/**
 * The exact text of an audit log line (§6), built from an event in pieces so that the two
 * hashes it needs (the payload's and the line's) can be computed later, off the request path,
 * in a batch or a worker. Pure.
 */
import type { AuditEvent } from "./event.ts";
import { sha256Hex } from "./event.ts";
import { redact } from "./redact.ts";

/**
 * A line waiting for its hashes: `P` (the line up to its closing brace) is `head`, then the
 * payload hash as a JSON string when `hashInput` is not null, then `tail`, then the previous
 * line's hash and `"`. A tuple, so it crosses to a worker cheaply.
 */
export type LineParts = readonly [head: string, hashInput: string | null, tail: string];

/** A chained line: its text (without newline), its hash, and the payload hash it holds. */
export interface ChainedLine {
  /** `P,"hash":"H"}`. */
  readonly line: string;
  /** `H`. */
  readonly hash: string;
  /** The payload hash computed for it, or undefined when it was given (or there was none). */
  readonly payloadHash?: string;
}

const q = JSON.stringify;

/**
 * The parts of `event`'s line. `payloadJson` (from `buildAuditRecord`/`prepareAuditEvent`) is
 * the redacted payload's full JSON text: it is reused as the `payload` text when the payload was
 * not truncated, and hashed at chain time unless the event already holds its `payload_sha256`.
 * Without it the event is taken as it is (its `payload_sha256` included) and its payload is
 * serialised here, made JSON-safe first if it has to be.
 */
export function lineParts(event: AuditEvent, payloadJson?: string | null): LineParts {
  let payloadText: string;
  let hashInput: string | null = null;
  let given = "";
  if (payloadJson !== undefined) {
    payloadText = payloadJson === null
      ? "null"
      : event.payload_truncated === true
      ? q(event.payload)
      : payloadJson;
    if (payloadJson === null) given = "null";
    else if (typeof event.payload_sha256 === "string") given = q(event.payload_sha256);
    else hashInput = payloadJson;
  } else {
    try {
      payloadText = q(event.payload ?? null);
    } catch {
      // A payload that did not come through the event builders (cycle, bigint): make it safe.
      payloadText = q(redact(event.payload) ?? null);
    }
    given = q(event.payload_sha256 ?? null);
  }
  const head = `{"timestamp":${q(event.timestamp)},"event_id":${q(event.event_id)},"event":${
    q(event.event)
  },"agent_id":${q(event.agent_id ?? null)},"model_id":${q(event.model_id ?? null)},"session_id":${
    q(event.session_id ?? null)
  },"tool_name":${q(event.tool_name ?? null)},"payload":${payloadText}${
    event.payload_truncated === true ? ',"payload_truncated":true' : ""
  },"payload_sha256":${given}`;
  const tail =
    `,"status":${q(event.status)},"reason_code":${q(event.reason_code)},"reason":${
      q(event.reason)
    },"latency_ms":${q(event.latency_ms)},"upstream_ms":${q(event.upstream_ms ?? null)},` +
    `"policy_version":${q(event.policy_version ?? null)},"prev_hash":"`;
  return [head, hashInput, tail];
}

/** Chains one line after `prevHash` (a checked sha256 hex): computes both hashes. */
export function chainParts(parts: LineParts, prevHash: string): ChainedLine {
  const [head, hashInput, tail] = parts;
  const payloadHash = hashInput === null ? undefined : sha256Hex(hashInput);
  const p = payloadHash === undefined
    ? `${head}${tail}${prevHash}"`
    : `${head}"${payloadHash}"${tail}${prevHash}"`;
  const hash = sha256Hex(`${p}}`);
  return { line: `${p},"hash":"${hash}"}`, hash, payloadHash };
}
