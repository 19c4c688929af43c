/**
 * The chained lines waiting to be written, in chain order, as the batches the chainer made
 * (written straight from their bytes, never copied), with how much of the first line is already
 * in the file. Pure: the sink decides where the bytes go.
 */
import type { ChainedBatch } from "../chain/chain_batch.ts";

/** A chained batch waiting to be written. */
interface ChainedRun {
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
  readonly hashes: readonly string[];
  /** The first line not yet wholly written. */
  next: number;
}

/** Lines just written whole: their bytes back to back (newlines included) and the new head. */
export interface WrittenLines {
  /** The completed lines' bytes. */
  readonly bytes: Uint8Array;
  /** How many lines. */
  readonly count: number;
  /** The hash of the last of them. */
  readonly head: string;
}

function lineStart(run: ChainedRun, line: number): number {
  return line === 0 ? 0 : run.ends[line - 1];
}

/** The queue of chained, not yet written lines; see the module comment. */
export class ChainedRuns {
  #runs: ChainedRun[] = [];
  #lines = 0;
  #partial = 0; // bytes of the first queued line already written

  /** Queues a chained batch after the ones already queued. */
  add(batch: ChainedBatch): void {
    this.#runs.push({ bytes: batch.bytes, ends: batch.ends, hashes: batch.hashes, next: 0 });
    this.#lines += batch.ends.length;
  }

  /** True when no line waits. */
  get isEmpty(): boolean {
    return this.#runs.length === 0;
  }

  /** Lines not yet wholly written. */
  get lines(): number {
    return this.#lines;
  }

  /** True when part of the first waiting line is written and the rest is not. */
  get midLine(): boolean {
    return this.#partial !== 0;
  }

  /** The file no longer holds the written part of the first line: it is written whole again. */
  restartLine(): void {
    this.#partial = 0;
  }

  /** Bytes of the first waiting line still to write (its newline included); the queue is not empty. */
  nextLineBytes(): number {
    const run = this.#runs[0];
    return run.ends[run.next] - lineStart(run, run.next) - this.#partial;
  }

  /**
   * The next bytes to write: the rest of the first waiting line and as many whole lines after it
   * (of the same batch) as `fits` accepts for the segment's size; the queue is not empty.
   */
  segment(fits: (bytes: number) => boolean): Uint8Array {
    const run = this.#runs[0];
    const from = lineStart(run, run.next) + this.#partial;
    let last = run.next;
    while (last + 1 < run.ends.length && fits(run.ends[last + 1] - from)) last++;
    return run.bytes.subarray(from, run.ends[last]);
  }

  /** Records that the first `written` bytes of the last segment are in the file; returns the
   * lines that are now wholly written, or null when none is. */
  advance(written: number): WrittenLines | null {
    const run = this.#runs[0];
    const first = run.next;
    const reached = lineStart(run, first) + this.#partial + written;
    while (run.next < run.ends.length && run.ends[run.next] <= reached) run.next++;
    const count = run.next - first;
    this.#partial = reached - lineStart(run, run.next);
    if (count === 0) return null;
    this.#lines -= count;
    if (run.next === run.ends.length) this.#runs.shift();
    return {
      bytes: run.bytes.subarray(lineStart(run, first), run.ends[run.next - 1]),
      count,
      head: run.hashes[run.next - 1],
    };
  }
}
