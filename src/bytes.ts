/** Byte helpers shared by the HTTP readers, the SSE parser and the audit writer. Pure. */

/** `parts` joined into one array (the only part itself when there is one); `length` is their
 * total length, or -1 to compute it. */
export function concatBytes<T extends ArrayBufferLike>(
  parts: readonly Uint8Array<T>[],
  length = -1,
): Uint8Array<T | ArrayBuffer> {
  if (parts.length === 1) return parts[0];
  const total = length >= 0 ? length : parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const lax = new TextDecoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/**
 * `bytes` decoded as UTF-8 (a leading BOM dropped), throwing `TypeError` on invalid UTF-8 —
 * never replacing it. Decodes leniently first and only re-decodes strictly when the text holds
 * U+FFFD, which any invalid sequence would have become: several times cheaper than a fatal
 * decoder on the common, valid input.
 */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  const text = lax.decode(bytes);
  return text.indexOf("\uFFFD") < 0 ? text : strict.decode(bytes);
}

/**
 * `bytes[start..end)` as a byte string: each byte the code point of its value, as `Headers` holds
 * header values (`TextDecoder("latin1")` is windows-1252, which maps 0x80–0x9F elsewhere). A flat
 * string of its own (no slice of a larger one), and about three times faster than a decoder call
 * for the short fields of an HTTP head.
 */
export function byteString(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= BYTE_STRING_CHUNK) {
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  let text = "";
  for (let at = start; at < end; at += BYTE_STRING_CHUNK) {
    const to = Math.min(end, at + BYTE_STRING_CHUNK);
    text += String.fromCharCode.apply(null, bytes.subarray(at, to) as unknown as number[]);
  }
  return text;
}

/** Bytes per `String.fromCharCode` call (far below the engine's argument limit). */
const BYTE_STRING_CHUNK = 4096;
