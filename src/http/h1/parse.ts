/**
 * HTTP/1.1 request framing for the gateway's own server (RFC 9112), pure: the request head, how
 * its body is delimited, and a bounded chunked-body decoder. Every byte is the client's and
 * hostile: request smuggling lives in disagreements about framing, so anything a second parser
 * could read differently (both framings, several lengths, odd codings, obs-fold, bare CR or LF,
 * control characters, absolute targets) is refused with a status and the connection closed,
 * never guessed.
 */
import { byteString } from "../../bytes.ts";

/** Largest request head (request line + header lines + blank line) accepted, in bytes. */
export const MAX_REQUEST_HEAD_BYTES = 32 * 1024;
/** Most header lines accepted in one request head. */
export const MAX_REQUEST_HEADERS = 100;
/** Empty lines tolerated before a request line (RFC 9112 §2.2), counted in the head size. */
const MAX_LEADING_EMPTY_LINES = 4;

/** How a request body is delimited. */
export type RequestFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

/** A parsed request head. */
export interface RequestHead {
  /** The method token, as sent (case-sensitive). */
  readonly method: string;
  /** The origin-form target (`/path?query`). */
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: 0 | 1;
  /** Header lines in order: names lower-cased, values without surrounding whitespace. */
  readonly headers: [string, string][];
  /**
   * The Host header's value when it is a plain authority (the URL is built from it), else
   * undefined: missing, or malformed (the header itself is kept, and the door guards refuse it).
   */
  readonly host: string | undefined;
  /** How the body is delimited. */
  readonly framing: RequestFraming;
  /** False when the connection must close after the answer (HTTP/1.0, `Connection: close`). */
  readonly keepAlive: boolean;
  /** `Expect: 100-continue` (HTTP/1.1 only). */
  readonly expectContinue: boolean;
}

/** A refusal: the status to answer with before closing, and why (for tests and logs). */
export interface HeadError {
  readonly status: 400 | 413 | 417 | 431 | 501 | 505;
  readonly reason: string;
}

/** The outcome of looking at the bytes received so far. */
export type HeadParse =
  | { readonly kind: "incomplete" }
  | { readonly kind: "head"; readonly head: RequestHead; readonly size: number }
  | { readonly kind: "error"; readonly error: HeadError };

const INCOMPLETE = { kind: "incomplete" } as const;

/** tchar (RFC 9110 §5.6.2) per byte. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

const HOST = /^(?:\[[0-9A-Fa-f:.]{2,60}\]|[A-Za-z0-9._~!$&'()*+,;=-]{1,255})(?::[0-9]{0,5})?$/;
const LENGTH = /^[0-9]{1,15}$/;
function error(status: HeadError["status"], reason: string): HeadParse {
  return { kind: "error", error: { status, reason } };
}

/** Resumable scan state of `parseRequestHead` on one growing buffer (`newHeadScan()` per head). */
export interface HeadScan {
  /** Index of the first byte not scanned yet. */
  scanned: number;
  /** Index where the line being scanned starts (-1 before the first call). */
  lineStart: number;
}

/** A fresh scan state for a new request head. */
export function newHeadScan(): HeadScan {
  return { scanned: 0, lineStart: -1 };
}

/**
 * Finds the end of a request head in `bytes[0..length)`, resuming at `scan` (so a head trickled
 * in pieces is scanned once). Returns the index just past the blank line, -1 when not there yet,
 * or -2 for a bare CR or LF (not part of a CRLF), which no honest client sends.
 */
function findHeadEnd(bytes: Uint8Array, length: number, scan: HeadScan): number {
  let i = scan.scanned;
  let lineStart = scan.lineStart;
  while (i < length) {
    const byte = bytes[i];
    if (byte === 10) return -2;
    if (byte === 13) {
      if (i + 1 >= length) break; // the LF is still to come
      if (bytes[i + 1] !== 10) return -2;
      if (i === lineStart) return i + 2;
      i += 2;
      lineStart = i;
      continue;
    }
    i++;
  }
  scan.scanned = i;
  scan.lineStart = lineStart;
  return -1;
}

/**
 * Looks for a complete request head at the start of `bytes[0..length)`. `scan` carries the scan
 * position between calls on the same growing buffer (a new one for each head).
 */
