/**
 * Request deadlines on one timer per timeout length (effect: owns timers). Every upstream
 * request gets the same timeout, so deadlines arrive in the order requests start: a FIFO per
 * timeout length and a single timer armed for its oldest live deadline replace a `setTimeout`
 * and `clearTimeout` per request (§11). Each deadline fires when a timer of its own would have. A
 * lane's timer outlives the lane's last deadline (it fires once, late, and finds nothing), so
 * requests that do not overlap share it too.
 */

/** Cancels a deadline; harmless after it fired or was cancelled. */
export type CancelDeadline = () => void;

/** Where deadlines are kept. */
export interface DeadlineQueue {
  /** Calls `onTimeout` once `timeoutMs` have passed, unless cancelled first. */
  add(timeoutMs: number, onTimeout: () => void): CancelDeadline;
  /** Deadlines still waiting. */
  readonly size: number;
  /** Entries held, live or cancelled but not yet dropped (at most about twice `size`). */
  readonly held: number;
}

/** Timer functions and clock, injectable for tests. */
export interface DeadlineClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Schedules `fn` after `ms` (never cancelled: a lane's timer always fires). */
  setTimer(fn: () => void, ms: number): unknown;
}

interface Entry {
  readonly at: number;
  fire: (() => void) | null;
}

interface Lane {
  entries: Entry[];
  head: number;
  live: number;
  timer: unknown;
}

const SYSTEM_CLOCK: DeadlineClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    // Unref'd: a deadline matters only while its request's own I/O keeps the process running.
    const id = setTimeout(fn, ms);
    Deno.unrefTimer(id);
    return id;
  },
};

/** Creates a deadline queue; `clock` defaults to `performance.now` and `setTimeout`. */
export function createDeadlineQueue(clock: DeadlineClock = SYSTEM_CLOCK): DeadlineQueue {
  const lanes = new Map<number, Lane>();

  /** Moves the head past cancelled entries; when none is left, stops the lane. */
  function skipCancelled(timeoutMs: number, lane: Lane): boolean {
    while (lane.head < lane.entries.length && lane.entries[lane.head].fire === null) lane.head++;
    if (lane.head === lane.entries.length) {
      // Empty: an armed timer is left to fire (and find nothing), so that calls which never
      // overlap, the usual case below saturation, do not arm and clear a timer each (§11).
      // The system clock's timers are unref'd: a waiting lane keeps nothing alive.
      lane.entries = [];
      lane.head = 0;
      if (lane.timer === null && lanes.get(timeoutMs) === lane) lanes.delete(timeoutMs);
      return false;
    }
    if (lane.head > 1024 && lane.head * 2 > lane.entries.length) {
      lane.entries = lane.entries.slice(lane.head);
      lane.head = 0;
    }
    return true;
  }

  /**
   * Arms the lane's timer for its oldest live deadline, unless one is armed already: that one is
   * never later (deadlines only grow), and re-arms when it fires. Requests mostly end in the
   * order they started, so re-arming on every cancellation would cost a timer per request again.
   */
  function arm(timeoutMs: number, lane: Lane): void {
    if (!skipCancelled(timeoutMs, lane) || lane.timer !== null) return;
    lane.timer = clock.setTimer(() => {
      lane.timer = null;
      expire(timeoutMs, lane);
    }, Math.max(0, lane.entries[lane.head].at - clock.now()));
  }

  /** Drops cancelled entries once they outnumber live ones (a slow request holds the head). */
  function compact(lane: Lane): void {
    const held = lane.entries.length - lane.head;
    if (held < 1024 || lane.live * 2 > held) return;
    lane.entries = lane.entries.slice(lane.head).filter((entry) => entry.fire !== null);
    lane.head = 0;
  }

  function expire(timeoutMs: number, lane: Lane): void {
    const now = clock.now();
    const due: (() => void)[] = [];
    while (lane.head < lane.entries.length && lane.entries[lane.head].at <= now) {
      const entry = lane.entries[lane.head++];
      if (entry.fire !== null) {
        due.push(entry.fire);
        entry.fire = null;
        lane.live--;
      }
    }
    arm(timeoutMs, lane);
    for (const fire of due) fire();
  }

  return {
    add(timeoutMs, onTimeout) {
      const ms = Math.max(0, timeoutMs);
      let lane = lanes.get(ms);
      if (lane === undefined) {
        lane = { entries: [], head: 0, live: 0, timer: null };
        lanes.set(ms, lane);
      }
      const entry: Entry = { at: clock.now() + ms, fire: onTimeout };
      lane.entries.push(entry);
      lane.live++;
      arm(ms, lane);
      const owner = lane;
      return () => {
        if (entry.fire === null) return;
        entry.fire = null;
        owner.live--;
        if (owner.entries[owner.head] === entry) skipCancelled(ms, owner);
        else compact(owner);
      };
    },
    get size() {
      let live = 0;
      for (const lane of lanes.values()) live += lane.live;
      return live;
    },
    get held() {
      let held = 0;
      for (const lane of lanes.values()) held += lane.entries.length - lane.head;
      return held;
    },
  };
}
