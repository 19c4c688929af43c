/**
 * A fetch-shaped HTTP/1.1 client for one plain `http:` upstream (effect), with a pool of
 * keep-alive connections. On loopback and LAN upstreams it costs a fraction of `fetch` per
 * request (SPEC §11). It answers a `Response`-shaped `Http1Response`; bodies stream with
 * back-pressure.
 * Redirects are never followed (they would carry the configured credentials elsewhere);
 * compressed bodies are not asked for, and gzip/deflate ones are decoded if sent anyway.
 */
import { concatBytes } from "../../../bytes.ts";
import {
  type BodyFraming,
  createChunkedDecoder,
  findHeadEnd,
  MAX_HEAD_BYTES,
  parseResponseHead,
  type ResponseHead,
} from "./http1_parse.ts";

/** What `send` accepts: a subset of `RequestInit`. */
export interface Http1Init {
  /** Request method. */
  readonly method: string;
  /** Request headers (connection-level ones are dropped: this client frames the message). */
  readonly headers: Headers;
  /** A string body (sent with Content-Length). */
  readonly body?: string;
  /** `headerBlock(headers)`, when the caller keeps it for headers it reuses. */
  readonly headerBlock?: string;
  /** Aborts the request and its body. */
  readonly signal: AbortSignal;
}

/** A pooled HTTP/1.1 client bound to one origin. */
export interface Http1Client {
  /** Sends one request to `url` (same origin as the client's); resolves once the head is in. */
  fetch(url: string, init: Http1Init): Promise<Http1Response>;
  /** Connections currently idle in the pool. */
  readonly idle: number;
  /** Closes every connection (running requests fail); the client stays usable. */
  close(): Promise<void>;
}

/** Idle connections kept per upstream; more are closed when released. */
const MAX_IDLE = 128;
const READ_BUFFER_BYTES = 64 * 1024;
/** 1xx answers skipped before the final one. */
const MAX_INTERIM = 8;
const encoder = new TextEncoder();

type Bytes = Uint8Array<ArrayBuffer>;
/** Headers this client sets itself or that only make sense hop by hop. */
const DROPPED = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-connection",
  "accept-encoding",
]);

interface Connection {
  readonly conn: Deno.TcpConn;
  readonly buffer: Bytes;
  /** Bytes read past the previous response (none on a healthy keep-alive connection). */
  pending: Bytes | null;
  /** The read started while the connection sat idle (it detects a close by the server). */
  watch: Promise<Bytes | null> | null;
  idle: boolean;
  closed: boolean;
  /** True once the connection carried a request (a failure before any answer may retry). */
  used: boolean;
}

/** Thrown when a reused connection closed before any byte of the answer: safe to retry once. */
class StaleConnection extends Error {}

/** True when `url` can use `createHttp1Client` (plain http, no proxy configured). */
export function canUseHttp1(url: string, env: (name: string) => string | undefined): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== "http:" || parsed.username !== "" || parsed.password !== "") {
    return false;
  }
  // fetch honours proxy variables; keep its behaviour whenever one is set.
  const proxies = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];
  return proxies.every((name) => (env(name) ?? "") === "");
}

