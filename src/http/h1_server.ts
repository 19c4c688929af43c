/**
 * The gateway's own HTTP/1.1 server on accepted `Deno.TcpConn`s (effects; `HTTP_SERVER=builtin`),
 * under the listener's connection table (§12 "Connections"). It exists for the tail latency of
 * issue 15: the legacy `Deno.serveHttp` leaves ~1–3 KB of per-request objects (a body stream per
 * request, its controllers and promises) that survive young-generation GCs; here a body that
 * arrived with its head is handed over as bytes, and a fixed answer goes out in one write.
 * Framing is strict (src/http/h1_parse.ts): anything ambiguous gets 4xx/5xx and the connection
 * is closed.
 */
import type { Logger } from "../log.ts";
import { BodyTooLargeError, type BodyWatch, watchBody } from "./body_deadline.ts";
import type { ConnectionEntry, ConnectionTable } from "./connection_limits.ts";
import {
  ChunkedError,
  createChunkedBodyDecoder,
  type HeadError,
  MAX_REQUEST_HEAD_BYTES,
  newHeadScan,
  parseRequestHead,
  type RequestHead,
} from "./h1_parse.ts";

/** What the server needs from its listener. */
export interface H1Context {
  /** The listener's table of connections (deadlines, cap, drain). */
  readonly table: ConnectionTable<{ close(): void }>;
  /** Answers one request (a throw becomes a bare 500). */
  readonly handler: (request: Request) => Response | Promise<Response>;
  /** Body bytes read for a request; a declared length above it is not read (the handler 413s). */
  readonly maxBodyBytes: number;
  /** `host:port` for the URL of an HTTP/1.0 request without Host. */
  readonly localAuthority: string;
  /** Called once the connection is closed and forgotten. */
  readonly close: (entry: ConnectionEntry<{ close(): void }>) => void;
  /** Operational log (handler failures). */
  readonly log: Logger;
}

type Bytes = Uint8Array<ArrayBuffer>;
type Entry = ConnectionEntry<{ close(): void }>;

const READ_BYTES = 16 * 1024;
/** Largest answer assembled with its head in the connection's reusable buffer. */
const SCRATCH_BYTES = 64 * 1024;
/** Bytes of a pipelined next request kept while an event stream is written. */
const MAX_BUFFERED = MAX_REQUEST_HEAD_BYTES + READ_BYTES;
const encoder = new TextEncoder();
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
const EMPTY = new Uint8Array(0);

/** Reason phrases of the statuses the gateway answers (others go out with an empty phrase). */
const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Headers the server frames itself: the handler's copies are dropped. */
const FRAMING = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

/** The refusal written for a request the parser refused, then the connection is closed. */
export function refusalBytes(error: HeadError): Bytes {
  const text = `${error.reason}\n`;
  return encoder.encode(
    `HTTP/1.1 ${error.status} ${REASONS[error.status]}\r\nconnection: close\r\n` +
      "content-type: text/plain; charset=utf-8\r\nx-content-type-options: nosniff\r\n" +
      `content-length: ${encoder.encode(text).length}\r\n\r\n${text}`,
  );
}

/** The per-connection state of the builtin server. */
class H1Connection {
  readonly conn: Deno.TcpConn;
  buffer: Bytes = new Uint8Array(READ_BYTES);
  /** Bytes `[0, end)` of `buffer` are received and not yet consumed. */
  end = 0;
  /** A read started while an answer streamed (it notices a client that leaves). */
  pending: Promise<number | null> | null = null;
  /** The read that watched a finished event stream, still to be awaited before the next head. */
  watching: Promise<void> | null = null;
  scratch: Bytes | null = null;
  closed = false;
  eof = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** Reads more bytes after `end` (growing the buffer up to `cap`); false at end of stream. */
  async fill(cap: number): Promise<boolean> {
    if (this.eof) return false;
    if (this.pending === null) {
      if (this.end === this.buffer.length) {
        if (this.buffer.length >= cap) throw new Error("buffer full");
        const grown = new Uint8Array(Math.min(cap, this.buffer.length * 2));
        grown.set(this.buffer);
        this.buffer = grown;
      }
      this.pending = this.conn.read(this.buffer.subarray(this.end));
    }
    const n = await this.pending;
    this.pending = null;
    if (n === null) {
      this.eof = true;
      return false;
    }
    this.end += n;
    return true;
  }

