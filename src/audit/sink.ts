import { dirname } from "node:path";
import { type ChainerOptions, createChainer } from "./chainer.ts";
import type { AuditEvent } from "./event.ts";
import type { EventList } from "./query.ts";
import { completeLine, flatten, linePrefix, lineTimestamp } from "./line.ts";
import {
  describeError,
  findChainStart,
  listRotatedFiles,
  lockLogFile,
  type LogFileLock,
  type LogFileState,
  readLastByte,
} from "./log_file.ts";
import { createLineRing, type UnchainedLine } from "./line_ring.ts";

/** Options of `openAuditSink`. */
export interface AuditSinkOptions {
  /** The audit file (`AUDIT_LOG_PATH`); its directory is created at open if missing. */
  path: string;
  /** Where each written line is copied (`AUDIT_STDOUT`); a best-effort copy. */
  stdout?: { write(bytes: Uint8Array): unknown } | null;
  /** Rotate past this many bytes (`AUDIT_MAX_BYTES`); 0 or absent = never. */
  maxBytes?: number;
  /** Delay between an append and its write, in ms (default 20). */
  flushIntervalMs?: number;
  /** Events kept for `/logs` (default 2000, at least 1000). */
  ringSize?: number;
  /** Events waiting to be written before new ones are dropped (default 100 000). */
  maxQueue?: number;
  /** Called once per failure episode (and once when events start being dropped); no secrets. */
  onError?: (message: string) => void;
  /** Called when writing works again after a failure. */
  onRecover?: () => void;
  /** This replica's name, written in every line (`GATEWAY_ID`, §13); absent = null. */
  gatewayId?: string;
  /** Where lines are hashed: batches of 32+ on a worker thread by default. */
  chainer?: ChainerOptions;
  /** Handed the bytes of the complete lines of each write, once they are in the file (from the
   * flush, off the request path); e.g. copied to Redis for other replicas' `/logs` (§13). */
  onWritten?: (bytes: Uint8Array) => void;
}

/** The audit log writer: cheap synchronous appends, batched chained writes off the request path. */
export interface AuditSink {
  /**
   * Queues `event` (synchronous, no I/O, no hashing: only its line's text is built, and kept
   * instead of the event); it is chained and written within ~20 ms. `payloadJson` (from
   * `buildAuditRecord`) is the redacted payload's JSON, reused for the line.
   */
  append(event: AuditEvent, payloadJson?: string | null): void;
  /**
   * Write-ahead (§12): queues `event` like `append`, has the queue written now (on the next turn,
   * no timer) and resolves once this event's line is in the file (`write(2)` done, not fsynced).
   * Concurrent calls share one write; the chain order is the append order. Rejects when the
   * write fails (the event stays queued), or at once, queueing nothing, when the sink is
   * unhealthy or closed or the queue is full.
   */
  appendDurable(event: AuditEvent, payloadJson?: string | null): Promise<void>;
  /** False while the log cannot be written (the gateway answers 503 then) and after close. */
  readonly healthy: boolean;
  /** The newest hash written to the file (`audit_head`). */
  readonly head: string;
  /** Events lost because the queue was full or they came after close. */
  readonly dropped: number;
  /** The in-memory ring, oldest first, read back from the lines kept (chained events carry
   * `prev_hash` and `hash`); new objects on every call. */
  recent(): readonly AuditEvent[];
  /** The same ring read lazily (`/logs`): an event is parsed only when asked for, and its
   * timestamp can be read without parsing it. A snapshot: later appends do not show. */
  recentList(): EventList;
  /** Writes everything appended so far now; rejects when the write fails (events stay queued). */
  flush(): Promise<void>;
  /** Stops the timer and writes everything; rejects when that write fails. */
  close(): Promise<void>;
  /** Calls `listener` with every appended event; returns the unsubscribe function. */
  subscribe(listener: (event: AuditEvent) => void): () => void;
}

/** A chained batch waiting to be written: written straight from its bytes, never copied. */
interface ChainedRun {
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
  readonly hashes: readonly string[];
  /** The first line not yet wholly in the file. */
  next: number;
}

/**
 * An appended event as the queue keeps it until it is chained: its line up to `"prev_hash":"` as
 * one flat string, and its place in the ring (line_ring.ts keeps the chained line as bytes).
 */
interface HeldEvent {
  readonly prefix: string;
  readonly seq: number;
}

const lineDecoder = new TextDecoder();

function ringToEvent(item: UnchainedLine | Uint8Array): AuditEvent {
  const text = item instanceof Uint8Array
    ? lineDecoder.decode(item)
    : completeLine(item.prefix, null, null);
  return JSON.parse(text) as AuditEvent;
}

