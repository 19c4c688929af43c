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
