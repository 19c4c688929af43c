/** Reads a request body as JSON within a byte limit, refusing other media types. */
import { concatBytes, decodeUtf8Strict } from "../bytes.ts";
import type { ReasonCode } from "../reasons.ts";
import { BodyTooLargeError, type BodyWatch, bodyWatchOf } from "./body_deadline.ts";

const DIGITS = /^[0-9]{1,16}$/;

/** A parsed body, or the refusal to answer with. */
export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; reasonCode: ReasonCode; reason: string };

/** True for `application/json` with optional parameters (e.g. `; charset=utf-8`). */
export function isJsonMediaType(header: string | null): boolean {
  if (!header) return false;
  if (header === "application/json") return true;
  const type = header.split(";", 1)[0].trim().toLowerCase();
  return type === "application/json";
}

/**
 * Reads at most `maxBytes` of the body (413 past that, 415 for non-JSON, 400 for bad JSON, 408
 * when the connection's body deadline passes first, §12).
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<BodyResult> {
  if (!isJsonMediaType(request.headers.get("content-type"))) {
    return {
      ok: false,
      reasonCode: "unsupported_media_type",
      reason: "Content-Type must be application/json",
    };
  }
  const tooLarge: BodyResult = {
    ok: false,
    reasonCode: "payload_too_large",
    reason: `request body exceeds ${maxBytes} bytes`,
  };
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    await request.body?.cancel().catch(() => {});
    return tooLarge;
  }
  // With a declared length within the limit the server's framing bounds the body: read it in
  // one go. Without one (chunked), count the bytes as they come.
  const framed = declared !== null && DIGITS.test(declared) &&
    request.headers.get("transfer-encoding") === null;
  const reading = framed ? request.bytes() : readLimited(request.body, maxBytes);
  const watch = bodyWatchOf(request);
  const bytes = watch === undefined ? await reading : await withinDeadline(reading, watch);
  if (bytes === TIMED_OUT) {
    return {
      ok: false,
      reasonCode: "request_timeout",
      reason: "request body not received in time",
    };
  }
  if (bytes === undefined || bytes.byteLength > maxBytes) return tooLarge;
  let text: string;
  try {
    text = decodeUtf8Strict(bytes); // invalid UTF-8 is refused, never replaced
  } catch {
    return { ok: false, reasonCode: "bad_request", reason: "request body is not valid UTF-8" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reasonCode: "bad_request", reason: "request body is not valid JSON" };
  }
}

const TIMED_OUT = Symbol("timed out");

/** Settles with the body, or with TIMED_OUT when the listener says its deadline passed. */
function withinDeadline<T>(reading: Promise<T>, watch: BodyWatch): Promise<T | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    watch.wait(() => resolve(TIMED_OUT));
    reading.then((value) => {
      watch.done();
      resolve(value);
    }, (error) => {
      watch.done();
      reject(error);
    });
  });
}

async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  if (body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  while (true) {
    let read: ReadableStreamReadResult<Uint8Array>;
    try {
      read = await reader.read();
    } catch (error) {
      if (error instanceof BodyTooLargeError) return undefined;
      throw error;
    }
    const { done, value } = read;
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}