/** Creates a client for the origin of `url` (an `http:` URL; see `canUseHttp1`). */
export function createHttp1Client(url: string): Http1Client {
  const origin = new URL(url);
  const hostname = origin.hostname.startsWith("[") ? origin.hostname.slice(1, -1) : origin.hostname;
  const port = origin.port === "" ? 80 : Number(origin.port);
  const hostHeader = origin.host;
  const basePath = `${origin.pathname}${origin.search}`;
  const idle: Connection[] = [];
  const open = new Set<Connection>();

  function destroy(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    open.delete(c);
    const at = idle.indexOf(c);
    if (at >= 0) idle.splice(at, 1);
    try {
      c.conn.close();
    } catch {
      // already closed
    }
  }

  async function read(c: Connection): Promise<Bytes | null> {
    if (c.pending !== null) {
      const bytes = c.pending;
      c.pending = null;
      return bytes;
    }
    if (c.watch !== null) {
      const watched = c.watch;
      c.watch = null;
      return await watched;
    }
    const n = await c.conn.read(c.buffer);
    return n === null ? null : c.buffer.slice(0, n);
  }

  function release(c: Connection, reusable: boolean): void {
    if (c.closed) return;
    if (!reusable || c.pending !== null || idle.length >= MAX_IDLE) return destroy(c);
    c.idle = true;
    // A read while idle: anything arriving now (a close, stray bytes) retires the connection.
    const watch = c.conn.read(c.buffer).then((n) => (n === null ? null : c.buffer.slice(0, n)));
    c.watch = watch;
    watch.then(() => {
      if (c.idle) destroy(c);
    }, () => destroy(c));
    idle.push(c);
  }

  async function acquire(): Promise<Connection> {
    const reused = idle.pop();
    if (reused !== undefined) {
      reused.idle = false;
      return reused;
    }
    const conn = await Deno.connect({ hostname, port, transport: "tcp" });
    conn.setNoDelay(true);
    const c: Connection = {
      conn,
      buffer: new Uint8Array(READ_BUFFER_BYTES),
      pending: null,
      watch: null,
      idle: false,
      closed: false,
      used: false,
    };
    open.add(c);
    return c;
  }

  async function readHead(
    c: Connection,
    method: string,
    reused: boolean,
  ): Promise<{ head: ResponseHead; rest: Bytes }> {
    let buffered = new Uint8Array(0);
    let scanned = 0;
    let interim = 0;
    for (;;) {
      const end = findHeadEnd(buffered, Math.max(0, scanned - 3));
      if (end >= 0) {
        const head = parseResponseHead(buffered.subarray(0, end), method);
        const rest = buffered.slice(end);
        if (head.status === 101) throw new Error("unexpected protocol switch");
        if (head.status >= 200) return { head, rest };
        // 1xx interim answers: skip to the final one (a few, not forever).
        if (++interim > MAX_INTERIM) throw new Error("too many interim responses");
        buffered = rest;
        scanned = 0;
        continue;
      }
      scanned = buffered.length;
      if (buffered.length > MAX_HEAD_BYTES) throw new Error("response head too large");
      const chunk = await read(c);
      if (chunk === null) {
        if (buffered.length === 0 && reused) throw new StaleConnection("connection closed");
        throw new Error("connection closed before the response head");
      }
      buffered = buffered.length === 0 ? chunk : concatBytes([buffered, chunk]);
    }
  }

  async function exchange(c: Connection, request: Bytes, init: Http1Init, reused: boolean) {
    await writeAll(c.conn, request);
    return await readHead(c, init.method, reused);
  }

  return {
    async fetch(target, init) {
      const { signal } = init;
      signal.throwIfAborted();
      const request = encodeRequest(
        target === url ? basePath : pathOf(target, hostHeader),
        init,
        hostHeader,
      );
      for (let attempt = 0;; attempt++) {
        const c = await acquire();
        const reused = c.used;
        c.used = true;
        const onAbort = () => destroy(c);
        signal.addEventListener("abort", onAbort, { once: true });
        const done = (reusable: boolean) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) destroy(c);
          else release(c, reusable);
        };
        try {
          const received = await exchange(c, request, init, reused);
          return respond(c, received, { signal, done, destroy, read });
        } catch (error) {
          signal.removeEventListener("abort", onAbort);
          destroy(c);
          if (signal.aborted) throw abortReason(signal);
          if (error instanceof StaleConnection && attempt === 0) continue;
          throw networkError(error);
        }
      }
    },
    get idle() {
      return idle.length;
    },
    async close() {
      const watches = [...open].map((c) => c.watch).filter((w) => w !== null);
      for (const c of [...open]) destroy(c);
      await Promise.allSettled(watches);
    },
  };
}

interface BodyIo {
  readonly signal: AbortSignal;
  /** The body was read to its end (`reusable` per the head) or abandoned (false). */
  readonly done: (reusable: boolean) => void;
  readonly destroy: (c: Connection) => void;
  readonly read: (c: Connection) => Promise<Bytes | null>;
}