  /** Drops `[0, count)` of the received bytes (what a request consumed). */
  consume(count: number): void {
    if (count < this.end) this.buffer.copyWithin(0, count, this.end);
    this.end -= count;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }
}

/** Serves one accepted connection until it closes; returns once it is closed and forgotten. */
export async function serveH1(context: H1Context, conn: Deno.TcpConn): Promise<void> {
  const { table } = context;
  const connection = new H1Connection(conn);
  const entry = table.open(connection);
  if (entry === undefined) return connection.close();
  try {
    conn.setNoDelay(true); // SSE events and small answers go out at once, never held by Nagle
    while (await serveOne(context, connection, entry));
  } catch {
    // The client went away, or the connection was closed under a read or write (deadline).
  } finally {
    connection.close();
    context.close(entry);
  }
}

/** Reads, answers and writes one request; false when the connection must close. */
async function serveOne(context: H1Context, c: H1Connection, entry: Entry): Promise<boolean> {
  const { table } = context;
  if (c.watching !== null) {
    await c.watching;
    c.watching = null;
  }
  const scan = newHeadScan();
  let parsed = parseRequestHead(c.buffer, c.end, scan);
  while (parsed.kind === "incomplete") {
    if (!await c.fill(MAX_REQUEST_HEAD_BYTES + READ_BYTES)) return false;
    parsed = parseRequestHead(c.buffer, c.end, scan);
  }
  if (parsed.kind === "error") {
    await refuse(c, entry, table, parsed.error);
    return false;
  }
  const { head, size } = parsed;
  const framing = head.framing;
  const takesBody = head.method !== "GET" && head.method !== "HEAD";
  let keepAlive = head.keepAlive;
  let body: Bytes | ReadableStream<Bytes> | null = null;
  let bodyRead = true;
  const hasBody = framing.kind !== "none" && takesBody;
  table.requestStarted(entry, hasBody);
  if (framing.kind === "length") {
    const received = c.end - size;
    if (framing.length > context.maxBodyBytes) {
      // Not read: the handler sees the declared length and answers 413; then the socket closes.
      c.consume(Math.min(c.end, size));
      keepAlive = false;
      bodyRead = false;
      table.bodyDone(entry);
    } else if (received >= framing.length) {
      if (takesBody) body = c.buffer.slice(size, size + framing.length);
      c.consume(size + framing.length);
      table.bodyDone(entry);
    } else if (!takesBody) {
      c.consume(c.end);
      keepAlive = false; // a GET with a body still on its way: answered, then closed
    } else {
      if (head.expectContinue) await c.write(CONTINUE);
      const stream = lengthBody(c, size, framing.length, () => bodyRead = true);
      bodyRead = false;
      body = stream;
    }
  } else if (framing.kind === "chunked") {
    const decoder = createChunkedBodyDecoder(context.maxBodyBytes);
    const pieces: Bytes[] = [];
    let used = -1;
    try {
      used = decoder.push(c.buffer, size, c.end, pieces);
    } catch (error) {
      if (!(error instanceof ChunkedError && error.status === 413)) {
        await refuse(c, entry, table, chunkedRefusal(error));
        return false;
      }
    }
    if (used < 0) {
      // Past the limit: the handler's reader answers 413 (its own shape); then the socket closes.
      if (takesBody) body = tooLargeBody();
      keepAlive = false;
      bodyRead = false;
      table.bodyDone(entry);
    } else if (decoder.done) {
      if (takesBody) body = joinCopy(pieces, decoder.size);
      c.consume(used);
      table.bodyDone(entry);
    } else if (!takesBody) {
      c.consume(c.end);
      keepAlive = false;
    } else {
      if (head.expectContinue) await c.write(CONTINUE);
      const first = joinCopy(pieces, -1);
      c.consume(c.end);
      bodyRead = false;
      body = chunkedBody(c, decoder, first, () => bodyRead = true);
    }
  } else c.consume(size);

  const init = { method: head.method, headers: head.headers, body };
  let request: Request;
  try {
    request = new Request(`http://${head.host ?? context.localAuthority}${head.target}`, init);
  } catch {
    try {
      // A Host the URL parser refuses (e.g. `%`): the URL takes the listener's address and the
      // header goes as sent to the door guards, which refuse it in their own answer shape.
      if (head.host === undefined) throw new Error("invalid request");
      request = new Request(`http://${context.localAuthority}${head.target}`, init);
    } catch {
      await refuse(c, entry, table, { status: 400, reason: "invalid request" });
      return false;
    }
  }
  if (body instanceof ReadableStream) watchBody(request, bodyWatch(entry, table));
  let response: Response;
  try {
    response = await context.handler(request);
  } catch (error) {
    context.log.error(`Handler failed: ${(error as Error).message}`);
    response = new Response("Internal Server Error", { status: 500 });
  }
  if (!bodyRead) keepAlive = false; // the rest of an unread body would be taken for a request
  const stream = isEventStream(response);
  table.responseStarted(entry, stream && head.method === "GET");
  if (stream && head.method !== "HEAD" && response.body !== null) {
    if (head.minor === 0) keepAlive = false; // its end is the end of the connection
    await writeStream(c, entry, table, { head, response, keepAlive, watch: bodyRead });
  } else {
    await writeFixed(c, entry, table, { head, response, keepAlive });
  }
  return table.responseDone(entry) && keepAlive && !c.closed;
}

