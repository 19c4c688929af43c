import { expect } from "expect";
import { buildAuditEvent } from "../audit/event/event.ts";
import { parseLogQuery, selectEvents } from "../audit/sink/query.ts";
import { lazyEvents, parseReplicaLine } from "./replica_logs.ts";

const line = (i: number) =>
  JSON.stringify(buildAuditEvent({
    event: "toolcall",
    agentId: null,
    modelId: "m",
    sessionId: "s",
    toolName: "t",
    status: "allowed",
    reasonCode: "ok",
    reason: "r",
    latencyMs: 1,
    policyVersion: null,
  }, { now: Date.UTC(2026, 0, 1, 0, 0, i), eventId: `e${i}` }));

const query = (text: string) => {
  const parsed = parseLogQuery(new URLSearchParams(text));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.query;
};

Deno.test("another replica's lines: anything that is not an audit event is skipped, never shown", () => {
  const hostile = [
    "not json",
    "[1,2]",
    '{"timestamp":"2026-01-01T00:00:09.000Z"}', // no event_id / event
    '{"timestamp":"yesterday","event_id":"x","event":"toolcall"}',
    `{"timestamp":"2026-01-01T00:00:09.000Z","event_id":"big","event":"x","pad":"${
      "a".repeat(70_000)
    }"}`,
  ];
  for (const text of hostile) expect(parseReplicaLine(text)).toBeUndefined();
  const list = lazyEvents([line(1), ...hostile, line(2)]);
  expect(selectEvents(list, query("")).map((e) => e.event_id)).toEqual(["e1", "e2"]);
});

Deno.test("another replica's lines are parsed lazily: `since` skips older lines unparsed", () => {
  const lines = [line(1), line(2), line(3)];
  let parsed = 0;
  const base = lazyEvents(lines);
  const counting = { ...base, at: (i: number) => (parsed++, base.at(i)) };
  const picked = selectEvents(counting, query("since=2026-01-01T00:00:02Z"));
  expect(picked.map((e) => e.event_id)).toEqual(["e3"]);
  expect(parsed).toBe(1);
  // The limit bounds the work too: only the newest are parsed.
  parsed = 0;
  expect(selectEvents(counting, query("limit=1")).map((e) => e.event_id)).toEqual(["e3"]);
  expect(parsed).toBe(1);
});
