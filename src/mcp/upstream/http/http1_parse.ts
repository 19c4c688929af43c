/**
 * HTTP/1.1 response framing for the upstream client (RFC 9112), pure: the status line and
 * header block, how the body is delimited, and a chunked-body decoder. Everything from the
 * upstream is hostile: sizes are bounded and anything ambiguous is refused, never guessed.
 */
import { byteString } from "../../../bytes.ts";

/** Largest response head (status line + headers) accepted, in bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Most header lines accepted in one response head. */
export const MAX_HEADER_LINES = 200;

/** A parsed response head. */
export interface ResponseHead {
  /** The status code (100-599). */
  readonly status: number;
  /** The reason phrase (may be empty). */
  readonly statusText: string;
  /** Header lines in order, names lower-cased. */
  readonly headers: readonly (readonly [string, string])[];
  /** How the body is delimited. */
  readonly framing: BodyFraming;
  /** False when the connection cannot carry another request after this response. */
  readonly reusable: boolean;
}

/** How a response body ends. */
export type BodyFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "close" };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DIGITS = /^[0-9]{1,15}$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5][0-9]{2})(?: ([^\r\n]*))?$/;
const CRLF_CRLF = [13, 10, 13, 10];

/** Index just past the `\r\n\r\n` ending a head in `bytes[from..]`, or -1 when not there yet. */
export function findHeadEnd(bytes: Uint8Array, from = 0): number {
  outer: for (let i = from; i + 3 < bytes.length; i++) {
    for (let j = 0; j < 4; j++) if (bytes[i + j] !== CRLF_CRLF[j]) continue outer;
    return i + 4;
  }
  return -1;
}

/** `line` from `start` without the optional whitespace (spaces and tabs only) around a value. */
function trimOws(line: string, start: number): string {
  let from = start;
  let to = line.length;
  while (from < to && (line.charCodeAt(from) === 32 || line.charCodeAt(from) === 9)) from++;
  while (to > from && (line.charCodeAt(to - 1) === 32 || line.charCodeAt(to - 1) === 9)) to--;
  return line.slice(from, to);
}

/**
 * Parses a response head (the bytes up to and including the blank line) answering `method`.
 * Throws an `Error` naming what is wrong for anything malformed or ambiguous.
 */
export function parseResponseHead(bytes: Uint8Array, method: string): ResponseHead {
  // One char per byte, each its byte's value: nothing malformed slips through a decoder's
  // replacement, and header values are byte strings as `Headers` holds them.
  const text = byteString(bytes, 0, bytes.length);
  const lines = text.slice(0, -4).split("\r\n");
  if (lines.length - 1 > MAX_HEADER_LINES) throw new Error("too many header lines");
  const status = STATUS_LINE.exec(lines[0]);
  if (status === null) throw new Error("malformed status line");
  const minor = status[1];
  const code = Number(status[2]);
  const headers: [string, string][] = [];
  let lengths: string[] = [];
  let transferEncoding: string | undefined;
  let connection = "";
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error("malformed header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new Error("malformed header name");
    const value = trimOws(line, colon + 1);
    if (/[\0\r\n]/.test(value)) throw new Error("malformed header value");
    const lower = name.toLowerCase();
    headers.push([lower, value]);
    if (lower === "content-length") lengths = lengths.concat(value.split(",").map((v) => v.trim()));
    else if (lower === "transfer-encoding") {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    } else if (lower === "connection") connection += `,${value.toLowerCase()}`;
  }
  const closeAfter = minor === "0"
    ? !connection.split(",").some((token) => token.trim() === "keep-alive")
    : connection.split(",").some((token) => token.trim() === "close");
  const head = { status: code, statusText: status[3] ?? "", headers };
  if (method === "HEAD" || code < 200 || code === 204 || code === 304) {
    return { ...head, framing: { kind: "none" }, reusable: !closeAfter };
  }
  if (transferEncoding !== undefined) {
    // Both framings at once is how requests get smuggled: refuse (RFC 9112 §6.3).
    if (lengths.length > 0) throw new Error("both Transfer-Encoding and Content-Length");
    const codings = transferEncoding.toLowerCase().split(",").map((v) => v.trim());
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw new Error("unsupported Transfer-Encoding");
    }
    return { ...head, framing: { kind: "chunked" }, reusable: !closeAfter };
  }
  if (lengths.length > 0) {
    if (!lengths.every((value) => value === lengths[0] && DIGITS.test(value))) {
      throw new Error("invalid Content-Length");
    }
    const length = Number(lengths[0]);
    return {
      ...head,
      framing: length === 0 ? { kind: "none" } : { kind: "length", length },
      reusable: !closeAfter,
    };
  }
  return { ...head, framing: { kind: "close" }, reusable: false };
}

/** Decodes a chunked body fed in pieces; bounded line lengths, trailers read and dropped. */
export interface ChunkedDecoder {
  /**
   * Consumes bytes; returns the body data found (views into `bytes`) and how many bytes of
   * `bytes` belonged to the body. Throws on malformed framing.
   */
  push<T extends ArrayBufferLike>(bytes: Uint8Array<T>): { data: Uint8Array<T>[]; used: number };
  /** True once the last chunk and the trailers have been read. */
  readonly done: boolean;
}

const MAX_CHUNK_LINE = 4096;
const HEX = /^[0-9a-fA-F]{1,12}$/;

/** Creates a decoder for one chunked body. */
export function createChunkedDecoder(): ChunkedDecoder {
  let state: "size" | "data" | "data_crlf" | "trailer" | "done" = "size";
  let line = "";
  let remaining = 0;
  return {
    push(bytes) {
      const data: typeof bytes[] = [];
      let at = 0;
      while (at < bytes.length && state !== "done") {
        if (state === "data") {
          const take = Math.min(remaining, bytes.length - at);
          data.push(bytes.subarray(at, at + take));
          at += take;
          remaining -= take;
          if (remaining === 0) state = "data_crlf";
          continue;
        }
        // A line (chunk size, the CRLF after data, or a trailer line) ends at LF.
        const byte = bytes[at++];
        if (byte !== 10) {
          line += String.fromCharCode(byte);
          if (line.length > MAX_CHUNK_LINE) throw new Error("chunk line too long");
          continue;
        }
        if (!line.endsWith("\r")) throw new Error("bare LF in chunked body");
        const text = line.slice(0, -1);
        line = "";
        if (state === "data_crlf") {
          if (text !== "") throw new Error("missing CRLF after chunk data");
          state = "size";
        } else if (state === "size") {
          const size = text.split(";", 1)[0].trim();
          if (!HEX.test(size)) throw new Error("invalid chunk size");
          remaining = parseInt(size, 16);
          state = remaining === 0 ? "trailer" : "data";
        } else if (text === "") {
          state = "done";
        }
      }
      return { data, used: at };
    },
    get done() {
      return state === "done";
    },
  };
}
