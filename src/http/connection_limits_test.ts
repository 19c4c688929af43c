import { expect } from "expect";
import fc from "fast-check";
import {
  type ConnectionLimits,
  createConnectionTable,
  defaultMaxConnections,
  parseOpenFilesLimit,
  Phase,
  sweepIntervalMs,
  TIMED_OUT_GRACE_MS,
} from "./connection_limits.ts";

const LIMITS: ConnectionLimits = {
  headerTimeoutMs: 1000,
  bodyTimeoutMs: 3000,
  idleTimeoutMs: 6000,
  maxConnections: 3,
};
const SLACK = sweepIntervalMs(LIMITS); // 250

Deno.test("sweep period: a quarter of the shortest timeout, within 25 ms and 1 s", () => {
  expect(SLACK).toBe(250);
  expect(sweepIntervalMs({ ...LIMITS, headerTimeoutMs: 40 })).toBe(25);
  expect(
    sweepIntervalMs({
      ...LIMITS,
      headerTimeoutMs: 10_000,
      bodyTimeoutMs: 30_000,
      idleTimeoutMs: 60_000,
    }),
  ).toBe(1000);
});

Deno.test("a connection that sends no head is closed after the header timeout, not before", () => {
  const table = createConnectionTable<string>(LIMITS, { now: 0 });
  const entry = table.open("a")!;
  expect(entry.phase).toBe(Phase.head);
  expect(table.sweep(1000).close).toEqual([]);
  expect(table.sweep(1000 + SLACK - 1).close).toEqual([]);
  expect(table.sweep(1000 + SLACK).close).toEqual([entry]);
});

Deno.test("the idle deadline runs from the end of the last answer", () => {
  const table = createConnectionTable<string>(LIMITS, { now: 0 });
  const entry = table.open("a")!;
  table.requestStarted(entry, false);
  expect(table.sweep(50_000).close).toEqual([]); // a slow handler is not the client's fault
  table.responseStarted(entry, false);
  expect(table.responseDone(entry)).toBe(true);
  expect(entry.phase).toBe(Phase.idle);
  expect(table.sweep(50_000 + 6000 - 1).close).toEqual([]);
  expect(table.sweep(50_000 + 6000 + SLACK).close).toEqual([entry]);
});

Deno.test("an event stream to a GET has no deadline and is closed first when draining", () => {
  const table = createConnectionTable<string>(LIMITS, { now: 0 });
  const stream = table.open("stream")!;
  const busy = table.open("busy")!;
  const idle = table.open("idle")!;
  table.requestStarted(stream, false);
  table.responseStarted(stream, true);
  table.requestStarted(busy, true);
  table.bodyDone(busy);
  expect(table.sweep(1_000_000).close).toEqual([idle]);
  table.remove(idle);
  expect(table.drain()).toEqual([stream]);
  expect(table.full).toBe(true);
  expect(table.open("late")).toBeUndefined();
  table.responseStarted(busy, false);
  expect(table.responseDone(busy)).toBe(false); // draining: close after the answer
});

Deno.test("a body past its deadline tells the waiting reader, then closes after a grace", () => {
  const table = createConnectionTable<string>(LIMITS, { now: 0 });
  const entry = table.open("a")!;
  table.sweep(100);
  table.requestStarted(entry, true);
  let told = 0;
  entry.onBodyTimeout = () => told++;
  expect(table.sweep(100 + 3000 + SLACK - 1).close).toEqual([]);
  expect(table.sweep(100 + 3000 + SLACK).close).toEqual([]);
  expect(told).toBe(1);
  expect(entry.phase).toBe(Phase.timedOut);
  table.responseStarted(entry, false);
  expect(table.responseDone(entry)).toBe(false); // the 408 went out: close
  expect(table.sweep(100 + 3000 + SLACK + TIMED_OUT_GRACE_MS).close).toEqual([entry]);
  expect(told).toBe(1);
});

Deno.test("a body past its deadline with no reader waiting closes the connection", () => {
  const table = createConnectionTable<string>(LIMITS, { now: 0 });
  const entry = table.open("a")!;
  table.requestStarted(entry, true);
  expect(table.sweep(3000 + SLACK).close).toEqual([entry]);
});

Deno.test("a body read in time clears the deadline", () => {
  const table = createConnectionTable<string>(LIMITS, { now: 0 });
  const entry = table.open("a")!;
  table.requestStarted(entry, true);
  entry.onBodyTimeout = () => {
    throw new Error("must not be called");
  };
  table.bodyDone(entry);
  expect(entry.phase).toBe(Phase.busy);
  expect(table.sweep(1_000_000).close).toEqual([]);
});

