/**
 * The audit ring behind `/logs`: the last N events, oldest first, kept so that the garbage
 * collector does not copy them. An event is held as its line prefix (a string) only until it is
 * chained (about one flush interval); from then on its whole line lives as UTF-8 bytes in one
 * growable byte buffer outside the JavaScript heap, read back and parsed only when asked for.
 * Lines kept as strings survived every young-generation collection and were copied twice each
 * (docs/BENCHMARKS.md, "What the scavenges copy"). Pure: no `Deno.*`.
 */

/** An event not chained yet: its line up to `"prev_hash":"`. */
export interface UnchainedLine {
  readonly prefix: string;
}

/** The ring's contents at one moment, read lazily. */
export interface RingView {
  /** Events in the view. */
  readonly length: number;
  /** The event at `index` (0 = oldest): its prefix if not chained yet, else its whole line's
   * bytes; undefined once pushed out of the ring by later events. */
  at(index: number): UnchainedLine | Uint8Array | undefined;
}

/** The ring of the last `capacity` events. */
export interface LineRing {
  /** Appends an unchained event; returns its sequence number. */
  push(line: UnchainedLine): number;
  /**
   * Stores the chained line of event `seq` (its UTF-8 bytes, without newline), in place of its
   * prefix; nothing when the event was pushed out already. Lines arrive in sequence order.
   */
  chained(seq: number, line: Uint8Array): void;
  /** A view of the events held now; later pushes do not show in it. */
  view(): RingView;
  /** Events held. */
  readonly size: number;
  /** Bytes of the line buffer (for tests and memory accounting). */
  readonly bufferBytes: number;
}

const INITIAL_BYTES_PER_LINE = 1024;

/** Creates an empty ring of at most `capacity` (≥ 1) events; its byte buffer starts at
 * `bytesPerLine` (default 1 KiB) per event and doubles when the lines held need more. */
export function createLineRing(capacity: number, bytesPerLine = INITIAL_BYTES_PER_LINE): LineRing {
  const cap = Math.max(1, Math.floor(capacity));
  const unchained: (UnchainedLine | null)[] = new Array(cap).fill(null);
  // Virtual byte positions (they only grow) of each slot's line; physical = position % size.
  const starts = new Float64Array(cap);
  const lengths = new Uint32Array(cap);
  let buffer = new Uint8Array(Math.max(1, cap * Math.floor(bytesPerLine)));
  let nextSeq = 0; // sequence number of the next push
  let writePos = 0; // virtual position of the next byte stored

  const firstSeq = () => Math.max(0, nextSeq - cap);

  /** Virtual position of the oldest byte still needed: the oldest chained line in the ring. */
  function liveFrom(): number {
    for (let seq = firstSeq(); seq < nextSeq; seq++) {
      const slot = seq % cap;
      if (unchained[slot] === null) return starts[slot];
    }
    return writePos;
  }

  function grow(needed: number): void {
    const from = liveFrom();
    let size = buffer.length * 2;
    while (size < needed) size *= 2;
    const next = new Uint8Array(size);
    // Copy the live region [from, writePos) to the same virtual positions in the new buffer.
    for (let pos = from; pos < writePos;) {
      const at = pos % buffer.length;
      const run = Math.min(writePos - pos, buffer.length - at, size - (pos % size));
      next.set(buffer.subarray(at, at + run), pos % size);
      pos += run;
    }
    buffer = next;
  }

  function store(bytes: Uint8Array): number {
    const start = writePos;
    const needed = writePos + bytes.length - liveFrom();
    if (needed > buffer.length) grow(needed);
    let done = 0;
    while (done < bytes.length) {
      const at = (start + done) % buffer.length;
      const run = Math.min(bytes.length - done, buffer.length - at);
      buffer.set(bytes.subarray(done, done + run), at);
      done += run;
    }
    writePos += bytes.length;
    return start;
  }

  function read(slot: number): Uint8Array {
    const start = starts[slot];
    const length = lengths[slot];
    const at = start % buffer.length;
    if (at + length <= buffer.length) return buffer.slice(at, at + length);
    const out = new Uint8Array(length);
    const head = buffer.length - at;
    out.set(buffer.subarray(at), 0);
    out.set(buffer.subarray(0, length - head), head);
    return out;
  }

  return {
    push(line: UnchainedLine): number {
      const seq = nextSeq++;
      unchained[seq % cap] = line;
      return seq;
    },
    chained(seq: number, line: Uint8Array): void {
      if (seq < firstSeq() || seq >= nextSeq) return;
      const slot = seq % cap;
      if (unchained[slot] === null) return; // stored already
      starts[slot] = store(line);
      lengths[slot] = line.length;
      unchained[slot] = null;
    },
    view(): RingView {
      const first = firstSeq();
      const end = nextSeq;
      return {
        length: end - first,
        at(index: number): UnchainedLine | Uint8Array | undefined {
          const seq = first + index;
          if (index < 0 || seq >= end || seq < firstSeq()) return undefined;
          const slot = seq % cap;
          return unchained[slot] ?? read(slot);
        },
      };
    },
    get size(): number {
      return nextSeq - firstSeq();
    },
    get bufferBytes(): number {
      return buffer.length;
    },
  };
}
