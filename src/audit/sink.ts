import { dirname } from "node:path";
import { concatBytes } from "../bytes.ts";
import { type ChainerOptions, createChainer } from "./chainer.ts";
import type { AuditEvent } from "./event.ts";
import { linePrefix } from "./line.ts";
import {
  describeError,
  findChainStart,
  listRotatedFiles,
  type LogFileState,
  readLastByte,
} from "./log_file.ts";
import { createRing } from "./ring.ts";

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
  /** Where lines are hashed: batches of 32+ on a worker thread by default. */
  chainer?: ChainerOptions;
}

/** The audit log writer: cheap synchronous appends, batched chained writes off the request path. */
export interface AuditSink {
  /**
   * Queues `event` (synchronous, no I/O, no hashing); it is chained and written within ~20 ms.
   * `payloadJson` (from `buildAuditRecord`) is the redacted payload's JSON, reused for the line.
   */
  append(event: AuditEvent, payloadJson?: string | null): void;
  /** False while the log cannot be written (the gateway answers 503 then) and after close. */
  readonly healthy: boolean;
  /** The newest hash written to the file (`audit_head`). */
  readonly head: string;
  /** Events lost because the queue was full or they came after close. */
  readonly dropped: number;
  /** The in-memory ring, oldest first (chained events carry `prev_hash` and `hash`). */
  recent(): readonly AuditEvent[];
  /** Writes everything appended so far now; rejects when the write fails (events stay queued). */
  flush(): Promise<void>;
  /** Stops the timer and writes everything; rejects when that write fails. */
  close(): Promise<void>;
  /** Calls `listener` with every appended event; returns the unsubscribe function. */
  subscribe(listener: (event: AuditEvent) => void): () => void;
}

interface QueuedLine {
  bytes: Uint8Array;
  hash: string;
}

interface PendingEvent {
  readonly event: AuditEvent;
  readonly payloadJson: string | null | undefined;
}

const SEGMENT_BYTES = 1024 * 1024;
// Small enough that building one batch's lines never holds requests up for long (p99).
const CHAIN_BATCH = 256;
const MAX_BACKOFF_MS = 1000;
const NEWLINE = new Uint8Array([0x0a]);

