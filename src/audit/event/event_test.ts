import { createHash } from "node:crypto";
import { compileScrubber } from "./scrub.ts";
import { expect } from "expect";
import {
  AUDIT_FIELDS,
  type AuditInput,
  buildAuditEvent,
  buildAuditRecord,
  MAX_PAYLOAD_BYTES,
  preparePayload,
  sha256Hex,
  truncateUtf8,
} from "./event.ts";

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const CONTEXT = { now: NOW, eventId: "3f1e2d4c-0000-4000-8000-000000000001" };

function input(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    event: "toolcall",
    agentId: "planner",
    modelId: "gpt-4o",
    sessionId: "s1",
    toolName: "calendar.create_event",
    payload: { title: "Standup" },
    status: "allowed",
    reasonCode: "ok",
    reason: "allowed by rule 0",
    latencyMs: 0.12345,
    policyVersion: "abcdef012345",
    ...overrides,
  };
}

function sha256(text: string): string {
  return createHash("sha256").update(new TextEncoder().encode(text)).digest("hex");
}

Deno.test("buildAuditEvent writes every field in the §6 order", () => {
  const event = buildAuditEvent(input(), CONTEXT);
  expect(Object.keys(event)).toEqual(AUDIT_FIELDS.filter((f) => f !== "payload_truncated"));
  expect(event).toEqual({
    timestamp: "2025-01-02T03:04:05.678Z",
    event_id: CONTEXT.eventId,
    event: "toolcall",
    agent_id: "planner",
    model_id: "gpt-4o",
    session_id: "s1",
    tool_name: "calendar.create_event",
    payload: { title: "Standup" },
    payload_sha256: sha256('{"title":"Standup"}'),
    status: "allowed",
    reason_code: "ok",
    reason: "allowed by rule 0",
    latency_ms: 0.123,
    upstream_ms: null,
    policy_version: "abcdef012345",
    gateway_id: null,
    prev_hash: null,
    hash: null,
  });
});

Deno.test("buildAuditEvent: payload_truncated sits between payload and payload_sha256", () => {
  const event = buildAuditEvent(input({ payload: { text: "x".repeat(10_000) } }), CONTEXT);
  expect(Object.keys(event)).toEqual([...AUDIT_FIELDS]);
  expect(event.payload_truncated).toBe(true);
});

Deno.test("buildAuditEvent: absent or null payload gives null payload and null sha", () => {
  for (const payload of [undefined, null]) {
    const event = buildAuditEvent(input({ payload }), CONTEXT);
    expect(event.payload).toBe(null);
    expect(event.payload_sha256).toBe(null);
    expect("payload_truncated" in event).toBe(false);
  }
});

Deno.test("buildAuditEvent redacts the payload and hashes the redacted JSON only", () => {
  const a = buildAuditEvent(input({ payload: { q: "x", api_key: "sk-one" } }), CONTEXT);
  const b = buildAuditEvent(input({ payload: { q: "x", api_key: "sk-two-longer" } }), CONTEXT);
  expect(a.payload).toEqual({ q: "x", api_key: "[REDACTED]" });
  expect(a.payload_sha256).toBe(sha256('{"q":"x","api_key":"[REDACTED]"}'));
  expect(b.payload_sha256).toBe(a.payload_sha256);
  expect(JSON.stringify(a)).not.toContain("sk-one");
  const c = buildAuditEvent(input({ payload: { q: "y", api_key: "sk-one" } }), CONTEXT);
  expect(c.payload_sha256).not.toBe(a.payload_sha256);
});

Deno.test("buildAuditEvent keeps an 8 KiB payload whole and truncates one byte more", () => {
  const exact = { t: "a".repeat(MAX_PAYLOAD_BYTES - 8) }; // {"t":""} is 8 bytes
  expect(JSON.stringify(exact).length).toBe(MAX_PAYLOAD_BYTES);
  const kept = buildAuditEvent(input({ payload: exact }), CONTEXT);
  expect(kept.payload).toEqual(exact);
  expect("payload_truncated" in kept).toBe(false);
  const over = { t: "a".repeat(MAX_PAYLOAD_BYTES - 7) };
  const cut = buildAuditEvent(input({ payload: over }), CONTEXT);
  expect(cut.payload_truncated).toBe(true);
  expect(cut.payload).toBe(JSON.stringify(over).slice(0, MAX_PAYLOAD_BYTES));
  expect(cut.payload_sha256).toBe(sha256(JSON.stringify(over)));
});

