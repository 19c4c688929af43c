import { dirname } from "node:path";
import { AuditFile, type FileCursor } from "./audit_file.ts";
import { ChainedRuns, type WrittenLines } from "./chained_runs.ts";
import { type Chainer, type ChainerOptions, createChainer } from "../chain/chainer.ts";
import type { AuditEvent } from "../event/event.ts";
import type { EventList } from "./query.ts";
import { completeLine, flatten, linePrefix, lineTimestamp } from "../event/line.ts";
import {
  describeError,
  findChainStart,
  lockLogFile,
  type LogFileLock,
  type LogFileState,
} from "./log_file.ts";
import { createLineRing, type LineRing, type UnchainedLine } from "./line_ring.ts";

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

/**
 * An appended event as the queue keeps it until it is chained: its line up to `"prev_hash":"` as
 * one flat string, and its place in the ring (line_ring.ts keeps the chained line as bytes).
 */
interface HeldEvent {
  readonly prefix: string;
  readonly seq: number;
}

/** A caller of `appendDurable` waiting for the `count`th line since open to be written. */
interface Waiter {
  readonly count: number;
  resolve(): void;
  reject(error: Error): void;
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

/** Opens (creating if needed) the audit log at `options.path`, continuing its hash chain. */
export async function openAuditSink(options: AuditSinkOptions): Promise<AuditSink> {
  const path = options.path;
  let fileLock: LogFileLock | null = null; // one writer per file (log_file.ts lockLogFile)
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o750 });
    fileLock = await lockLogFile(path);
    const start = await findChainStart(path);
    return new FileAuditSink(options, { ...start, lock: fileLock });
  } catch (error) {
    fileLock?.release();
    const why = error instanceof Error && !("code" in error) ? error.message : describeError(error);
    throw new Error(`Cannot open audit log "${path}": ${why}`);
  }
}

/**
 * The sink behind `openAuditSink`: appends build a line prefix and queue it; a flush (timer, or
 * at once for a write-ahead line) chains the queue in batches and writes it, one write at a time
 * (`#lock`), and retries with backoff while the file cannot be written.
 */
class FileAuditSink implements AuditSink {
  readonly #options: AuditSinkOptions;
  readonly #path: string;
  readonly #gatewayId: string | null;
  readonly #interval: number;
  readonly #maxBytes: number;
  readonly #maxQueue: number;
  readonly #onError: (message: string) => void;
  readonly #onRecover: () => void;
  readonly #fileLock: LogFileLock;
  readonly #file: AuditFile;
  readonly #ring: LineRing;
  readonly #listeners = new Set<(event: AuditEvent) => void>();
  readonly #chainer: Chainer;
  readonly #runs = new ChainedRuns();
  #pending: HeldEvent[] = [];
  #chainHead: string;
  #writtenHead: string;
  #healthy = true;
  #failures = 0;
  #dropped = 0;
  #dropReported = false;
  #stdoutReported = false;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #lock: Promise<unknown> = Promise.resolve();
  // Write-ahead bookkeeping: events queued and lines wholly written since open, and the callers
  // waiting for a line (in queue order). A waiter for event n resolves once `#writtenCount >= n`.
  #queuedCount = 0;
  #writtenCount = 0;
  #waiters: Waiter[] = [];
  #urgent: Promise<Error | null> | null = null;

  constructor(
    options: AuditSinkOptions,
    start: { head: string; known: LogFileState | null; lock: LogFileLock },
  ) {
    this.#options = options;
    this.#path = options.path;
    this.#gatewayId = options.gatewayId ?? null;
    this.#interval = Math.max(1, options.flushIntervalMs ?? 20);
    this.#maxBytes = Math.max(0, options.maxBytes ?? 0);
    this.#maxQueue = Math.max(1, options.maxQueue ?? 100_000);
    this.#onError = options.onError ?? (() => {});
    this.#onRecover = options.onRecover ?? (() => {});
    this.#fileLock = start.lock;
    this.#file = new AuditFile(this.#path, start.known);
    this.#ring = createLineRing(Math.max(1000, options.ringSize ?? 2000));
    this.#chainer = createChainer(options.chainer);
    this.#chainHead = start.head;
    this.#writtenHead = start.head;
  }

  append(event: AuditEvent, payloadJson?: string | null): void {
    this.#push(event, payloadJson, false);
  }