Deno.test("the cap refuses at once and frees a slot when a connection goes", () => {
  const table = createConnectionTable<number>(LIMITS, { now: 0 });
  const entries = [table.open(1)!, table.open(2)!, table.open(3)!];
  expect(table.full).toBe(true);
  expect(table.open(4)).toBeUndefined();
  table.remove(entries[0]);
  table.remove(entries[0]); // idempotent
  expect(table.size).toBe(2);
  expect(table.open(5)?.handle).toBe(5);
});

Deno.test("no sequence of events makes a waiting connection immortal or closes one early", () => {
  const step = fc.oneof(
    fc.record({ kind: fc.constant("sweep" as const), dt: fc.integer({ min: 0, max: 4000 }) }),
    fc.record({ kind: fc.constant("request" as const), body: fc.boolean() }),
    fc.record({ kind: fc.constant("bodyDone" as const) }),
    fc.record({ kind: fc.constant("respond" as const), stream: fc.boolean() }),
    fc.record({ kind: fc.constant("done" as const) }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
    const table = createConnectionTable<string>(LIMITS, { now: 0 });
    const entry = table.open("a")!;
    let now = 0;
    let waitingSince = 0;
    let closed = false;
    for (const s of steps) {
      if (closed) break;
      const before = entry.phase;
      if (s.kind === "sweep") {
        now += s.dt;
        closed = table.sweep(now).close.includes(entry);
        if (closed) {
          const limit = before === Phase.head
            ? LIMITS.headerTimeoutMs
            : before === Phase.idle
            ? LIMITS.idleTimeoutMs
            : LIMITS.bodyTimeoutMs;
          expect(now - waitingSince).toBeGreaterThanOrEqual(limit);
        }
      } else if (s.kind === "request" && (before === Phase.head || before === Phase.idle)) {
        table.requestStarted(entry, s.body);
        waitingSince = now;
      } else if (s.kind === "bodyDone") table.bodyDone(entry);
      else if (s.kind === "respond" && before !== Phase.head && before !== Phase.idle) {
        table.responseStarted(entry, s.stream);
      } else if (s.kind === "done" && (before === Phase.busy || before === Phase.stream)) {
        if (table.responseDone(entry)) waitingSince = now;
      }
    }
    // Whatever happened, a connection waiting on its client is closed by a late enough sweep.
    if (!closed && [Phase.head, Phase.idle, Phase.body].includes(entry.phase as 0 | 1 | 2)) {
      expect(table.sweep(now + 6000 + 2 * SLACK).close).toEqual([entry]);
    }
  }));
});

Deno.test("the open-files limit is read from /proc/self/limits text", () => {
  const text = "Limit                     Soft Limit           Hard Limit           Units     \n" +
    "Max processes             63704                63704                processes \n" +
    "Max open files            1024                 524288               files     \n";
  expect(parseOpenFilesLimit(text)).toBe(1024);
  expect(parseOpenFilesLimit(text.replace("1024 ", "unlimited"))).toBe(Infinity);
  expect(parseOpenFilesLimit("nothing here")).toBeUndefined();
});

Deno.test("the default cap is half the descriptor limit, within a floor and a ceiling", () => {
  expect(defaultMaxConnections(256)).toBe(128);
  expect(defaultMaxConnections(20_000)).toBe(10_000);
  expect(defaultMaxConnections(1_048_576)).toBe(16_384);
  expect(defaultMaxConnections(Infinity)).toBe(16_384);
  expect(defaultMaxConnections(undefined)).toBe(512);
  expect(defaultMaxConnections(20)).toBe(10);
  expect(defaultMaxConnections(24)).toBe(12);
  fc.assert(fc.property(fc.integer({ min: 1, max: 10_000_000 }), (limit) => {
    const cap = defaultMaxConnections(limit);
    expect(cap).toBeGreaterThanOrEqual(1);
    expect(cap).toBeLessThan(limit + (limit === 1 ? 1 : 0));
  }));
});

Deno.test("a write the client does not read is cut after the idle timeout, in any phase", () => {
  const table = createConnectionTable<string>(LIMITS, { now: 0 });
  const answer = table.open("answer")!;
  const stream = table.open("stream")!;
  table.requestStarted(answer, false);
  table.requestStarted(stream, false);
  table.responseStarted(answer, false);
  table.responseStarted(stream, true);
  table.writeStarted(answer);
  table.writeStarted(stream);
  expect(table.sweep(6000).close).toEqual([]);
  table.writeDone(stream); // the stream's write went out: no deadline again
  expect(table.sweep(6000 + SLACK).close).toEqual([answer]);
  expect(table.sweep(60_000).close).toEqual([answer]);
  expect(stream.deadline).toBe(Infinity);
  // Outside the busy and stream phases a write changes nothing.
  const idle = table.open("idle")!;
  const before = idle.deadline;
  table.writeStarted(idle);
  table.writeDone(idle);
  expect(idle.deadline).toBe(before);
});
