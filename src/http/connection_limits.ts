/**
 * Bookkeeping of open client connections (§12 "Connections"): how many, and by when each must make
 * progress. Pure: no `Deno.*`, no timers; the listener passes the time in on every sweep.
 */

/** Bounds on client connections. */
export interface ConnectionLimits {
  /** From accept to a complete first request head. */
  readonly headerTimeoutMs: number;
  /** From a request head to a complete body (requests that carry one). */
  readonly bodyTimeoutMs: number;
  /** From the end of an answer to the next complete request head (idle keep-alive). */
  readonly idleTimeoutMs: number;
  /** Connections served at once; more are refused at accept. */
  readonly maxConnections: number;
}

/** Where a connection stands; only the waiting phases have a deadline. */
export const Phase = {
  /** Accepted, waiting for its first request head. */
  head: 0,
  /** Answered, waiting for the next request head. */
  idle: 1,
  /** A request with a body is being read. */
  body: 2,
  /** A request is being handled or its answer written (no client deadline). */
  busy: 3,
  /** A long-lived event stream (SSE) to a GET is being written: closed first at shutdown. */
  stream: 4,
  /** The body deadline passed and the reader was told; the 408 has a short grace to go out. */
  timedOut: 5,
  /** Closed and forgotten. */
  closed: 6,
} as const;

/** A phase value. */
export type PhaseValue = typeof Phase[keyof typeof Phase];

/** One open connection; `handle` is whatever the listener needs to close it. */
export interface ConnectionEntry<H> {
  /** The listener's handle (e.g. its HTTP connection). */
  readonly handle: H;
  /** Current phase. */
  phase: PhaseValue;
  /** Deadline (in the table's clock) of the waiting phases; Infinity otherwise. */
  deadline: number;
  /** Set while a body reader waits: called when the body deadline passes. */
  onBodyTimeout: (() => void) | undefined;
}

/** What a sweep asks the listener to do. */
export interface SweepResult<H> {
  /** Connections to close now (deadline passed, or the 408 grace ran out). */
  readonly close: ConnectionEntry<H>[];
}

/** A table of open connections with their deadlines. */
export interface ConnectionTable<H> {
  /** Open connections. */
  readonly size: number;
  /** True when no connection can be opened (at the cap, or draining). */
  readonly full: boolean;
  /** True once `drain` was called. */
  readonly draining: boolean;
  /** Registers an accepted connection, or returns undefined when at the cap (refuse it). */
  open(handle: H): ConnectionEntry<H> | undefined;
  /** A request head arrived; `hasBody` when it carries a body that must arrive in time. */
  requestStarted(entry: ConnectionEntry<H>, hasBody: boolean): void;
  /** The body was read (or given up); the request is now the handler's. */
  bodyDone(entry: ConnectionEntry<H>): void;
  /** The handler answered; `stream` for a long-lived event stream to a GET. */
  responseStarted(entry: ConnectionEntry<H>, stream: boolean): void;
  /**
   * A write to the client begins (the builtin server): it must end within `idleTimeoutMs`, so a
   * client that stops reading its answers is cut, whatever the phase.
   */
  writeStarted(entry: ConnectionEntry<H>): void;
  /** That write ended: busy and stream phases have no deadline again. */
  writeDone(entry: ConnectionEntry<H>): void;
  /** The answer was written; returns false when the connection must close (draining, 408). */
  responseDone(entry: ConnectionEntry<H>): boolean;
  /** Forgets a connection (closed by either side). */
  remove(entry: ConnectionEntry<H>): void;
  /** Advances the clock to `now` and returns what must close; body readers past due are told. */
  sweep(now: number): SweepResult<H>;
  /** Starts draining: returns the connections to close at once (waiting for a head, streams). */
  drain(): ConnectionEntry<H>[];
  /** Every open connection. */
  entries(): IterableIterator<ConnectionEntry<H>>;
}

/** Grace for a 408 answer to be written after the body deadline, before the socket is cut. */
export const TIMED_OUT_GRACE_MS = 1000;

/** The sweep period for `limits`: a quarter of the shortest timeout, between 25 ms and 1 s. */
export function sweepIntervalMs(limits: ConnectionLimits): number {
  const shortest = Math.min(limits.headerTimeoutMs, limits.bodyTimeoutMs, limits.idleTimeoutMs);
  return Math.min(1000, Math.max(25, Math.floor(shortest / 4)));
}

/**
 * Creates a connection table. Deadlines are set from the time of the last sweep plus one sweep
 * period, so a connection is closed no earlier than its timeout and at most two periods after it,
 * without reading a clock on the request path.
 */
