import { expect } from "expect";
import { type AuditEvent, buildAuditEvent } from "../event/event.ts";
import { type LogQuery, mergeEvents, parseLogQuery, selectEvents } from "./query.ts";

function query(text: string): LogQuery {
  const parsed = parseLogQuery(new URLSearchParams(text));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.query;
}

function events(): AuditEvent[] {
  const list: AuditEvent[] = [];
  for (let i = 0; i < 10; i++) {
    list.push(buildAuditEvent({
      event: i === 9 ? "policy_reload" : "toolcall",
      agentId: null,
      modelId: i % 2 === 0 ? "gpt-4o" : "claude",
      sessionId: `s${i % 3}`,
      toolName: i % 2 === 0 ? "search.web" : "db.write",
      status: i % 2 === 0 ? "allowed" : "blocked",
      reasonCode: i % 2 === 0 ? "ok" : "tool_denied",
      reason: "r",
      latencyMs: 1,
      policyVersion: null,
    }, { now: Date.UTC(2025, 0, 1, 0, 0, i), eventId: `e${i}` }));
  }
  return list;
}

const ids = (list: AuditEvent[]) => list.map((e) => e.event_id);

Deno.test("parseLogQuery defaults and empty values", () => {
  expect(query("")).toEqual({
    limit: 100,
    status: null,
    modelId: null,
    toolName: null,
    sessionId: null,
    event: null,
    since: null,
  });
  expect(query("limit=&status=&model_id=&tool_name=&session_id=&event=&since=").limit).toBe(100);
  expect(query("limit=1000&status=blocked&since=2025-01-01T00:00:03Z")).toMatchObject({
    limit: 1000,
    status: "blocked",
    since: Date.UTC(2025, 0, 1, 0, 0, 3),
  });
  expect(query("since=2025-01-01T01:00:00.5%2B01:00").since).toBe(
    Date.UTC(2025, 0, 1, 0, 0, 0, 500),
  );
});

Deno.test("parseLogQuery refuses bad values and unknown parameters", () => {
  const bad = [
    "limit=0",
    "limit=1001",
    "limit=1.5",
    "limit=-3",
    "limit=1e2",
    "limit=%2010",
    "status=ok",
    "since=yesterday",
    "since=2025-01-01",
    "since=2025-13-45T00:00:00Z",
    "foo=1",
    "status=allowed&status=blocked",
  ];
  for (const text of bad) {
    const parsed = parseLogQuery(new URLSearchParams(text));
    expect([text, parsed.ok]).toEqual([text, false]);
  }
  const unknown = parseLogQuery(new URLSearchParams("<script>=1"));
  expect(unknown.ok ? "" : unknown.error).not.toContain("<script>");
});

Deno.test("selectEvents returns the most recent matches, newest last", () => {
  const list = events();
  expect(ids(selectEvents(list, query("limit=3")))).toEqual(["e7", "e8", "e9"]);
  expect(ids(selectEvents(list, query("status=blocked&limit=2")))).toEqual(["e7", "e9"]);
  expect(ids(selectEvents(list, query("model_id=gpt-4o&session_id=s0")))).toEqual(["e0", "e6"]);
  expect(ids(selectEvents(list, query("tool_name=db.write&event=toolcall")))).toEqual([
    "e1",
    "e3",
    "e5",
    "e7",
  ]);
  expect(ids(selectEvents(list, query("event=policy_reload")))).toEqual(["e9"]);
});

Deno.test("selectEvents: since is strictly after", () => {
  const list = events();
  expect(ids(selectEvents(list, query("since=2025-01-01T00:00:07.000Z")))).toEqual(["e8", "e9"]);
  expect(selectEvents(list, query("since=2025-01-01T00:00:09Z"))).toEqual([]);
});

Deno.test("selectEvents: with timestampAt, events at or before since are never read whole", () => {
  const list = events();
  const read: string[] = [];
  const lazy = {
    length: list.length,
    at(index: number) {
      read.push(list[index].event_id);
      return list[index];
    },
    timestampAt: (index: number) => list[index].timestamp,
  };
  expect(ids(selectEvents(lazy, query("since=2025-01-01T00:00:07.000Z")))).toEqual(["e8", "e9"]);
  expect(read).toEqual(["e9", "e8"]);
  read.length = 0;
  expect(ids(selectEvents(lazy, query("limit=2")))).toEqual(["e8", "e9"]);
  expect(read).toEqual(["e9", "e8"]);
});

Deno.test("status=forwarded selects the write-ahead lines (§12)", () => {
  const parsed = parseLogQuery(new URLSearchParams("status=forwarded"));
  expect(parsed.ok && parsed.query.status).toBe("forwarded");
});

Deno.test("mergeEvents interleaves replicas' lists by timestamp and keeps the newest `limit`", () => {
  const all = events();
  const a = all.filter((_, i) => i % 3 === 0); // e0 e3 e6 e9
  const b = all.filter((_, i) => i % 3 !== 0); // e1 e2 e4 e5 e7 e8
  expect(ids(mergeEvents([a, b], 100))).toEqual(ids(all));
  expect(ids(mergeEvents([b, a], 4))).toEqual(["e6", "e7", "e8", "e9"]);
  expect(ids(mergeEvents([a], 2))).toEqual(["e6", "e9"]);
  expect(mergeEvents([], 5)).toEqual([]);
  // Same instant on two replicas: the lists' order (local first) decides, stably.
  const twin = { ...a[0], event_id: "twin" };
  expect(ids(mergeEvents([[a[0]], [twin]], 10))).toEqual(["e0", "twin"]);
  // Filters are applied per list before merging, exactly as on one replica.
  const q = query("status=blocked&limit=2");
  expect(ids(mergeEvents([selectEvents(a, q), selectEvents(b, q)], q.limit))).toEqual([
    "e7",
    "e9",
  ]);
});