function respond(
  c: Connection,
  received: { head: ResponseHead; rest: Bytes },
  io: BodyIo,
): Http1Response {
  const { head, rest } = received;
  const framing = head.framing;
  let format: CompressionFormat | undefined;
  try {
    format = compression(headerValue(head.headers, "content-encoding"));
  } catch (error) {
    io.destroy(c);
    io.done(false);
    throw error;
  }
  const answer = (body: Bytes | ReadableStream<Bytes> | null) =>
    new Http1Response(
      head.status,
      head.headers,
      body === null || format === undefined
        ? body
        : stream(body).pipeThrough(new DecompressionStream(format)) as ReadableStream<Bytes>,
    );
  if (framing.kind === "none") {
    if (rest.length > 0) c.pending = rest;
    io.done(head.reusable);
    return answer(null);
  }
  // The whole body already arrived (the common case for JSON answers): no stream needed.
  if (framing.kind === "length" && rest.length >= framing.length) {
    if (rest.length > framing.length) c.pending = rest.slice(framing.length);
    io.done(head.reusable);
    return answer(rest.subarray(0, framing.length));
  }
  if (framing.kind === "chunked") {
    const decoder = createChunkedDecoder();
    const { data, used } = decoder.push(rest);
    if (decoder.done) {
      if (used < rest.length) c.pending = rest.slice(used);
      io.done(head.reusable);
      return answer(concatBytes(data));
    }
    // Not all here: stream it, decoding from the start again with a fresh decoder.
  }
  return answer(bodyStream(c, framing, rest, io, head));
}

/**
 * A response of this client: what the upstream code reads of a `Response` (status, headers,
 * body, `bytes()`), without building one — no `Headers` object, and no stream for a body that
 * arrived whole unless `body` is asked for. A body is read once, as with `Response`.
 */
export class Http1Response {
  /** The status code. */
  readonly status: number;
  /** Header lookup, case-insensitive; repeated headers joined with ", ". */
  readonly headers: { get(name: string): string | null };
  #source: Bytes | ReadableStream<Bytes> | null;
  #stream: ReadableStream<Bytes> | null | undefined;

  /** Wraps a parsed head and its body (bytes, a stream, or none). */
  constructor(
    status: number,
    headers: readonly (readonly [string, string])[],
    source: Bytes | ReadableStream<Bytes> | null,
  ) {
    this.status = status;
    this.headers = { get: (name) => headerValue(headers, name.toLowerCase()) };
    this.#source = source;
  }

  /** True for 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  /** The body as a stream (made on first use for a body that arrived whole). */
  get body(): ReadableStream<Bytes> | null {
    if (this.#stream === undefined) {
      this.#stream = this.#source === null ? null : stream(this.#source);
      this.#source = null;
    }
    return this.#stream;
  }