export function createConnectionTable<H>(
  limits: ConnectionLimits,
  options: { now: number },
): ConnectionTable<H> {
  const open = new Set<ConnectionEntry<H>>();
  const slack = sweepIntervalMs(limits);
  let now = options.now;
  let draining = false;

  function wait(entry: ConnectionEntry<H>, phase: PhaseValue, timeoutMs: number): void {
    entry.phase = phase;
    entry.deadline = now + slack + timeoutMs;
  }

  return {
    get size() {
      return open.size;
    },
    get full() {
      return draining || open.size >= limits.maxConnections;
    },
    get draining() {
      return draining;
    },
    open(handle) {
      if (draining || open.size >= limits.maxConnections) return undefined;
      const entry: ConnectionEntry<H> = {
        handle,
        phase: Phase.head,
        deadline: now + slack + limits.headerTimeoutMs,
        onBodyTimeout: undefined,
      };
      open.add(entry);
      return entry;
    },
    requestStarted(entry, hasBody) {
      if (entry.phase === Phase.closed) return;
      if (hasBody) wait(entry, Phase.body, limits.bodyTimeoutMs);
      else {
        entry.phase = Phase.busy;
        entry.deadline = Infinity;
      }
    },
    bodyDone(entry) {
      entry.onBodyTimeout = undefined;
      if (entry.phase !== Phase.body) return;
      entry.phase = Phase.busy;
      entry.deadline = Infinity;
    },
    responseStarted(entry, stream) {
      entry.onBodyTimeout = undefined;
      if (entry.phase === Phase.closed || entry.phase === Phase.timedOut) return;
      entry.phase = stream ? Phase.stream : Phase.busy;
      entry.deadline = Infinity;
    },
    writeStarted(entry) {
      if (entry.phase !== Phase.busy && entry.phase !== Phase.stream) return;
      entry.deadline = now + slack + limits.idleTimeoutMs;
    },
    writeDone(entry) {
      if (entry.phase !== Phase.busy && entry.phase !== Phase.stream) return;
      entry.deadline = Infinity;
    },
    responseDone(entry) {
      if (entry.phase === Phase.closed || entry.phase === Phase.timedOut || draining) return false;
      wait(entry, Phase.idle, limits.idleTimeoutMs);
      return true;
    },
    remove(entry) {
      entry.phase = Phase.closed;
      entry.deadline = Infinity;
      entry.onBodyTimeout = undefined;
      open.delete(entry);
    },
    sweep(at) {
      now = at;
      const close: ConnectionEntry<H>[] = [];
      for (const entry of open) {
        if (entry.deadline > at) continue;
        const notify = entry.phase === Phase.body ? entry.onBodyTimeout : undefined;
        if (notify !== undefined) {
          // A reader waits for the body: let it answer 408, then cut the socket if it cannot.
          entry.onBodyTimeout = undefined;
          entry.phase = Phase.timedOut;
          entry.deadline = at + TIMED_OUT_GRACE_MS;
          notify();
        } else close.push(entry);
      }
      return { close };
    },
    drain() {
      draining = true;
      const close: ConnectionEntry<H>[] = [];
      for (const entry of open) {
        if (
          entry.phase === Phase.head || entry.phase === Phase.idle || entry.phase === Phase.stream
        ) close.push(entry);
      }
      return close;
    },
    entries() {
      return open.values();
    },
  };
}

/** Reads the soft "Max open files" limit from the text of `/proc/self/limits`. */
export function parseOpenFilesLimit(text: string): number | undefined {
  const match = /^Max open files\s+(\d+|unlimited)\s+/m.exec(text);
  if (match === null) return undefined;
  return match[1] === "unlimited" ? Infinity : Number(match[1]);
}

/** Floor and ceiling of the default connection cap. */
export const DEFAULT_CONNECTIONS = { floor: 16, ceiling: 16_384, unknownLimit: 1024 } as const;

/**
 * The default `MAX_CONNECTIONS`: half the descriptor limit (the rest stays for the audit file,
 * upstream connections, child processes and the runtime), at least 16 (but never more than the
 * limit allows), at most 16,384 (memory), and 512 when the limit is unknown.
 */
export function defaultMaxConnections(fdLimit: number | undefined): number {
  const limit = fdLimit === undefined || !(fdLimit > 0)
    ? DEFAULT_CONNECTIONS.unknownLimit
    : fdLimit;
  const half = Math.floor(limit / 2);
  const floor = Math.min(DEFAULT_CONNECTIONS.floor, Math.max(1, limit - 16));
  return Math.max(floor, Math.min(DEFAULT_CONNECTIONS.ceiling, half));
}
