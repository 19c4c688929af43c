// Compact storage of the limiter's counters: 32 bytes per record in fixed-size typed-array
// chunks (no object per record, no big reallocation when growing), with a free list. Per
// record: two float64 times (cap window start, window bucket start) and four uint32 numbers
// (cap count, window length, current and previous bucket counts). A session record uses the
// cap and the per_session window; a model record only the window.

import type { CapCounter, WindowCounter } from "./window.ts";

/** Numbered counter records. Slot -1 stands for "no record" and reads as empty. */
export interface RecordStore {
  /** A fresh record with empty counters. */
  alloc(): number;
  /** Gives a record back for reuse. */
  release(slot: number): void;
  /** The record's cap counter. */
  readCap(slot: number): CapCounter;
  /** Stores the record's cap counter. */
  writeCap(slot: number, counter: CapCounter): void;
  /** The record's window counter for `windowMs`; empty when kept for another length. */
  readWindow(slot: number, windowMs: number): WindowCounter;
  /** Stores the record's window counter. */
  writeWindow(slot: number, counter: WindowCounter): void;
  /** True when every counter of the record reads as empty at `now`, so removing it loses nothing. */
  idle(slot: number, now: number): boolean;
  /** Drops every record and the memory they used. */
  clear(): void;
}

/** Options of `createRecordStore`. */
export interface RecordStoreOptions {
  /** Length of the session-cap window in milliseconds. */
  readonly capWindowMs: number;
  /** Records per chunk (a power of two); default 4096 (128 KiB per chunk). */
  readonly chunkSlots?: number;
}

/** Largest count or window length a record can hold; counts saturate there. */
export const MAX_STORED = 0xffff_ffff;

// Field positions: float64 view (4 per slot) and uint32 view (8 per slot, first 4 = the times).
const CAP_START = 0;
const WIN_START = 1;
const CAP_COUNT = 4;
const WIN_MS = 5;
const WIN_CURRENT = 6;
const WIN_PREVIOUS = 7;
const NONE = MAX_STORED; // end of the free list

/** Creates an empty record store. */
export function createRecordStore(options: RecordStoreOptions): RecordStore {
  const { capWindowMs } = options;
  const chunkSlots = options.chunkSlots ?? 4096;
  const shift = Math.log2(chunkSlots);
  if (!Number.isInteger(shift) || shift < 0 || shift > 20) {
    throw new Error("Cannot create limiter store: chunkSlots must be a power of two");
  }
  const mask = chunkSlots - 1;
  let times: Float64Array[] = [];
  let counts: Uint32Array[] = [];
  // Free list threaded through the freed records themselves (their cap count holds the next
  // free slot), so releasing a million records allocates nothing.
  let freeHead = NONE;
  let used = 0; // slots handed out since the last clear

  const alloc = (): number => {
    let slot = freeHead;
    if (slot !== NONE) {
      freeHead = counts[slot >>> shift][(slot & mask) * 8 + CAP_COUNT];
    } else {
      if ((used & mask) === 0) {
        const buffer = new ArrayBuffer(chunkSlots * 32);
        times.push(new Float64Array(buffer));
        counts.push(new Uint32Array(buffer));
      }
      slot = used++;
    }
    const i = slot & mask;
    const t = times[slot >>> shift];
    t[i * 4 + CAP_START] = -Infinity;
    t[i * 4 + WIN_START] = -Infinity;
    counts[slot >>> shift].fill(0, i * 8 + CAP_COUNT, i * 8 + 8);
    return slot;
  };

  const readCap = (slot: number): CapCounter => {
    if (slot < 0) return { windowMs: capWindowMs, windowStart: -Infinity, count: 0 };
    const i = slot & mask;
    return {
      windowMs: capWindowMs,
      windowStart: times[slot >>> shift][i * 4 + CAP_START],
      count: counts[slot >>> shift][i * 8 + CAP_COUNT],
    };
  };

  const writeCap = (slot: number, counter: CapCounter): void => {
    const i = slot & mask;
    times[slot >>> shift][i * 4 + CAP_START] = counter.windowStart;
    counts[slot >>> shift][i * 8 + CAP_COUNT] = Math.min(counter.count, MAX_STORED);
  };

  const readWindow = (slot: number, windowMs: number): WindowCounter => {
    const c = slot < 0 ? undefined : counts[slot >>> shift];
    const i = slot & mask;
    if (c === undefined || c[i * 8 + WIN_MS] !== windowMs) {
      return { windowMs, bucketStart: -Infinity, current: 0, previous: 0 };
    }
    return {
      windowMs,
      bucketStart: times[slot >>> shift][i * 4 + WIN_START],
      current: c[i * 8 + WIN_CURRENT],
      previous: c[i * 8 + WIN_PREVIOUS],
    };
  };

  const writeWindow = (slot: number, counter: WindowCounter): void => {
    const c = counts[slot >>> shift];
    const i = slot & mask;
    times[slot >>> shift][i * 4 + WIN_START] = counter.bucketStart;
    c[i * 8 + WIN_MS] = counter.windowMs;
    c[i * 8 + WIN_CURRENT] = Math.min(counter.current, MAX_STORED);
    c[i * 8 + WIN_PREVIOUS] = Math.min(counter.previous, MAX_STORED);
  };

  // An expired cap window and a window two lengths past its last bucket both read exactly
  // like an absent record.
  const idle = (slot: number, now: number): boolean => {
    const t = times[slot >>> shift];
    const i = slot & mask;
    if (now < t[i * 4 + CAP_START] + capWindowMs) return false;
    const windowMs = counts[slot >>> shift][i * 8 + WIN_MS];
    return windowMs === 0 || now >= t[i * 4 + WIN_START] + 2 * windowMs;
  };

  const clear = (): void => {
    times = [];
    counts = [];
    freeHead = NONE;
    used = 0;
  };

  return {
    alloc,
    release: (slot) => {
      counts[slot >>> shift][(slot & mask) * 8 + CAP_COUNT] = freeHead;
      freeHead = slot;
    },
    readCap,
    writeCap,
    readWindow,
    writeWindow,
    idle,
    clear,
  };
}