Deno.test("buildAuditEvent truncates multibyte text without splitting a character", () => {
  const payload = { text: "é€😀".repeat(2000) }; // 2 + 3 + 4 bytes per repeat
  const event = buildAuditEvent(input({ payload }), CONTEXT);
  const text = event.payload as string;
  const bytes = new TextEncoder().encode(text);
  expect(event.payload_truncated).toBe(true);
  expect(bytes.length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
  expect(bytes.length).toBeGreaterThan(MAX_PAYLOAD_BYTES - 4);
  expect(text).not.toContain("\ufffd");
  expect(JSON.stringify(payload).startsWith(text)).toBe(true);
  expect(event.payload_sha256).toBe(sha256(JSON.stringify(payload)));
});

Deno.test("buildAuditEvent cuts before a 3-byte character straddling the 8 KiB mark", () => {
  // {"text":" is 9 bytes; 8192 - 9 = 3 * 2727 + 2, so the 2728th "€" would be split.
  const event = buildAuditEvent(input({ payload: { text: "€".repeat(3000) } }), CONTEXT);
  const text = event.payload as string;
  expect(new TextEncoder().encode(text).length).toBe(9 + 3 * 2727);
  expect(text).toBe(`{"text":"${"€".repeat(2727)}`);
});

Deno.test("truncateUtf8 cuts before a character that does not fit", () => {
  expect(truncateUtf8("ab€", 4)).toBe("ab");
  expect(truncateUtf8("ab€", 5)).toBe("ab€");
  expect(truncateUtf8("😀😀", 7)).toBe("😀");
  expect(truncateUtf8("short", 100)).toBe("short");
});

Deno.test("buildAuditEvent rounds times to 3 decimals and keeps upstream_ms when given", () => {
  const event = buildAuditEvent(input({ latencyMs: 1.23456, upstreamMs: 12.3456 }), CONTEXT);
  expect(event.latency_ms).toBe(1.235);
  expect(event.upstream_ms).toBe(12.346);
  const bad = buildAuditEvent(input({ latencyMs: Number.NaN, upstreamMs: null }), CONTEXT);
  expect(bad.latency_ms).toBe(0);
  expect(bad.upstream_ms).toBe(null);
});

Deno.test("buildAuditRecord scrubs the reason and payload strings (§12), hashing the scrubbed JSON", () => {
  const { event, payloadJson } = buildAuditRecord({
    event: "toolcall",
    agentId: null,
    modelId: "gpt-4o",
    sessionId: "s",
    toolName: "t.x",
    payload: { note: "key AKIAIOSFODNN7EXAMPLE", plain: "hello" },
    status: "error",
    reasonCode: "upstream_error",
    reason: "upstream said: bad credential configured-secret-123",
    latencyMs: 1,
    policyVersion: null,
  }, { now: 0, eventId: "e", scrubber: compileScrubber(["configured-secret-123"]) });
  expect(event.reason).toBe("upstream said: bad credential [REDACTED]");
  expect(event.payload).toEqual({ note: "key [REDACTED]", plain: "hello" });
  expect(payloadJson).toBe('{"note":"key [REDACTED]","plain":"hello"}');
  expect(event.payload_sha256).toBe(sha256Hex(payloadJson!));
});

Deno.test("a prepared payload gives the same event as preparing it there; a mismatched one is not used", () => {
  const scrubber = compileScrubber(["hunter2-secret-value"]);
  const payload = {
    title: "Standup",
    note: "hunter2-secret-value",
    big: "x".repeat(MAX_PAYLOAD_BYTES),
  };
  const plain = buildAuditRecord(input({ payload }), { ...CONTEXT, scrubber });
  const prepared = preparePayload(payload, scrubber);
  expect(buildAuditRecord(input({ payload }), { ...CONTEXT, scrubber, prepared })).toEqual(plain);
  expect(plain.event.payload_truncated).toBe(true);
  expect(plain.payloadJson).not.toContain("hunter2-secret-value");
  // Prepared with another scrubber, or from another payload: prepared again, never reused.
  const unscrubbed = preparePayload(payload);
  expect(unscrubbed.json).toContain("hunter2-secret-value");
  const other = buildAuditRecord(input({ payload }), {
    ...CONTEXT,
    scrubber,
    prepared: unscrubbed,
  });
  expect(other).toEqual(plain);
  const elsewhere = preparePayload({ title: "Other" }, scrubber);
  expect(buildAuditRecord(input({ payload }), { ...CONTEXT, scrubber, prepared: elsewhere }))
    .toEqual(plain);
  expect(preparePayload(undefined, scrubber)).toMatchObject({ json: null, sha256: null });
});