function ringTimestamp(item: UnchainedLine | Uint8Array): string {
  return lineTimestamp(
    item instanceof Uint8Array ? lineDecoder.decode(item.subarray(0, 64)) : item.prefix,
  );
}

const SEGMENT_BYTES = 1024 * 1024;
// Small enough that building one batch's lines never holds requests up for long (p99).
const CHAIN_BATCH = 256;
const MAX_BACKOFF_MS = 1000;
const NEWLINE = new Uint8Array([0x0a]);

function lineStart(run: ChainedRun, line: number): number {
  return line === 0 ? 0 : run.ends[line - 1];
}

/** Opens (creating if needed) the audit log at `options.path`, continuing its hash chain. */
export async function openAuditSink(options: AuditSinkOptions): Promise<AuditSink> {
  const path = options.path;
  const gatewayId = options.gatewayId ?? null;
  const interval = Math.max(1, options.flushIntervalMs ?? 20);
  const maxBytes = Math.max(0, options.maxBytes ?? 0);
  const maxQueue = Math.max(1, options.maxQueue ?? 100_000);
  const onError = options.onError ?? (() => {});
  const onRecover = options.onRecover ?? (() => {});
  let start: { head: string; known: LogFileState | null };
  let fileLock: LogFileLock | null = null; // one writer per file (log_file.ts lockLogFile)
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o750 });
    fileLock = await lockLogFile(path);
    start = await findChainStart(path);
  } catch (error) {
    fileLock?.release();
    const why = error instanceof Error && !("code" in error) ? error.message : describeError(error);
    throw new Error(`Cannot open audit log "${path}": ${why}`);
  }
  const ring = createLineRing(Math.max(1000, options.ringSize ?? 2000));
  const listeners = new Set<(event: AuditEvent) => void>();
  let pending: HeldEvent[] = [];
  const chainer = createChainer(options.chainer);
  const runs: ChainedRun[] = [];
  let queuedLines = 0; // chained lines not yet wholly written, across `runs`
  let chainHead = start.head;
  let writtenHead = start.head;
  let known = start.known;
  let partial = 0; // bytes of the first queued line already in the file described by `known`
  let healthy = true;
  let failures = 0;
  let dropped = 0;
  let dropReported = false;
  let stdoutReported = false;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lock: Promise<unknown> = Promise.resolve();
  // Write-ahead bookkeeping: events queued and lines wholly written since open, and the callers
  // waiting for a line (in queue order). A waiter for event n resolves once `writtenCount >= n`.
  let queuedCount = 0;
  let writtenCount = 0;
  let waiters: { count: number; resolve(): void; reject(error: Error): void }[] = [];
  let urgent: Promise<Error | null> | null = null;
  let open: { handle: Deno.FsFile; ino: number | null } | null = null; // see currentFile

  function schedule(delay: number): void {
    if (timer !== null || closed) return;
    timer = setTimeout(() => {
      timer = null;
      void run();
    }, delay);
  }

  function run(onStart?: () => void): Promise<Error | null> {
    const result = lock.then(() => {
      onStart?.();
      return writeAll();
    });
    lock = result.catch(() => null);
    return result.then((error) => {
      if (error !== null) {
        rejectWaiters(error);
        failures++;
        if (healthy) {
          healthy = false;
          onError(error.message);
        }
        schedule(Math.min(MAX_BACKOFF_MS, interval * 2 ** failures));
      } else {
        failures = 0;
        if (!healthy) {
          healthy = true;
          onRecover();
        }
        if (pending.length > 0) schedule(interval);
      }
      return error;
    });
  }

  /** Starts a write of the whole queue now, or joins the one queued and not yet started. */
  function runSoon(): Promise<Error | null> {
    if (urgent === null) {
      // An armed flush timer stays armed: this write takes the whole queue, so the timer finds
      // little or nothing to write, but clearing it here would have the next `append` arm a new
      // one, a timer armed and cleared per forwarded call under load.
      urgent = run(() => {
        urgent = null; // events appended from now on need a write of their own
      });
    }
    return urgent;
  }

  function resolveWaiters(): void {
    let done = 0;
    while (done < waiters.length && waiters[done].count <= writtenCount) waiters[done++].resolve();
    if (done > 0) waiters = waiters.slice(done);
  }

  function rejectWaiters(error: Error): void {
    const failed = waiters;
    waiters = [];
    for (const waiter of failed) waiter.reject(error);
  }

  async function writeAll(): Promise<Error | null> {
    if (pending.length === 0 && runs.length === 0) return null;
    try {
      let file = await currentFile();
      let state = await settle(file.info);
      while (await chainMore()) {
        if (maxBytes > 0 && partial === 0 && state.size > 0) {
          const run = runs[0];
          if (state.size + run.ends[run.next] - lineStart(run, run.next) > maxBytes) {
            closeFile();
            await rotate();
            file = await currentFile();
            state = await settle(file.info);
          }
        }
        await writeSegment(file.handle, state);
      }
      if (runs.length === 0 && pending.length === 0) dropReported = false;
      return null;
    } catch (error) {
      closeFile(); // the next attempt starts from a fresh open
      return new Error(`Cannot write audit log "${path}": ${describeError(error)}`);
    }
  }

  /**
   * The audit file, kept open between writes: one `stat` of the path per batch checks that the
   * open handle is still the file at `path` (same inode); a file moved, deleted or replaced
   * under us is reopened (and a missing directory fails the write: fail closed). One system
   * call a batch instead of open, fstat and close: what a write-ahead line waits for.
   * The stat and the writes are synchronous system calls (made by the flush, never by a request
   * handler): an async file operation costs a hop to a blocking thread and back, which every
   * call waiting for its write-ahead line would pay; a write to the page cache takes
   * microseconds. The price: a stalled file system (a hung network mount) stalls the event loop,
   * so keep the audit log on local disk.
   */
  async function currentFile(): Promise<{ handle: Deno.FsFile; info: Deno.FileInfo }> {
    if (open !== null) {
      let info: Deno.FileInfo | null = null;
      try {
        info = Deno.statSync(path);
      } catch { /* moved or deleted: reopened below */ }
      if (info !== null && info.ino !== null && info.ino === open.ino) {
        return { handle: open.handle, info };
      }
      closeFile();
    }
    const handle = await Deno.open(path, { append: true, create: true, mode: 0o640 });
    try {
      const info = await handle.stat();
      open = { handle, ino: info.ino };
      return { handle, info };
    } catch (error) {
      handle.close();
      throw error;
    }
  }

  function closeFile(): void {
    try {
      open?.handle.close();
    } catch { /* already closed */ }
    open = null;
  }

  /** Works out where the next byte goes: resume a partial line, or add "\n" after a torn one. */
  async function settle(info: Deno.FileInfo): Promise<{ size: number; needsNewline: boolean }> {
    const ino = info.ino ?? null;
    if (known !== null && known.ino === ino && known.size === info.size) {
      return { size: info.size, needsNewline: partial === 0 && !known.endsWithNewline };
    }
    partial = 0; // the file changed under us: rewrite the interrupted line whole
    const last = await readLastByte(path, info.size);
    known = { ino, size: info.size, endsWithNewline: last === null || last === 0x0a };
    return { size: info.size, needsNewline: !known.endsWithNewline };
  }

  async function rotate(): Promise<void> {
    const rotated = await listRotatedFiles(path);
    const next = (rotated.at(-1)?.index ?? 0) + 1;
    await Deno.rename(path, `${path}.${next}`);
    known = null;
  }

  /** Chains up to CHAIN_BATCH pending events when no chained line waits; false when all done. */
  async function chainMore(): Promise<boolean> {
    if (runs.length > 0) return true;
    if (pending.length === 0) return false;
    const batch = pending.slice(0, CHAIN_BATCH);
    pending = pending.slice(batch.length);
    const prev = chainHead;
    const chained = await chainer.chain(batch.map((held) => held.prefix), prev);
    for (let i = 0; i < batch.length; i++) {
      // The line without its "\n", kept by the ring as bytes from now on.
      ring.chained(
        batch[i].seq,
        chained.bytes.subarray(i === 0 ? 0 : chained.ends[i - 1], chained.ends[i] - 1),
      );
    }
    runs.push({ bytes: chained.bytes, ends: chained.ends, hashes: chained.hashes, next: 0 });
    queuedLines += batch.length;
    chainHead = chained.hashes[batch.length - 1];
    return true;
  }

  /** Writes the first run's next lines (as many as fit the segment and rotation limits, at
   * least one), straight from the run's bytes. */
  async function writeSegment(
    file: Deno.FsFile,
    state: { size: number; needsNewline: boolean },
  ): Promise<void> {
    if (state.needsNewline) {
      // Close off a torn line (ours or someone else's) before the next line starts.
      if (file.writeSync(NEWLINE) !== 1) throw new Error("short write");
      state.needsNewline = false;
      state.size += 1;
      known = known === null ? null : { ino: known.ino, size: state.size, endsWithNewline: true };
      return;
    }
    const run = runs[0];
    const from = lineStart(run, run.next) + partial;
    let last = run.next;
    while (last + 1 < run.ends.length) {
      const size = run.ends[last + 1] - from;
      if (size > SEGMENT_BYTES || (maxBytes > 0 && state.size + size > maxBytes)) break;
      last++;
    }
    const segment = run.bytes.subarray(from, run.ends[last]);
    let written = 0;
    try {
      while (written < segment.length) written += file.writeSync(segment.subarray(written));
    } finally {
      await account(written, state);
    }
  }

  /** Records what `written` bytes of the last segment completed, and copies those lines out. */
  async function account(written: number, state: { size: number; needsNewline: boolean }) {
    state.size += written;
    const run = runs[0];
    const first = run.next;
    const reached = lineStart(run, first) + partial + written;
    while (run.next < run.ends.length && run.ends[run.next] <= reached) run.next++;
    const completed = run.next - first;
    partial = reached - lineStart(run, run.next);
    known = known === null ? null : {
      ino: known.ino,
      size: state.size,
      endsWithNewline: partial === 0,
    };
    if (completed === 0) return;
    queuedLines -= completed;
    writtenCount += completed;
    if (waiters.length > 0) resolveWaiters();
    writtenHead = run.hashes[run.next - 1];
    if (run.next === run.ends.length) runs.shift();
    const lines = run.bytes.subarray(lineStart(run, first), run.ends[run.next - 1]);
    if (options.onWritten) {
      try {
        options.onWritten(lines);
      } catch {
        // A failing copy must never break auditing.
      }
    }
    await copyToStdout(lines);
  }

  async function copyToStdout(bytes: Uint8Array): Promise<void> {
    if (!options.stdout) return;
    try {
      let rest = bytes;
      while (rest.length > 0) {
        const written = await options.stdout.write(rest);
        if (typeof written !== "number" || written <= 0 || written >= rest.length) break;
        rest = rest.subarray(written);
      }
    } catch (error) {
      if (!stdoutReported) onError(`Cannot copy audit lines to stdout: ${describeError(error)}`);
      stdoutReported = true;
    }
  }

  /** Queues one event; false when it was dropped (closed, unserialisable, queue full). */
  function push(event: AuditEvent, payloadJson: string | null | undefined, writeNow: boolean) {
    if (closed) {
      dropped++;
      return false;
    }
    if (gatewayId !== null) event.gateway_id = gatewayId;
    let prefix: string;
    try {
      prefix = flatten(linePrefix(event, payloadJson));
    } catch {
      dropped++; // a payload no event builder made (a cycle, a bigint): cannot be a line
      return false;
    }
    const held: HeldEvent = { prefix, seq: ring.push({ prefix }) };
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A failing subscriber must never break auditing.
      }
    }
    if (pending.length + queuedLines >= maxQueue) {
      dropped++;
      if (!dropReported) {
        dropReported = true;
        onError(`Audit queue full (${maxQueue} events): new events are being dropped`);
      }
      return false;
    }
    pending.push(held);
    queuedCount++;
    if (!writeNow) {
      schedule(healthy ? interval : Math.min(MAX_BACKOFF_MS, interval * 2 ** failures));
    }
    return true;
  }

  return {
    append(event: AuditEvent, payloadJson?: string | null): void {
      push(event, payloadJson, false);
    },
    appendDurable(event: AuditEvent, payloadJson?: string | null): Promise<void> {
      // Unhealthy: refuse at once, without queueing (nothing will be forwarded, so there is
      // nothing to write ahead) and without a write that the backoff is holding back.
      if (!healthy || closed) {
        return Promise.reject(new Error(`Cannot write audit log "${path}": the log is failing`));
      }
      if (!push(event, payloadJson, true)) {
        return Promise.reject(new Error(`Cannot write audit log "${path}": event not queued`));
      }
      const count = queuedCount;
      const written = new Promise<void>((resolve, reject) => {
        waiters.push({ count, resolve, reject });
      });
      void runSoon();
      return written;
    },
    get healthy(): boolean {
      return healthy && !closed;
    },
    get head(): string {
      return writtenHead;
    },
    get dropped(): number {
      return dropped;
    },
    recent(): readonly AuditEvent[] {
      const view = ring.view();
      const events: AuditEvent[] = [];
      for (let i = 0; i < view.length; i++) {
        const item = view.at(i);
        if (item !== undefined) events.push(ringToEvent(item));
      }
      return events;
    },
    recentList(): EventList {
      const view = ring.view();
      return {
        length: view.length,
        at: (index) => {
          const item = view.at(index);
          return item === undefined ? undefined : ringToEvent(item);
        },
        timestampAt: (index) => {
          const item = view.at(index);
          return item === undefined ? "" : ringTimestamp(item);
        },
      };
    },
    async flush(): Promise<void> {
      const error = await run();
      if (error !== null) throw error;
    },
    async close(): Promise<void> {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      const error = await run();
      await lock;
      closeFile();
      chainer.close();
      fileLock?.release();
      rejectWaiters(new Error(`Cannot write audit log "${path}": closed`));
      if (error !== null) {
        const lost = pending.length + queuedLines;
        throw new Error(`${error.message} (${lost} audit events not written)`);
      }
    },
    subscribe(listener: (event: AuditEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