export function parseRequestHead(
  bytes: Uint8Array,
  length: number,
  scan: HeadScan,
): HeadParse {
  if (scan.lineStart < 0) {
    // Leading CRLFs (at most a few) before the request line are ignored (RFC 9112 §2.2).
    let start = 0;
    while (start + 1 < length && bytes[start] === 13 && bytes[start + 1] === 10) {
      start += 2;
      if (start > 2 * MAX_LEADING_EMPTY_LINES) return error(400, "empty lines before the request");
    }
    if (start < length && bytes[start] === 10) return error(400, "bare LF in the request head");
    if (length - start <= 1) return INCOMPLETE; // nothing yet, or a CR that may start a CRLF
    if (bytes[start] === 13) return error(400, "bare CR in the request head");
    scan.scanned = start;
    scan.lineStart = start;
  }
  const end = findHeadEnd(bytes, length, scan);
  if (end === -2) return error(400, "bare CR or LF in the request head");
  if (end === -1) {
    return length > MAX_REQUEST_HEAD_BYTES ? error(431, "request head too large") : INCOMPLETE;
  }
  if (end > MAX_REQUEST_HEAD_BYTES) return error(431, "request head too large");
  let first = 0;
  while (bytes[first] === 13) first += 2;
  const parsed = parseHeadLines(bytes, first, end);
  return "status" in parsed
    ? { kind: "error", error: parsed }
    : { kind: "head", head: parsed, size: end };
}

/** Header names most requests carry, by length: read without building a new string. */
const KNOWN_NAMES: readonly (readonly string[])[] = (() => {
  const byLength: string[][] = [];
  for (
    const name of [
      "host",
      "accept",
      "origin",
      "expect",
      "connection",
      "user-agent",
      "content-type",
      "content-length",
      "authorization",
      "last-event-id",
      "mcp-session-id",
      "sec-fetch-site",
      "accept-encoding",
      "transfer-encoding",
      "x-forwarded-proto",
      "mcp-protocol-version",
    ]
  ) (byLength[name.length] ??= []).push(name);
  return byLength;
})();

/**
 * The lower-cased header name in `bytes[start..end)` (tchar only, checked by the caller): a known
 * name's own string when it is one (letters compared case-insensitively: no tchar but a letter
 * has a letter as its lower-case bit-form), else a new string.
 */
function headerName(bytes: Uint8Array, start: number, end: number): string {
  const known = KNOWN_NAMES[end - start];
  if (known !== undefined) {
    next: for (let k = 0; k < known.length; k++) {
      const name = known[k];
      for (let i = 0; i < name.length; i++) {
        if ((bytes[start + i] | 0x20) !== name.charCodeAt(i)) continue next;
      }
      return name;
    }
  }
  return byteString(bytes, start, end).toLowerCase();
}

