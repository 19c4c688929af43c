/** Chains a batch of lines in order and encodes them as one block of bytes. Pure. */
import { chainPrefix } from "../event/line.ts";

/** A chained batch: the lines' bytes back to back, where each ends, and their hashes. */
export interface ChainedBatch {
  /** Every line followed by "\n", UTF-8. */
  readonly bytes: Uint8Array;
  /** `ends[i]` is the offset just past line i's newline in `bytes`. */
  readonly ends: Uint32Array;
  /** `hashes[i]` is line i's hash; the last one is the new chain head. */
  readonly hashes: string[];
}

const encoder = new TextEncoder();
const LINE = "\u0001";
const HASH_CHARS = 64;

/**
 * Packs line prefixes into one string for a worker: one string crosses threads as a single
 * copy, where an array of strings is cloned item by item. Unambiguous: JSON text never holds a
 * raw U+0001.
 */
export function packBatch(prefixes: readonly string[]): string {
  return prefixes.join(LINE);
}

/** The inverse of `packBatch` (for a non-empty batch). */
export function unpackBatch(packed: string): string[] {
  return packed.split(LINE);
}

/** Hashes (64 hex characters each) packed into one string. */
export function packHashes(hashes: readonly string[]): string {
  return hashes.join("");
}

/** The inverse of `packHashes`. */
export function unpackHashes(packed: string): string[] {
  const hashes: string[] = [];
  for (let at = 0; at < packed.length; at += HASH_CHARS) {
    hashes.push(packed.slice(at, at + HASH_CHARS));
  }
  return hashes;
}

/** Chains `prefixes` after `prevHash` (a checked sha256 hex), line after line. */
export function chainBatch(prefixes: readonly string[], prevHash: string): ChainedBatch {
  const texts: string[] = [];
  const hashes: string[] = [];
  let head = prevHash;
  let chars = 0;
  for (const prefix of prefixes) {
    const chained = chainPrefix(prefix, head);
    head = chained.hash;
    texts.push(chained.line);
    hashes.push(chained.hash);
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
  return { bytes: buffer.slice(0, at), ends, hashes };
}
