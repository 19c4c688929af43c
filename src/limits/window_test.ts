import { expect } from "expect";
import {
  bucketStartOf,
  capCommit,
  type CapCounter,
  capExpired,
  capWaitMs,
  DAY_MS,
  emptyCap,
  emptyWindow,
  rollWindow,
  windowCommit,
  type WindowCounter,
  windowEstimate,
  windowIdle,
  windowWaitMs,
} from "./window.ts";

const W = 60_000;

function win(bucketStart: number, previous: number, current: number, windowMs = W): WindowCounter {
  return { windowMs, bucketStart, previous, current };
}

/** Independent oracle: does one more call fit at `t`? Rolls by hand, integer arithmetic. */
function admits(c: WindowCounter, limit: number, t: number): boolean {
  const w = c.windowMs;
  const b = Math.floor(t / w) * w;
  const [previous, current] = b === c.bucketStart
    ? [c.previous, c.current]
    : b === c.bucketStart + w
    ? [c.current, 0]
    : [0, 0];
  return previous * (w - (t - b)) + (current + 1) * w <= limit * w;
}

Deno.test("bucketStartOf aligns to multiples of the window, edges included", () => {
  const cases: [number, number][] = [
    [0, 0],
    [1, 0],
    [59_999, 0],
    [60_000, 60_000],
    [
      119_999,
      60_000,
    ],
    [-1, -60_000],
    [-60_000, -60_000],
  ];
  for (const [now, start] of cases) expect([now, bucketStartOf(now, W)]).toEqual([now, start]);
});

Deno.test("rollWindow keeps, shifts or clears the buckets", () => {
  const c = win(60_000, 4, 7);
  expect(rollWindow(c, 60_000)).toBe(c);
  expect(rollWindow(c, 119_999)).toBe(c);
  expect(rollWindow(c, 120_000)).toEqual(win(120_000, 7, 0));
  expect(rollWindow(c, 179_999)).toEqual(win(120_000, 7, 0));
  expect(rollWindow(c, 180_000)).toEqual(win(180_000, 0, 0));
  expect(rollWindow(emptyWindow(W), 5)).toEqual(win(0, 0, 0));
});

Deno.test("windowEstimate weighs the previous bucket by the part still in the window", () => {
  const c = win(0, 10, 3);
  const cases: [number, number][] = [
    [0, 13],
    [15_000, 10.5],
    [30_000, 8],
    [59_999, 3 + 10 / W],
    [
      60_000,
      3,
    ],
    [90_000, 1.5],
    [120_000, 0],
  ];
  for (const [now, estimate] of cases) {
    expect(windowEstimate(c, now)).toBeCloseTo(estimate, 9);
  }
});

Deno.test("windowWaitMs: exact waits, table", () => {
  // [previous, current, limit, now (bucket starts at 0), expected wait]
  const cases: [number, number, number, number, number][] = [
    [10, 0, 10, 0, 6_000], // previous full: wait until 1/10 of it has slid out
    [10, 0, 10, 6_000, 0], // exactly then
    [10, 0, 10, 5_999, 1],
    [10, 5, 10, 1_000, 35_000], // 10(W-t) + 6W <= 10W  =>  t >= 36_000
    [7, 3, 10, 0, 8_572], // t >= W/7 = 8571.43 -> rounded up
    [0, 5, 5, 30_000, 42_000], // current bucket alone full: next bucket, t >= W/5
    [3, 5, 5, 10_000, 62_000], // cannot fit in this bucket: crosses into the next one
    [0, 1, 1, 0, 120_000], // limit 1: the bucket after next
    [0, 10, 5, 0, 96_000], // limit lowered by a reload below the count
    [0, 4, 5, 59_999, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 0, 0, W], // a limit below 1 admits nothing
  ];
  for (const [previous, current, limit, now, wait] of cases) {
    const got = windowWaitMs(win(0, previous, current), { limit, now });
    expect({ previous, current, limit, now, wait: got }).toEqual({
      previous,
      current,
      limit,
      now,
      wait,
    });
  }
});

