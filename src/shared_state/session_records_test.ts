import { expect } from "expect";
import fc from "fast-check";
import { parseSessionRecord, type SessionRecord } from "./session_records.ts";

const record: fc.Arbitrary<SessionRecord> = fc.record({
  agentId: fc.option(fc.string(), { nil: null }),
  keySha256: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: null }),
  modelId: fc.string({ minLength: 1, maxLength: 256 }),
  protocolVersion: fc.constantFrom("2025-11-25", "2025-06-18", "2025-03-26"),
  policyVersion: fc.string(),
  clientInfo: fc.dictionary(fc.string(), fc.jsonValue()),
  clientCapabilities: fc.dictionary(fc.string(), fc.jsonValue()),
});

Deno.test("property: a stored session record reads back as it was", () => {
  fc.assert(fc.property(record, (r) => {
    expect(parseSessionRecord(JSON.stringify(r))).toEqual(JSON.parse(JSON.stringify(r)));
  }));
});

Deno.test("property: any other text is no record, never an exception", () => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
    const parsed = parseSessionRecord(text);
    if (parsed !== undefined) {
      expect(typeof parsed.modelId).toBe("string");
      expect(typeof parsed.clientCapabilities).toBe("object");
    }
  }));
  expect(parseSessionRecord("[]")).toBeUndefined();
  expect(parseSessionRecord('{"agentId":1}')).toBeUndefined();
  expect(parseSessionRecord("x".repeat(70_000))).toBeUndefined();
  expect(
    parseSessionRecord(
      JSON.stringify({
        agentId: null,
        keySha256: null,
        modelId: "",
        protocolVersion: "2025-06-18",
        policyVersion: "v",
        clientInfo: {},
        clientCapabilities: {},
      }),
    ),
  ).toBeUndefined();
});