function bodyWatch(entry: Entry, table: ConnectionTable<{ close(): void }>): BodyWatch {
  return {
    wait: (onTimeout) => void (entry.onBodyTimeout = onTimeout),
    done: () => table.bodyDone(entry),
  };
}

function chunkedRefusal(error: unknown): HeadError {
  if (error instanceof ChunkedError) return { status: error.status, reason: error.message };
  return { status: 400, reason: "malformed chunked body" };
}

async function refuse(
  c: H1Connection,
  entry: Entry,
  table: ConnectionTable<{ close(): void }>,
  error: HeadError,
): Promise<void> {
  table.requestStarted(entry, false);
  table.responseStarted(entry, false);
  table.writeStarted(entry);
  await c.write(refusalBytes(error)).catch(() => {});
  table.writeDone(entry);
}

/** A body of `length` bytes of which `[size, end)` of the buffer already arrived. */
function lengthBody(
  c: H1Connection,
  size: number,
  length: number,
  onEnd: () => void,
): ReadableStream<Bytes> {
  let first: Bytes | null = c.buffer.slice(size, c.end);
  let remaining = length - first.length;
  c.consume(c.end);
  return new ReadableStream<Bytes>({
    async pull(controller) {
      if (first !== null) {
        const piece = first;
        first = null;
        if (piece.length > 0) return controller.enqueue(piece);
      }
      if (!await c.fill(READ_BYTES)) throw new Error("connection closed mid-body");
      const take = Math.min(remaining, c.end);
      controller.enqueue(c.buffer.slice(0, take));
      c.consume(take);
      remaining -= take;
      if (remaining === 0) {
        onEnd();
        controller.close();
      }
    },
  }, { highWaterMark: 0 });
}

/** A chunked body still arriving; `first` is what was decoded from the buffer already. */
function chunkedBody(
  c: H1Connection,
  decoder: ReturnType<typeof createChunkedBodyDecoder>,
  first: Bytes,
  onEnd: () => void,
): ReadableStream<Bytes> {
  let initial: Bytes | null = first;
  return new ReadableStream<Bytes>({
    async pull(controller) {
      if (initial !== null) {
        const piece = initial;
        initial = null;
        if (piece.length > 0) return controller.enqueue(piece);
      }
      for (;;) {
        if (!await c.fill(READ_BYTES)) throw new Error("connection closed mid-body");
        const pieces: Bytes[] = [];
        let used: number;
        try {
          used = decoder.push(c.buffer, 0, c.end, pieces);
        } catch (error) {
          if (error instanceof ChunkedError && error.status === 413) {
            throw new BodyTooLargeError(error.message);
          }
          throw error;
        }
        const data = joinCopy(pieces, -1);
        c.consume(used);
        if (data.length > 0) controller.enqueue(data);
        if (decoder.done) {
          onEnd();
          return controller.close();
        }
        if (data.length > 0) return;
      }
    },
  }, { highWaterMark: 0 });
}

/** The body of a chunked request past the limit: its reader fails with `BodyTooLargeError`. */
function tooLargeBody(): ReadableStream<Bytes> {
  return new ReadableStream<Bytes>({
    pull: () => {
      throw new BodyTooLargeError("chunked body too large");
    },
  });
}