/** Opens (creating if needed) the audit log at `options.path`, continuing its hash chain. */
export async function openAuditSink(options: AuditSinkOptions): Promise<AuditSink> {
  const path = options.path;
  const interval = Math.max(1, options.flushIntervalMs ?? 20);
  const maxBytes = Math.max(0, options.maxBytes ?? 0);
  const maxQueue = Math.max(1, options.maxQueue ?? 100_000);
  const onError = options.onError ?? (() => {});
  const onRecover = options.onRecover ?? (() => {});
  let start: { head: string; known: LogFileState | null };
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o750 });
    start = await findChainStart(path);
  } catch (error) {
    const why = error instanceof Error && !("code" in error) ? error.message : describeError(error);
    throw new Error(`Cannot open audit log "${path}": ${why}`);
  }
  const ring = createRing<AuditEvent>(Math.max(1000, options.ringSize ?? 2000));
  const listeners = new Set<(event: AuditEvent) => void>();
  let pending: PendingEvent[] = [];
  const chainer = createChainer(options.chainer);
  const lines: QueuedLine[] = [];
  let chainHead = start.head;
  let writtenHead = start.head;
  let known = start.known;
  let partial = 0; // bytes of lines[0] already in the file described by `known`
  let healthy = true;
  let failures = 0;
  let dropped = 0;
  let dropReported = false;
  let stdoutReported = false;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lock: Promise<unknown> = Promise.resolve();

  function schedule(delay: number): void {
    if (timer !== null || closed) return;
    timer = setTimeout(() => {
      timer = null;
      void run();
    }, delay);
  }

  function run(): Promise<Error | null> {
    const result = lock.then(writeAll);
    lock = result.catch(() => null);
    return result.then((error) => {
      if (error !== null) {
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

  async function writeAll(): Promise<Error | null> {
    if (pending.length === 0 && lines.length === 0) return null;
    let file: Deno.FsFile | null = null;
    try {
      file = await Deno.open(path, { append: true, create: true, mode: 0o640 });
      let state = await settle(file);
      while (await chainMore()) {
        if (maxBytes > 0 && partial === 0 && state.size > 0) {
          if (state.size + lines[0].bytes.length > maxBytes) {
            file.close();
            file = null;
            await rotate();
            file = await Deno.open(path, { append: true, create: true, mode: 0o640 });
            state = await settle(file);
          }
        }
        await writeSegment(file, state);
      }
      if (lines.length === 0 && pending.length === 0) dropReported = false;
      return null;
    } catch (error) {
      return new Error(`Cannot write audit log "${path}": ${describeError(error)}`);
    } finally {
      file?.close();
    }
  }

  /** Works out where the next byte goes: resume a partial line, or add "\n" after a torn one. */
  async function settle(file: Deno.FsFile): Promise<{ size: number; needsNewline: boolean }> {
    const info = await file.stat();
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
    if (lines.length > 0) return true;
    if (pending.length === 0) return false;
    const batch = pending.slice(0, CHAIN_BATCH);
    pending = pending.slice(batch.length);
    const prefixes: string[] = [];
    const events: AuditEvent[] = [];
    for (const { event, payloadJson } of batch) {
      try {
        prefixes.push(linePrefix(event, payloadJson));
        events.push(event);
      } catch {
        dropped++;
      }
    }
    if (events.length === 0) return pending.length > 0;
    const prev = chainHead;
    const chained = await chainer.chain(prefixes, prev);
    let start = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      event.prev_hash = i === 0 ? prev : chained.hashes[i - 1];
      event.hash = chained.hashes[i];
      lines.push({
        bytes: chained.bytes.subarray(start, chained.ends[i]),
        hash: chained.hashes[i],
      });
      start = chained.ends[i];
    }
    chainHead = chained.hashes[events.length - 1];
    return true;
  }

  async function writeSegment(
    file: Deno.FsFile,
    state: { size: number; needsNewline: boolean },
  ): Promise<void> {
    const parts: Uint8Array[] = state.needsNewline ? [NEWLINE] : [];
    let length = parts.length;
    let count = 0;
    for (const line of lines) {
      const size = line.bytes.length - (count === 0 ? partial : 0);
      const full = maxBytes > 0 && state.size + length + size > maxBytes;
      if (count > 0 && (length + size > SEGMENT_BYTES || full)) break;
      parts.push(count === 0 ? line.bytes.subarray(partial) : line.bytes);
      length += size;
      count++;
    }
    const segment = concatBytes(parts, length);
    let written = 0;
    try {
      while (written < segment.length) written += await file.write(segment.subarray(written));
    } finally {
      await account(written, state);
    }
  }

  /** Records what `written` bytes of the last segment completed, and copies those lines out. */
  async function account(written: number, state: { size: number; needsNewline: boolean }) {
    let rest = written;
    if (state.needsNewline && rest > 0) {
      state.needsNewline = false;
      rest--;
    }
    state.size += written;
    const done: Uint8Array[] = [];
    while (lines.length > 0 && rest > 0) {
      const remaining = lines[0].bytes.length - partial;
      if (rest < remaining) {
        partial += rest;
        break;
      }
      rest -= remaining;
      partial = 0;
      const line = lines.shift() as QueuedLine;
      writtenHead = line.hash;
      done.push(line.bytes);
    }
    known = known === null ? null : {
      ino: known.ino,
      size: state.size,
      endsWithNewline: partial === 0 && !state.needsNewline,
    };
    if (done.length > 0) await copyToStdout(concatBytes(done, -1));
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

  return {
    append(event: AuditEvent, payloadJson?: string | null): void {
      if (closed) {
        dropped++;
        return;
      }
      ring.push(event);
      for (const listener of listeners) {
        try {
          listener(event);
        } catch {
          // A failing subscriber must never break auditing.
        }
      }
      if (pending.length + lines.length >= maxQueue) {
        dropped++;
        if (!dropReported) {
          dropReported = true;
          onError(`Audit queue full (${maxQueue} events): new events are being dropped`);
        }
        return;
      }
      pending.push({ event, payloadJson });
      schedule(healthy ? interval : Math.min(MAX_BACKOFF_MS, interval * 2 ** failures));
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
      return ring.items();
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
      chainer.close();
      if (error !== null) {
        const lost = pending.length + lines.length;
        throw new Error(`${error.message} (${lost} audit events not written)`);
      }
    },
    subscribe(listener: (event: AuditEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
