// Pure arithmetic for the two kinds of limit (SPEC §3). `now` is epoch milliseconds (integers
// for exact answers). Nothing here keeps state: every function takes a counter and returns one.

/** Length of the session-cap window: 24 hours in milliseconds. */
export const DAY_MS = 86_400_000;

/**
 * A sliding-window counter: two adjacent fixed buckets of `windowMs`, aligned to multiples of
 * it. The estimate at `now` is `previous * (1 - elapsedInBucket / windowMs) + current`.
 */
export interface WindowCounter {
  /** Window length in milliseconds (a positive integer). */
  readonly windowMs: number;
  /** Start of the bucket holding `current`; `-Infinity` when nothing was ever counted. */
  readonly bucketStart: number;
  /** Calls counted in the bucket starting at `bucketStart`. */
  readonly current: number;
  /** Calls counted in the bucket just before it. */
  readonly previous: number;
}

/** A fixed window opened by its first call: `count` calls since `windowStart`, for `windowMs`. */
export interface CapCounter {
  /** Window length in milliseconds. */
  readonly windowMs: number;
  /** Time of the window's first call; `-Infinity` when no window is open. */
  readonly windowStart: number;
  /** Calls counted in the open window. */
  readonly count: number;
}

/** A check of one counter: the limit and the current time. */
export interface LimitCheck {
  /** Calls admitted per window; below 1 (or NaN) admits nothing. */
  readonly limit: number;
  /** Current time, epoch milliseconds. */
  readonly now: number;
}

/** An empty sliding-window counter of the given length. */
export function emptyWindow(windowMs: number): WindowCounter {
  return { windowMs, bucketStart: -Infinity, current: 0, previous: 0 };
}

/** Start of the bucket of length `windowMs` that holds `now` (exact for integers, any sign). */
export function bucketStartOf(now: number, windowMs: number): number {
  const r = now % windowMs;
  return now - (r < 0 ? r + windowMs : r);
}

/** The counter as seen from `now`: its buckets shifted so that `current` is `now`'s bucket. */
export function rollWindow(counter: WindowCounter, now: number): WindowCounter {
  const { windowMs, bucketStart } = counter;
  const start = bucketStartOf(now, windowMs);
  if (start === bucketStart) return counter;
  const previous = start === bucketStart + windowMs ? counter.current : 0;
  return { windowMs, bucketStart: start, current: 0, previous };
}

/** The weighted estimate of calls in the window ending at `now`. */
export function windowEstimate(counter: WindowCounter, now: number): number {
  const c = rollWindow(counter, now);
  const elapsed = now - c.bucketStart;
  return c.previous * (c.windowMs - elapsed) / c.windowMs + c.current;
}

/**
 * True when one more call at `offset` ms into the bucket fits: the estimate plus one stays
 * within the limit. Integer form (multiplied by the window) so there is no rounding.
 */
function fitsAt(c: WindowCounter, limit: number, offset: number): boolean {
  const w = c.windowMs;
  return c.previous * (w - offset) + (c.current + 1) * w <= limit * w;
}

/**
 * Milliseconds until one more call would be admitted if nothing else happened; 0 = now.
 * A limit below 1 never admits: the answer is then one window (the caller refuses anyway).
 */
export function windowWaitMs(counter: WindowCounter, check: LimitCheck): number {
  const { limit, now } = check;
  const w = counter.windowMs;
  if (!(limit >= 1)) return w;
  const c = rollWindow(counter, now);
  const elapsed = now - c.bucketStart;
  if (fitsAt(c, limit, elapsed)) return 0;
  // Later in this bucket: the previous bucket's weight shrinks as time passes.
  if (c.previous > 0) {
    let t = Math.ceil((c.previous + c.current + 1 - limit) * w / c.previous);
    // The division is a float; settle the last unit with the exact integer test.
    while (t > elapsed + 1 && fitsAt(c, limit, t - 1)) t--;
    while (t < w && !fitsAt(c, limit, t)) t++;
    if (t < w) return c.bucketStart + t - now;
  }
  // In the next bucket, the current count becomes the previous one and shrinks in turn.
  const next: WindowCounter = { windowMs: w, bucketStart: 0, current: 0, previous: c.current };
  let u = 0;
  if (!fitsAt(next, limit, 0)) {
    u = Math.min(w, Math.ceil((c.current + 1 - limit) * w / c.current));
    while (u > 1 && fitsAt(next, limit, u - 1)) u--;
    while (u < w && !fitsAt(next, limit, u)) u++;
  }
  // u = w is the bucket after next, where both buckets are empty and any limit >= 1 admits.
  return c.bucketStart + w + u - now;
}

/** The counter after counting one call at `now`. */
export function windowCommit(counter: WindowCounter, now: number): WindowCounter {
  const c = rollWindow(counter, now);
  return {
    windowMs: c.windowMs,
    bucketStart: c.bucketStart,
    current: c.current + 1,
    previous: c.previous,
  };
}

/** True when the counter holds nothing any more at `now` (2 windows after its last bucket). */
export function windowIdle(counter: WindowCounter, now: number): boolean {
  return now >= counter.bucketStart + 2 * counter.windowMs;
}

/** An empty cap counter of the given length. */
export function emptyCap(windowMs: number): CapCounter {
  return { windowMs, windowStart: -Infinity, count: 0 };
}

/** True when the counter's window is over at `now` (exactly `windowMs` after its first call). */
export function capExpired(counter: CapCounter, now: number): boolean {
  return now >= counter.windowStart + counter.windowMs;
}

/** The counter as seen from `now`: empty once its window is over. */
export function rollCap(counter: CapCounter, now: number): CapCounter {
  return capExpired(counter, now) ? emptyCap(counter.windowMs) : counter;
}

/**
 * Milliseconds until one more call would be admitted if nothing else happened; 0 = now.
 * A limit below 1 never admits: the answer is then one window (the caller refuses anyway).
 */
export function capWaitMs(counter: CapCounter, check: LimitCheck): number {
  const { limit, now } = check;
  if (!(limit >= 1)) return counter.windowMs;
  const c = rollCap(counter, now);
  if (c.count + 1 <= limit) return 0;
  return c.windowStart + c.windowMs - now;
}

/** The counter after counting one call at `now`; the first call of a window opens it. */
export function capCommit(counter: CapCounter, now: number): CapCounter {
  const c = rollCap(counter, now);
  if (c.count === 0) return { windowMs: c.windowMs, windowStart: now, count: 1 };
  return { windowMs: c.windowMs, windowStart: c.windowStart, count: c.count + 1 };
}