  appendDurable(event: AuditEvent, payloadJson?: string | null): Promise<void> {
    // Unhealthy: refuse at once, without queueing (nothing will be forwarded, so there is
    // nothing to write ahead) and without a write that the backoff is holding back.
    if (!this.#healthy || this.#closed) {
      return Promise.reject(
        new Error(`Cannot write audit log "${this.#path}": the log is failing`),
      );
    }
    if (!this.#push(event, payloadJson, true)) {
      return Promise.reject(new Error(`Cannot write audit log "${this.#path}": event not queued`));
    }
    const count = this.#queuedCount;
    const written = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ count, resolve, reject });
    });
    void this.#runSoon();
    return written;
  }

  get healthy(): boolean {
    return this.#healthy && !this.#closed;
  }

  get head(): string {
    return this.#writtenHead;
  }

  get dropped(): number {
    return this.#dropped;
  }

  recent(): readonly AuditEvent[] {
    const view = this.#ring.view();
    const events: AuditEvent[] = [];
    for (let i = 0; i < view.length; i++) {
      const item = view.at(i);
      if (item !== undefined) events.push(ringToEvent(item));
    }
    return events;
  }

  recentList(): EventList {
    const view = this.#ring.view();
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
  }

  async flush(): Promise<void> {
    const error = await this.#run();
    if (error !== null) throw error;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const error = await this.#run();
    await this.#lock;
    this.#file.close();
    this.#chainer.close();
    this.#fileLock.release();
    this.#rejectWaiters(new Error(`Cannot write audit log "${this.#path}": closed`));
    if (error !== null) {
      const lost = this.#pending.length + this.#runs.lines;
      throw new Error(`${error.message} (${lost} audit events not written)`);
    }
  }

  subscribe(listener: (event: AuditEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Queues one event; false when it was dropped (closed, unserialisable, queue full). */
  #push(event: AuditEvent, payloadJson: string | null | undefined, writeNow: boolean): boolean {
    if (this.#closed) {
      this.#dropped++;
      return false;
    }
    if (this.#gatewayId !== null) event.gateway_id = this.#gatewayId;
    let prefix: string;
    try {
      prefix = flatten(linePrefix(event, payloadJson));
    } catch {
      this.#dropped++; // a payload no event builder made (a cycle, a bigint): cannot be a line
      return false;
    }
    const held: HeldEvent = { prefix, seq: this.#ring.push({ prefix }) };
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A failing subscriber must never break auditing.
      }
    }
    if (this.#pending.length + this.#runs.lines >= this.#maxQueue) {
      this.#dropped++;
      if (!this.#dropReported) {
        this.#dropReported = true;
        this.#onError(`Audit queue full (${this.#maxQueue} events): new events are being dropped`);
      }
      return false;
    }
    this.#pending.push(held);
    this.#queuedCount++;
    if (!writeNow) this.#schedule(this.#healthy ? this.#interval : this.#backoff());
    return true;
  }

  #backoff(): number {
    return Math.min(MAX_BACKOFF_MS, this.#interval * 2 ** this.#failures);
  }

  #schedule(delay: number): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#run();
    }, delay);
  }

  /** Writes the whole queue after the write in progress; resolves with its error, or null. */
  #run(onStart?: () => void): Promise<Error | null> {
    const result = this.#lock.then(() => {
      onStart?.();
      return this.#writeAll();
    });
    this.#lock = result.catch(() => null);
    return result.then((error) => {
      if (error !== null) {
        this.#rejectWaiters(error);
        this.#failures++;
        if (this.#healthy) {
          this.#healthy = false;
          this.#onError(error.message);
        }
        this.#schedule(this.#backoff());
      } else {
        this.#failures = 0;
        if (!this.#healthy) {
          this.#healthy = true;
          this.#onRecover();
        }
        if (this.#pending.length > 0) this.#schedule(this.#interval);
      }
      return error;
    });
  }

  /** Starts a write of the whole queue now, or joins the one queued and not yet started. */
  #runSoon(): Promise<Error | null> {
    if (this.#urgent === null) {
      // An armed flush timer stays armed: this write takes the whole queue, so the timer finds
      // little or nothing to write, but clearing it here would have the next `append` arm a new
      // one, a timer armed and cleared per forwarded call under load.
      this.#urgent = this.#run(() => {
        this.#urgent = null; // events appended from now on need a write of their own
      });
    }
    return this.#urgent;
  }

  #rejectWaiters(error: Error): void {
    const failed = this.#waiters;
    this.#waiters = [];
    for (const waiter of failed) waiter.reject(error);
  }

  async #writeAll(): Promise<Error | null> {
    if (this.#pending.length === 0 && this.#runs.isEmpty) return null;
    try {
      let cursor = await this.#prepareFile();
      while (await this.#chainMore()) {
        const maxBytes = this.#maxBytes;
        if (maxBytes > 0 && !this.#runs.midLine && cursor.size > 0) {
          if (cursor.size + this.#runs.nextLineBytes() > maxBytes) {
            await this.#file.rotate();
            cursor = await this.#prepareFile();
          }
        }
        await this.#writeSegment(cursor);
      }
      if (this.#runs.isEmpty && this.#pending.length === 0) this.#dropReported = false;
      return null;
    } catch (error) {
      this.#file.close(); // the next attempt starts from a fresh open
      return new Error(`Cannot write audit log "${this.#path}": ${describeError(error)}`);
    }
  }

  /** The file for this batch; a file that changed under us has the interrupted line rewritten
   * whole. */
  async #prepareFile(): Promise<FileCursor> {
    const cursor = await this.#file.prepare(this.#runs.midLine);
    if (cursor.changed) this.#runs.restartLine();
    return cursor;
  }

  /** Chains up to CHAIN_BATCH pending events when no chained line waits; false when all done. */
  async #chainMore(): Promise<boolean> {
    if (!this.#runs.isEmpty) return true;
    if (this.#pending.length === 0) return false;
    const batch = this.#pending.slice(0, CHAIN_BATCH);
    this.#pending = this.#pending.slice(batch.length);
    const chained = await this.#chainer.chain(batch.map((held) => held.prefix), this.#chainHead);
    for (let i = 0; i < batch.length; i++) {
      // The line without its "\n", kept by the ring as bytes from now on.
      this.#ring.chained(
        batch[i].seq,
        chained.bytes.subarray(i === 0 ? 0 : chained.ends[i - 1], chained.ends[i] - 1),
      );
    }
    this.#runs.add(chained);
    this.#chainHead = chained.hashes[batch.length - 1];
    return true;
  }

  /** Closes off a torn line, or writes the next lines of the queue (as many as fit the segment
   * and rotation limits, at least one), straight from the chained bytes. */
  async #writeSegment(cursor: FileCursor): Promise<void> {
    if (cursor.needsNewline) {
      // Close off a torn line (ours or someone else's) before the next line starts.
      this.#file.writeNewline(cursor);
      return;
    }
    const maxBytes = this.#maxBytes;
    const size = cursor.size;
    const segment = this.#runs.segment((bytes) =>
      bytes <= SEGMENT_BYTES && (maxBytes === 0 || size + bytes <= maxBytes)
    );
    let done: WrittenLines | null = null;
    try {
      this.#file.write(cursor, segment, (written) => {
        done = this.#runs.advance(written);
        return !this.#runs.midLine;
      });
    } finally {
      if (done !== null) await this.#written(done);
    }
  }

  /** Counts lines wholly written: resolves their waiters, moves the head, copies them out. */
  async #written(lines: WrittenLines): Promise<void> {
    this.#writtenCount += lines.count;
    if (this.#waiters.length > 0) {
      let done = 0;
      const waiters = this.#waiters;
      while (done < waiters.length && waiters[done].count <= this.#writtenCount) {
        waiters[done++].resolve();
      }
      if (done > 0) this.#waiters = waiters.slice(done);
    }
    this.#writtenHead = lines.head;
    if (this.#options.onWritten) {
      try {
        this.#options.onWritten(lines.bytes);
      } catch {
        // A failing copy must never break auditing.
      }
    }
    await this.#copyToStdout(lines.bytes);
  }

  async #copyToStdout(bytes: Uint8Array): Promise<void> {
    const stdout = this.#options.stdout;
    if (!stdout) return;
    try {
      let rest = bytes;
      while (rest.length > 0) {
        const written = await stdout.write(rest);
        if (typeof written !== "number" || written <= 0 || written >= rest.length) break;
        rest = rest.subarray(written);
      }
    } catch (error) {
      if (!this.#stdoutReported) {
        this.#onError(`Cannot copy audit lines to stdout: ${describeError(error)}`);
      }
      this.#stdoutReported = true;
    }
  }
}