/** True when `bytes[start..end)` is exactly `text` (ASCII). */
function bytesAre(bytes: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Parses the head in `bytes[start..end)` (ending with CRLF CRLF, bare CR/LF already refused). */
function parseHeadLines(bytes: Uint8Array, start: number, end: number): RequestHead | HeadError {
  // Request line: method SP request-target SP HTTP-version CRLF, single spaces only.
  let at = start;
  while (TCHAR[bytes[at]] === 1) at++;
  if (at === start || bytes[at] !== 32) return { status: 400, reason: "malformed request line" };
  const method = bytesAre(bytes, start, at, "POST")
    ? "POST"
    : bytesAre(bytes, start, at, "GET")
    ? "GET"
    : byteString(bytes, start, at);
  const targetStart = ++at;
  while (bytes[at] > 32 && bytes[at] < 127) at++;
  if (at === targetStart || bytes[at] !== 32) {
    return { status: 400, reason: "malformed request line" };
  }
  const target = byteString(bytes, targetStart, at);
  const versionStart = ++at;
  while (bytes[at] !== 13) at++;
  const version = bytesAre(bytes, versionStart, at, "HTTP/1.1")
    ? "HTTP/1.1"
    : byteString(bytes, versionStart, at);
  at += 2;
  let minor: 0 | 1;
  if (version === "HTTP/1.1") minor = 1;
  else if (version === "HTTP/1.0") minor = 0;
  else if (/^HTTP\/[0-9]\.[0-9]$/.test(version)) {
    return { status: 505, reason: "HTTP version not supported" };
  } else return { status: 400, reason: "malformed request line" };
  if (method === "CONNECT") return { status: 501, reason: "CONNECT is not served" };
  // Origin-form only: absolute-form (proxies) and asterisk-form (OPTIONS *) are not served.
  if (target.charCodeAt(0) !== 47 /* / */) {
    return { status: 400, reason: "request target is not in origin-form" };
  }
  if (target.includes("#")) return { status: 400, reason: "fragment in the request target" };

  const headers: [string, string][] = [];
  let host: string | undefined;
  let hosts = 0;
  let contentLength: string | undefined;
  let lengths = 0;
  let transferEncoding: string | undefined;
  let connection = "";
  let expect: string | undefined;
  while (at < end - 2) {
    if (headers.length >= MAX_REQUEST_HEADERS) return { status: 431, reason: "too many headers" };
    const lineStart = at;
    // obs-fold (a line starting with whitespace) and whitespace before the colon are refused.
    while (TCHAR[bytes[at]] === 1) at++;
    if (at === lineStart) return { status: 400, reason: "malformed header line (obs-fold?)" };
    if (bytes[at] !== 58 /* : */) return { status: 400, reason: "malformed header name" };
    const name = headerName(bytes, lineStart, at);
    at++;
    while (bytes[at] === 32 || bytes[at] === 9) at++;
    const valueStart = at;
    let valueEnd = at;
    for (;;) {
      const byte = bytes[at];
      if (byte === 13) break;
      // field-vchar / obs-text, with SP and HTAB inside; NUL and other controls refused.
      if ((byte < 32 && byte !== 9) || byte === 127) {
        return { status: 400, reason: "control character in a header value" };
      }
      at++;
      if (byte !== 32 && byte !== 9) valueEnd = at;
    }
    at += 2;
    const value = byteString(bytes, valueStart, valueEnd);
    headers.push([name, value]);
    switch (name) {
      case "host":
        hosts++;
        host = value;
        break;
      case "content-length":
        lengths++;
        contentLength = value;
        break;
      case "transfer-encoding":
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
        break;
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        if (expect !== undefined) return { status: 400, reason: "several Expect headers" };
        expect = value.toLowerCase();
        break;
    }
  }
  // At most one Host. The URL is built from it only when it is a plain authority, so that
  // `host: a/b?` cannot move the path; a missing or malformed one leaves the URL to the listener's
  // address while the header goes to the handler as sent, whose door guards refuse it (403, in
  // the answer shape of each door), as they did behind `Deno.serveHttp`.
  if (hosts > 1) return { status: 400, reason: "several Host headers" };
  if (host !== undefined && !HOST.test(host)) host = undefined;

  let framing: RequestFraming = { kind: "none" };
  if (transferEncoding !== undefined) {
    // Both framings at once is the classic smuggling vector: refused (RFC 9112 §6.3).
    if (lengths > 0) return { status: 400, reason: "both Transfer-Encoding and Content-Length" };
    if (minor === 0) return { status: 400, reason: "Transfer-Encoding in an HTTP/1.0 request" };
    if (transferEncoding.toLowerCase() !== "chunked") {
      return { status: 501, reason: "Transfer-Encoding other than chunked" };
    }
    framing = { kind: "chunked" };
  } else if (lengths > 0) {
    if (lengths > 1) return { status: 400, reason: "several Content-Length headers" };
    if (!LENGTH.test(contentLength!)) return { status: 400, reason: "invalid Content-Length" };
    const length = Number(contentLength);
    if (length > 0) framing = { kind: "length", length };
  }
  const tokens = connection.split(",");
  let close = false;
  let keepAliveToken = false;
  for (const token of tokens) {
    const trimmed = token.trim();
    if (trimmed === "close") close = true;
    else if (trimmed === "keep-alive") keepAliveToken = true;
  }
  let expectContinue = false;
  if (expect !== undefined && minor === 1) {
    if (expect !== "100-continue") return { status: 417, reason: "unsupported Expect" };
    expectContinue = true;
  }
  return {
    method,
    target,
    minor,
    headers,
    host,
    framing,
    keepAlive: minor === 1 ? !close : keepAliveToken && !close,
    expectContinue,
  };
}

/** Most trailer lines accepted after a chunked body (read and dropped). */
const MAX_TRAILERS = 32;
/** Longest chunk-size line (size, extensions) or trailer line, in bytes. */
const MAX_CHUNK_LINE = 1024;
/** Framing bytes (size lines, extensions, CRLFs, trailers) allowed beyond the data itself. */
const FRAMING_ALLOWANCE = 16 * 1024;

/** Why a chunked body was refused: malformed (400) or larger than the limit (413). */
export class ChunkedError extends Error {
  /** The status to answer with. */
  readonly status: 400 | 413;
  /** Builds an error with its status. */
  constructor(status: 400 | 413, message: string) {
    super(message);
    this.status = status;
  }
}

/** Decodes one chunked request body fed in pieces, bounded by `maxBytes` of data. */
export interface ChunkedBodyDecoder {
  /**
   * Consumes `bytes[from..to)`; appends data found to `out` (views into `bytes`: copy them before
   * reusing the buffer) and returns the index just past what belonged to the body. Throws a
   * `ChunkedError` on malformed framing or too much data.
   */
  push(bytes: Uint8Array, from: number, to: number, out: Uint8Array[]): number;
  /** True once the last chunk and the trailers have been read. */
  readonly done: boolean;
  /** Data bytes decoded so far. */
  readonly size: number;
}

/** Decoder states. */
const State = {
  Size: 0,
  SizeLf: 1,
  Data: 2,
  DataCr: 3,
  DataLf: 4,
  Trailer: 5,
  TrailerLf: 6,
  Done: 7,
} as const;

/**
 * Creates a strict decoder: chunk sizes are 1–8 hex digits (no sign, no `0x`, no spaces before
 * them), extensions are bounded and free of control characters, every line ends in CRLF, data
 * beyond `maxBytes` is 413, and the framing itself is bounded (extensions and trailers cannot
 * make a small body cost unbounded work).
 */
export function createChunkedBodyDecoder(maxBytes: number): ChunkedBodyDecoder {
  let state: number = State.Size;
  let lineBytes = 0;
  let digits = 0;
  let inExtension = false;
  let spaced = false;
  let chunk = 0;
  let remaining = 0;
  let size = 0;
  let framing = 0;
  let trailers = 0;
  const framingBudget = FRAMING_ALLOWANCE + maxBytes;
  const bad = (message: string) => new ChunkedError(400, message);
  return {
    push(bytes, from, to, out) {
      let at = from;
      while (at < to && state !== State.Done) {
        if (state === State.Data) {
          const take = Math.min(remaining, to - at);
          out.push(bytes.subarray(at, at + take));
          at += take;
          remaining -= take;
          if (remaining === 0) state = State.DataCr;
          continue;
        }
        const byte = bytes[at++];
        if (++framing > framingBudget) throw bad("too much chunk framing");
        switch (state) {
          case State.Size:
            if (++lineBytes > MAX_CHUNK_LINE) throw bad("chunk size line too long");
            if (byte === 13) {
              if (digits === 0) throw bad("missing chunk size");
              if (spaced && !inExtension) throw bad("whitespace after the chunk size");
              state = State.SizeLf;
            } else if (inExtension) {
              if ((byte < 32 && byte !== 9) || byte === 127) throw bad("invalid chunk extension");
            } else if (byte === 59 /* ; */) {
              if (digits === 0) throw bad("missing chunk size");
              inExtension = true;
            } else if (byte === 32 || byte === 9) {
              // BWS, allowed only between the size and an extension (RFC 9112 §7.1.1).
              if (digits === 0) throw bad("whitespace before the chunk size");
              spaced = true;
            } else {
              const value = hexValue(byte);
              if (value < 0 || lineBytes !== digits + 1) throw bad("invalid chunk size");
              if (++digits > 8) throw bad("chunk size too large");
              chunk = chunk * 16 + value;
            }
            break;
          case State.SizeLf:
            if (byte !== 10) throw bad("chunk size line not ended by CRLF");
            if (chunk === 0) state = State.Trailer;
            else {
              size += chunk;
              if (size > maxBytes) throw new ChunkedError(413, "chunked body too large");
              remaining = chunk;
              state = State.Data;
            }
            lineBytes = digits = chunk = 0;
            inExtension = spaced = false;
            break;
          case State.DataCr:
            if (byte !== 13) throw bad("chunk data not followed by CRLF");
            state = State.DataLf;
            break;
          case State.DataLf:
            if (byte !== 10) throw bad("chunk data not followed by CRLF");
            state = State.Size;
            break;
          case State.Trailer:
            if (byte === 13) {
              state = State.TrailerLf;
              break;
            }
            if (++lineBytes > MAX_CHUNK_LINE) throw bad("trailer line too long");
            if ((byte < 32 && byte !== 9) || byte === 127) throw bad("invalid trailer line");
            if (lineBytes === 1 && (byte === 32 || byte === 9)) throw bad("obs-fold in trailers");
            break;
          case State.TrailerLf:
            if (byte !== 10) throw bad("trailer line not ended by CRLF");
            if (lineBytes === 0) state = State.Done;
            else {
              if (++trailers > MAX_TRAILERS) throw bad("too many trailer lines");
              lineBytes = 0;
              state = State.Trailer;
            }
            break;
        }
      }
      return at;
    },
    get done() {
      return state === State.Done;
    },
    get size() {
      return size;
    },
  };
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 65 && byte <= 70) return byte - 55;
  if (byte >= 97 && byte <= 102) return byte - 87;
  return -1;
}