  /** The whole body. */
  async bytes(): Promise<Bytes> {
    const source = this.#source;
    if (this.#stream === undefined && source instanceof Uint8Array) {
      this.#source = null;
      this.#stream = null;
      return source;
    }
    const body = this.body;
    return body === null ? new Uint8Array(0) : await new Response(body).bytes();
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /** The whole body parsed as JSON. */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

function headerValue(headers: readonly (readonly [string, string])[], name: string): string | null {
  let value: string | null = null;
  for (const [key, text] of headers) {
    if (key === name) value = value === null ? text : `${value}, ${text}`;
  }
  return value;
}

function bodyStream(
  c: Connection,
  framing: BodyFraming,
  first: Bytes,
  io: BodyIo,
  head: ResponseHead,
): ReadableStream<Bytes> {
  const chunked = createChunkedDecoder();
  let remaining = framing.kind === "length" ? framing.length : Infinity;
  let initial: Bytes | null = first;
  let finished = false;
  const finish = (reusable: boolean) => {
    if (finished) return;
    finished = true;
    io.done(reusable);
  };
  return new ReadableStream<Bytes>({
    async pull(controller) {
      try {
        for (;;) {
          const chunk = initial ?? await io.read(c);
          initial = null;
          if (chunk === null) {
            if (framing.kind !== "close") throw new Error("connection closed mid-body");
            finish(false);
            controller.close();
            return;
          }
          if (framing.kind === "chunked") {
            const { data, used } = chunked.push(chunk);
            for (const piece of data) if (piece.length > 0) controller.enqueue(piece.slice());
            if (chunked.done) {
              if (used < chunk.length) c.pending = chunk.slice(used);
              finish(head.reusable);
              controller.close();
              return;
            }
            if (data.some((piece) => piece.length > 0)) return;
            continue;
          }
          if (framing.kind === "length") {
            const take = Math.min(remaining, chunk.length);
            if (take > 0) controller.enqueue(chunk.subarray(0, take));
            remaining -= take;
            if (remaining === 0) {
              if (take < chunk.length) c.pending = chunk.slice(take);
              finish(head.reusable);
              controller.close();
              return;
            }
            if (take > 0) return;
            continue;
          }
          if (chunk.length > 0) {
            controller.enqueue(chunk);
            return;
          }
        }
      } catch (error) {
        io.destroy(c);
        finish(false);
        controller.error(io.signal.aborted ? abortReason(io.signal) : networkError(error));
      }
    },
    cancel() {
      io.destroy(c);
      finish(false);
    },
  }, { highWaterMark: 0 });
}

/** The decompression a response needs, or undefined for identity; throws for unknown codings. */
function compression(header: string | null): CompressionFormat | undefined {
  const coding = (header ?? "identity").trim().toLowerCase();
  if (coding === "identity" || coding === "") return undefined;
  if (coding === "gzip" || coding === "x-gzip") return "gzip";
  if (coding === "deflate") return "deflate";
  throw new Error("unsupported Content-Encoding");
}

function stream(body: Bytes | ReadableStream<Bytes>): ReadableStream<Bytes> {
  return body instanceof Uint8Array ? new Blob([body]).stream() as ReadableStream<Bytes> : body;
}

function pathOf(target: string, hostHeader: string): string {
  const url = new URL(target);
  if (url.protocol !== "http:" || url.host !== hostHeader) {
    throw new TypeError("request to another origin than the client's");
  }
  return `${url.pathname}${url.search}`;
}

/** The header lines this client sends for `headers` (connection-level ones dropped). */
export function headerBlock(headers: Headers): string {
  let block = "";
  for (const [name, value] of headers) {
    if (!DROPPED.has(name)) block += `${name}: ${value}\r\n`;
  }
  return block;
}

// Reused by every request (encoding is synchronous); larger bodies get a buffer of their own.
const scratch = new Uint8Array(64 * 1024);

// Head and body in one allocation: the body is encoded first (its length goes in the head).
function encodeRequest(path: string, init: Http1Init, hostHeader: string): Bytes {
  let head = `${init.method} ${path} HTTP/1.1\r\nhost: ${hostHeader}\r\n${
    init.headerBlock ?? headerBlock(init.headers)
  }`;
  if (init.body === undefined) return encoder.encode(`${head}\r\n`);
  const worst = init.body.length * 3;
  const encoded = worst <= scratch.length ? scratch : new Uint8Array(worst);
  const bodyLength = encoder.encodeInto(init.body, encoded).written;
  head += `content-length: ${bodyLength}\r\n\r\n`;
  const out = new Uint8Array(head.length * 3 + bodyLength);
  const headLength = encoder.encodeInto(head, out).written;
  out.set(encoded.subarray(0, bodyLength), headLength);
  return out.subarray(0, headLength + bodyLength);
}

async function writeAll(conn: Deno.TcpConn, bytes: Bytes): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The request was aborted", "AbortError");
}

/** Network and framing failures surface as `TypeError`, as `fetch`'s do. */
function networkError(error: unknown): TypeError {
  const message = error instanceof Error ? error.message : String(error);
  return new TypeError(`HTTP/1.1 upstream request failed: ${message}`);
}
