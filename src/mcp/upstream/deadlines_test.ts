import { expect } from "expect";
import { createDeadlineQueue, type DeadlineClock } from "./deadlines.ts";

/** A manual clock: timers run only when the test advances time. */
function manualClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: DeadlineClock = {
    now: () => now,
    setTimer(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
  };
  return {
    clock,
    timers,
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until)
          .sort((x, y) => x[1].at - y[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
  };
}

/** A queue on a manual clock that counts the timers it arms. */
function countingQueue() {
  const m = manualClock();
  let armed = 0;
  const queue = createDeadlineQueue({
    ...m.clock,
    setTimer: (fn, ms) => {
      armed++;
      return m.clock.setTimer(fn, ms);
    },
  });
  return { m, queue, armed: () => armed };
}

Deno.test("deadlines: each fires at its own time, in order, on one timer per length", () => {
  const m = manualClock();
  const queue = createDeadlineQueue(m.clock);
  const fired: string[] = [];
  queue.add(100, () => fired.push("a@100"));
  m.advance(30);
  queue.add(100, () => fired.push("b@130"));
  queue.add(50, () => fired.push("c@80"));
  expect(m.timers.size).toBe(2); // one per timeout length, not one per deadline
  expect(queue.size).toBe(3);
  m.advance(49);
  expect(fired).toEqual([]);
  m.advance(1);
  expect(fired).toEqual(["c@80"]);
  m.advance(19);
  expect(fired).toEqual(["c@80"]);
  m.advance(1);
  expect(fired).toEqual(["c@80", "a@100"]);
  m.advance(30);
  expect(fired).toEqual(["c@80", "a@100", "b@130"]);
  expect(queue.size).toBe(0);
  expect(m.timers.size).toBe(0);
});

Deno.test("deadlines: a cancelled deadline never fires; the next live one fires on time", () => {
  const m = manualClock();
  const queue = createDeadlineQueue(m.clock);
  const fired: string[] = [];
  const cancelA = queue.add(100, () => fired.push("a"));
  m.advance(10);
  const cancelB = queue.add(100, () => fired.push("b"));
  m.advance(10);
  queue.add(100, () => fired.push("c"));
  cancelB(); // not the oldest: dropped lazily
  cancelA(); // the oldest: its timer stays (no re-arming per request) and re-arms when it fires
  cancelA(); // twice is harmless
  expect(queue.size).toBe(1);
  expect(m.timers.size).toBe(1);
  m.advance(80); // t = 100, a's time
  expect(fired).toEqual([]);
  expect([...m.timers.values()].map((t) => t.at)).toEqual([120]);
  m.advance(19);
  expect(fired).toEqual([]);
  m.advance(1);
  expect(fired).toEqual(["c"]);
  expect(m.timers.size).toBe(0);
});

Deno.test("deadlines: cancelling everything leaves the timer to fire once, unused; a late cancel is harmless", () => {
  const m = manualClock();
  const queue = createDeadlineQueue(m.clock);
  const fired: string[] = [];
  const cancels = [1, 2, 3].map((n) => queue.add(40, () => fired.push(`x${n}`)));
  for (const cancel of cancels) cancel();
  expect(m.timers.size).toBe(1);
  m.advance(10);
  const late = queue.add(40, () => fired.push("late"));
  cancels[0](); // from the emptied lane: must not disturb the new one
  m.advance(30); // the old timer fires, finds only "late" (due at 50) and arms for it
  expect(fired).toEqual([]);
  expect([...m.timers.values()].map((t) => t.at)).toEqual([50]);
  m.advance(10);
  expect(fired).toEqual(["late"]);
  late();
  expect(queue.size).toBe(0);
  expect(m.timers.size).toBe(0);
});

Deno.test("deadlines: requests one at a time (never overlapping) share one timer, not one each", () => {
  const { m, queue, armed } = countingQueue();
  const fired: number[] = [];
  for (let i = 0; i < 1000; i++) {
    queue.add(30_000, () => fired.push(i))(); // each ends before the next starts
    m.advance(1);
  }
  expect(armed()).toBe(1);
  m.advance(30_000);
  expect([armed(), fired.length, m.timers.size, queue.size]).toEqual([1, 0, 0, 0]);
});

Deno.test("deadlines: many finished requests behind a slow one are compacted, not kept", () => {
  const m = manualClock();
  const queue = createDeadlineQueue(m.clock);
  let slowFired = false;
  queue.add(1000, () => slowFired = true);
  for (let i = 0; i < 5000; i++) queue.add(1000, () => {})();
  expect(queue.size).toBe(1);
  expect(queue.held).toBeLessThanOrEqual(1024);
  m.advance(1000);
  expect(slowFired).toBe(true);
  expect(queue.size).toBe(0);
  expect(queue.held).toBe(0);
  expect(m.timers.size).toBe(0);
});

Deno.test("deadlines: requests ending in order set one timer, not one each", () => {
  const { m, queue, armed } = countingQueue();
  const open: (() => void)[] = [];
  for (let i = 0; i < 1000; i++) {
    open.push(queue.add(30_000, () => {}));
    if (open.length > 32) open.shift()?.(); // 32 in flight, the oldest ends first
    m.advance(1);
  }
  expect(armed()).toBe(1);
  expect(queue.size).toBe(32);
  for (const cancel of open) cancel();
  m.advance(30_000);
  expect(m.timers.size).toBe(0);
});

Deno.test("deadlines: the real clock fires a short deadline while the process is alive", async () => {
  // The queue's timers are unref'd: in the gateway a pending read of the request's socket or
  // pipe (and the listener's accept) keeps the process running; here a pending accept does.
  const alive = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = alive.accept().then((conn) => conn.close(), () => {});
  try {
    const queue = createDeadlineQueue();
    const fired = await new Promise<boolean>((resolve) => queue.add(5, () => resolve(true)));
    expect(fired).toBe(true);
    expect(queue.size).toBe(0);
  } finally {
    alive.close();
    await accepting;
  }
});
