import { expect } from "expect";
import { chainLine, GENESIS_HASH } from "./chain.ts";
import { buildAuditRecord } from "./event.ts";
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