/** The pieces (views into a reused buffer) copied into one array; `length` -1 to compute it. */
function joinCopy(pieces: readonly Bytes[], length: number): Bytes {
  const total = length >= 0 ? length : pieces.reduce((sum, piece) => sum + piece.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

function isEventStream(response: Response): boolean {
  return response.headers.get("content-type")?.startsWith("text/event-stream") === true;
}

interface Answer {
  readonly head: RequestHead;
  readonly response: Response;
  readonly keepAlive: boolean;
  /** Read the socket while streaming, to notice a client that leaves (the body is all read). */
  readonly watch?: boolean;
}

/** The status line and the handler's headers (framing ones dropped), without the blank line. */
function headText(answer: Answer): string {
  const { response, head, keepAlive } = answer;
  const status = response.status;
  let text = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
  for (const [name, value] of response.headers) {
    if (!FRAMING.has(name)) text += `${name}: ${value}\r\n`;
  }
  if (!keepAlive) text += "connection: close\r\n";
  else if (head.minor === 0) text += "connection: keep-alive\r\n";
  return text;
}

/** Encodes `text` (Latin-1: header values are byte strings) into `out` at `at`. */
function encodeHead(text: string, out: Uint8Array, at: number): number {
  const written = encoder.encodeInto(text, out.subarray(at)).written;
  if (written === text.length) return at + written;
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i) & 0xff;
  return at + text.length;
}

/** A fixed answer: head and body in one write (in the connection's buffer when small). */
async function writeFixed(
  c: H1Connection,
  entry: Entry,
  table: ConnectionTable<{ close(): void }>,
  answer: Answer,
): Promise<void> {
  const { response, head } = answer;
  const status = response.status;
  const bodiless = status === 204 || status === 304 || status < 200;
  const body = bodiless ? EMPTY : await response.bytes();
  const text = headText(answer) + (bodiless ? "\r\n" : `content-length: ${body.length}\r\n\r\n`);
  const sent = head.method === "HEAD" ? EMPTY : body;
  const size = text.length + sent.length;
  let out: Uint8Array;
  if (size <= SCRATCH_BYTES) out = c.scratch ??= new Uint8Array(SCRATCH_BYTES);
  else out = new Uint8Array(size);
  const at = encodeHead(text, out, 0);
  out.set(sent, at);
  table.writeStarted(entry);
  await c.write(out.subarray(0, at + sent.length));
  table.writeDone(entry);
}

/** An event stream: chunked (or until close for HTTP/1.0), one write per event, cancelled
 * when the client leaves or stops reading. */
async function writeStream(
  c: H1Connection,
  entry: Entry,
  table: ConnectionTable<{ close(): void }>,
  answer: Answer,
): Promise<void> {
  const chunked = answer.head.minor === 1;
  const reader = (answer.response.body as ReadableStream<Uint8Array>).getReader();
  let gone = false;
  let finished = false;
  const leave = () => {
    gone = true;
    reader.cancel().catch(() => {});
  };
  // A read while streaming notices a client that leaves (and keeps what it pipelines, bounded);
  // the next request waits for it, so two reads never run at once.
  const watch = async () => {
    try {
      while (!finished && c.end < MAX_BUFFERED) {
        if (!await c.fill(MAX_BUFFERED)) return leave();
      }
    } catch {
      leave();
    }
  };
  const text = headText(answer) + (chunked ? "transfer-encoding: chunked\r\n\r\n" : "\r\n");
  try {
    table.writeStarted(entry);
    await c.write(latin1Bytes(text));
    table.writeDone(entry);
    if (answer.watch === true) c.watching = watch();
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      if (value.length === 0) continue;
      table.writeStarted(entry);
      await c.write(chunked ? chunk(value) : value);
      table.writeDone(entry);
    }
    if (gone) throw new Error("client gone");
    if (chunked) {
      table.writeStarted(entry);
      await c.write(LAST_CHUNK);
      table.writeDone(entry);
    }
  } catch (error) {
    leave();
    throw error;
  } finally {
    finished = true;
  }
}

function latin1Bytes(text: string): Bytes {
  const out = new Uint8Array(text.length);
  encodeHead(text, out, 0);
  return out;
}

function chunk(data: Uint8Array): Bytes {
  const size = `${data.length.toString(16)}\r\n`;
  const out = new Uint8Array(size.length + data.length + 2);
  encoder.encodeInto(size, out);
  out.set(data, size.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}