Deno.test("windowWaitMs: waiting wait-1 still refuses, waiting wait admits (exhaustive)", () => {
  const w = 1_000;
  let checked = 0;
  for (const limit of [1, 2, 3, 7]) {
    for (let previous = 0; previous <= limit + 1; previous++) {
      for (let current = 0; current <= limit + 1; current++) {
        for (const now of [0, 1, 333, 500, 999]) {
          const c = win(0, previous, current, w);
          const wait = windowWaitMs(c, { limit, now });
          expect(wait >= 0).toBe(true);
          expect(admits(c, limit, now + wait)).toBe(true);
          if (wait > 0) expect(admits(c, limit, now + wait - 1)).toBe(false);
          expect(admits(c, limit, now)).toBe(wait === 0);
          checked++;
        }
      }
    }
  }
  expect(checked).toBeGreaterThan(300);
});

Deno.test("windowWaitMs agrees with a brute-force scan for odd window lengths", () => {
  for (const w of [7, 13, 1_001]) {
    for (const [previous, current, limit] of [[5, 2, 6], [6, 6, 6], [1, 3, 3], [9, 0, 4]]) {
      const c = win(w * 5, previous, current, w);
      for (const now of [w * 5, w * 5 + 3, w * 6 - 1]) {
        let t = now;
        while (!admits(c, limit, t)) t++;
        expect([w, previous, current, limit, now, windowWaitMs(c, { limit, now })])
          .toEqual([w, previous, current, limit, now, t - now]);
      }
    }
  }
});

Deno.test("windowCommit counts in the bucket of now", () => {
  expect(windowCommit(emptyWindow(W), 61_000)).toEqual(win(60_000, 0, 1));
  expect(windowCommit(win(0, 2, 3), 59_999)).toEqual(win(0, 2, 4));
  expect(windowCommit(win(0, 2, 3), 60_000)).toEqual(win(60_000, 3, 1));
  expect(windowCommit(win(0, 2, 3), 120_000)).toEqual(win(120_000, 0, 1));
});

Deno.test("windowIdle: two windows after the last bucket, not before", () => {
  expect(windowIdle(win(60_000, 0, 1), 179_999)).toBe(false);
  expect(windowIdle(win(60_000, 0, 1), 180_000)).toBe(true);
  expect(windowIdle(emptyWindow(W), 0)).toBe(true);
});

Deno.test("cap: the window opens at the first call and resets exactly 24 h later", () => {
  const first = 1_000_000;
  let c: CapCounter = emptyCap(DAY_MS);
  for (let i = 0; i < 5; i++) {
    expect(capWaitMs(c, { limit: 5, now: first + i * 1_000 })).toBe(0);
    c = capCommit(c, first + i * 1_000);
  }
  expect(c).toEqual({ windowMs: DAY_MS, windowStart: first, count: 5 });
  const cases: [number, number][] = [
    [first + 4_000, DAY_MS - 4_000],
    [first + 3_600_000, DAY_MS - 3_600_000],
    [first + DAY_MS - 1, 1],
    [first + DAY_MS, 0],
    [first + DAY_MS + 1, 0],
  ];
  for (const [now, wait] of cases) {
    expect([now, capWaitMs(c, { limit: 5, now })]).toEqual([now, wait]);
  }
  expect(capExpired(c, first + DAY_MS - 1)).toBe(false);
  expect(capExpired(c, first + DAY_MS)).toBe(true);
  expect(capCommit(c, first + DAY_MS)).toEqual({
    windowMs: DAY_MS,
    windowStart: first + DAY_MS,
    count: 1,
  });
});

Deno.test("cap: a limit lowered below the count waits for the reset; below 1 never admits", () => {
  const c: CapCounter = { windowMs: DAY_MS, windowStart: 0, count: 8 };
  expect(capWaitMs(c, { limit: 5, now: 10 })).toBe(DAY_MS - 10);
  expect(capWaitMs(c, { limit: 9, now: 10 })).toBe(0);
  expect(capWaitMs(emptyCap(DAY_MS), { limit: 0, now: 10 })).toBe(DAY_MS);
  expect(capWaitMs(emptyCap(DAY_MS), { limit: NaN, now: 10 })).toBe(DAY_MS);
});
