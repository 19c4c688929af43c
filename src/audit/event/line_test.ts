import { expect } from "expect";
import fc from "fast-check";
import { chainLine, GENESIS_HASH } from "../chain/chain.ts";
import { type AuditEvent, buildAuditRecord } from "./event.ts";
import { chainPrefix, completeLine, flatten, linePrefix, lineTimestamp } from "./line.ts";

const record = buildAuditRecord({
  event: "toolcall",
  agentId: null,
  modelId: "gpt-4o",
  sessionId: "s1",
  toolName: "search.web",
  payload: { q: 'é \u2028 "quoted"' },
  status: "allowed",
  reasonCode: "ok",
  reason: "allowed",
  latencyMs: 0.25,
  policyVersion: "0123456789ab",
}, { now: 1_700_000_000_000, eventId: "e1" });

Deno.test("completeLine: unchained it parses to the event with null hashes", () => {
  const prefix = linePrefix(record.event, record.payloadJson);
  expect(JSON.parse(completeLine(prefix, null, null))).toEqual(record.event);
});

Deno.test("completeLine: chained it is the line chainLine writes", () => {
  const prefix = linePrefix(record.event, record.payloadJson);
  const chained = chainPrefix(prefix, GENESIS_HASH);
  expect(completeLine(prefix, GENESIS_HASH, chained.hash)).toBe(chained.line);
  expect(chained.line).toBe(chainLine(record.event, GENESIS_HASH).line);
  expect(JSON.parse(chained.line)).toMatchObject({ prev_hash: GENESIS_HASH, hash: chained.hash });
});

Deno.test("flatten: the same text back", () => {
  const built = `${"a".repeat(20)}${String(42)}${"b".repeat(20)}`;
  expect(flatten(built)).toBe("a".repeat(20) + "42" + "b".repeat(20));
});

Deno.test("lineTimestamp: the timestamp of a prefix or a whole line", () => {
  const prefix = linePrefix(record.event, record.payloadJson);
  expect(lineTimestamp(prefix)).toBe("2023-11-14T22:13:20.000Z");
  expect(lineTimestamp(chainPrefix(prefix, GENESIS_HASH).line)).toBe(record.event.timestamp);
});

/** The line prefix as `JSON.stringify` of every field gives it: the oracle. */
function stringified(event: AuditEvent, payloadJson: string | null): string {
  const q = JSON.stringify;
  return `{"timestamp":${q(event.timestamp)},"event_id":${q(event.event_id)},"event":${
    q(event.event)
  },"agent_id":${q(event.agent_id)},"model_id":${q(event.model_id)},"session_id":${
    q(event.session_id)
  },"tool_name":${q(event.tool_name)},"payload":${payloadJson ?? "null"},"payload_sha256":${
    q(event.payload_sha256)
  },"status":${q(event.status)},"reason_code":${q(event.reason_code)},"reason":${
    q(event.reason)
  },"latency_ms":${q(event.latency_ms)},"upstream_ms":${q(event.upstream_ms)},"policy_version":${
    q(event.policy_version)
  },"gateway_id":${q(event.gateway_id)},"prev_hash":"`;
}

Deno.test("property: a line prefix is byte for byte JSON.stringify of each field, for any text", () => {
  // Any code units: quotes, backslashes, controls, U+2028, lone surrogates, non-ASCII.
  const anyText = fc.oneof(
    fc.string({ unit: "binary", maxLength: 30 }),
    fc.string({ maxLength: 30 }),
    fc.constantFrom('"', "\\", "\u0000", "\u007f", "\ud800", "plain-ascii 123", ""),
  );
  const nullable = fc.option(anyText, { nil: null });
  const anyNumber = fc.oneof(fc.double(), fc.constantFrom(0, -0, 1e21, 0.1 + 0.2, NaN, Infinity));
  fc.assert(
    fc.property(
      fc.record({
        timestamp: anyText,
        event_id: anyText,
        event: anyText,
        agent_id: nullable,
        model_id: nullable,
        session_id: nullable,
        tool_name: nullable,
        payload_sha256: nullable,
        status: anyText,
        reason_code: anyText,
        reason: anyText,
        latency_ms: anyNumber,
        upstream_ms: fc.option(anyNumber, { nil: null }),
        policy_version: nullable,
        gateway_id: nullable,
      }),
      (fields) => {
        const event = { ...fields, payload: null, prev_hash: null, hash: null } as AuditEvent;
        expect(linePrefix(event, null)).toBe(stringified(event, null));
      },
    ),
    { numRuns: 500 },
  );
});
