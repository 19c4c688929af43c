/** Chains a batch of lines in order and encodes them as one block of bytes. Pure. */
import { chainParts, type LineParts } from "./line.ts";

/** A chained batch: the lines' bytes back to back, where each ends, and their hashes. */
export interface ChainedBatch {
  /** Every line followed by "\n", UTF-8. */
  readonly bytes: Uint8Array;
  /** `ends[i]` is the offset just past line i's newline in `bytes`. */
  readonly ends: Uint32Array;
  /** `hashes[i]` is line i's hash; the last one is the new chain head. */
  readonly hashes: string[];
  /** `payloadHashes[i]` is the payload hash computed for line i, or null when none was. */
  readonly payloadHashes: (string | null)[];
}

const encoder = new TextEncoder();
const FIELD = "\u0000";
const LINE = "\u0001";
const HASH_CHARS = 64;

/**
 * Packs a batch into one string for a worker: one string crosses threads as a single copy,
 * where an array of strings is cloned item by item. Unambiguous: JSON text (every part is JSON
 * or a piece of it) never holds a raw U+0000 or U+0001.
 */
export function packBatch(batch: readonly LineParts[]): string {
  let packed = "";
  for (let i = 0; i < batch.length; i++) {
    const [head, hashInput, tail] = batch[i];
    packed += `${i === 0 ? "" : LINE}${head}${FIELD}${
      hashInput === null ? "" : hashInput
    }${FIELD}${tail}`;
  }
  return packed;
}

/** The inverse of `packBatch`. */
export function unpackBatch(packed: string): LineParts[] {
  if (packed === "") return [];
  return packed.split(LINE).map((line) => {
    const [head, hashInput, tail] = line.split(FIELD);
    if (tail === undefined) throw new Error("malformed packed batch");
    return [head, hashInput === "" ? null : hashInput, tail] as const;
  });
}

/** Hashes (64 hex chars each, "" for none) packed into one fixed-width string. */
export function packHashes(hashes: readonly (string | null)[]): string {
  return hashes.map((hash) => hash ?? "-".repeat(HASH_CHARS)).join("");
}

/** The inverse of `packHashes`. */
export function unpackHashes(packed: string): (string | null)[] {
  const hashes: (string | null)[] = [];
  for (let at = 0; at < packed.length; at += HASH_CHARS) {
    const hash = packed.slice(at, at + HASH_CHARS);
    hashes.push(hash.startsWith("-") ? null : hash);
  }
  return hashes;
}

/** Chains `batch` after `prevHash` (a checked sha256 hex), line after line. */
export function chainBatch(batch: readonly LineParts[], prevHash: string): ChainedBatch {
  const texts: string[] = [];
  const hashes: string[] = [];
  const payloadHashes: (string | null)[] = [];
  let head = prevHash;
  let chars = 0;
  for (const parts of batch) {
    const chained = chainParts(parts, head);
    head = chained.hash;
    texts.push(chained.line);
    hashes.push(chained.hash);
    payloadHashes.push(chained.payloadHash ?? null);
    chars += chained.line.length + 1;
  }
  // One buffer sized for the worst case (3 bytes per UTF-16 unit), filled line by line.
  const buffer = new Uint8Array(chars * 3);
  const ends = new Uint32Array(texts.length);
  let at = 0;
  for (let i = 0; i < texts.length; i++) {
    at += encoder.encodeInto(texts[i], buffer.subarray(at)).written;
    buffer[at++] = 0x0a;
    ends[i] = at;
  }
  return { bytes: buffer.slice(0, at), ends, hashes, payloadHashes };
}
