/**
 * The gateway's own HTTP/1.1 server on accepted `Deno.TcpConn`s (effects; `HTTP_SERVER=builtin`),
 * under the listener's connection table (§12 "Connections"). It exists for the tail latency of
 * issue 15: the legacy `Deno.serveHttp` leaves ~1–3 KB of per-request objects (a body stream per
 * request, its controllers and promises) that survive young-generation GCs; here a body that
 * arrived with its head is handed over as bytes, and a fixed answer goes out in one write.
 * Framing is strict (./parse.ts): anything ambiguous gets 4xx/5xx and the connection is closed.
 */
import type { Logger } from "../../log.ts";
import { type BodyWatch, watchBody } from "../body_deadline.ts";
import { type ConnectionEntry, type ConnectionTable, Phase } from "../connection_limits.ts";
import { CONTINUE, isEventStream, refusalBytes, writeFixed, writeStream } from "./answer.ts";
import { chunkedBody, joinCopy, lengthBody, tooLargeBody } from "./body.ts";
import { type Bytes, H1Connection, READ_BYTES } from "./connection.ts";
import {
  ChunkedError,
  createChunkedBodyDecoder,
  type HeadError,
  MAX_REQUEST_HEAD_BYTES,
  newHeadScan,
  parseRequestHead,
  type RequestHead,
} from "./parse.ts";
import { H1Headers, H1Request, httpOrigin } from "./request.ts";

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

type Entry = ConnectionEntry<{ close(): void }>;

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

  let request: Request;
  const light = lightRequest(context, c, head, body);
  if (light !== undefined) request = light as unknown as Request; // the hot handlers' part of it
  else {
    const made = fullRequest(context, head, body);
    if (made === undefined) {
      await refuse(c, entry, table, { status: 400, reason: "invalid request" });
      return false;
    }
    request = made;
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
  // Closing after this answer anyway (shutdown, 408): say so.
  if (table.draining || entry.phase === Phase.timedOut) keepAlive = false;
  if (stream && head.method !== "HEAD" && response.body !== null) {
    if (head.minor === 0) keepAlive = false; // its end is the end of the connection
    await writeStream(c, entry, table, { head, response, keepAlive, watch: bodyRead });
  } else {
    await writeFixed(c, entry, table, { head, response, keepAlive });
  }
  return table.responseDone(entry) && keepAlive && !c.closed;
}

/** The exact targets of the hot routes (src/http/fast_path.ts): a POST to one of them needs no
 * URL parsing beyond its origin, and gets an `H1Request` instead of a `Request`. */
const LIGHT_TARGETS = new Set(["/mcp", "/mcp/toolcall", "/mcp/toolresult"]);

function lightRequest(
  context: H1Context,
  c: H1Connection,
  head: RequestHead,
  body: Bytes | ReadableStream<Bytes> | null,
): H1Request | undefined {
  if (head.method !== "POST" || !LIGHT_TARGETS.has(head.target)) return undefined;
  const authority = head.host ?? context.localAuthority;
  if (c.authority !== authority) {
    const origin = httpOrigin(authority);
    if (origin === undefined) return undefined; // refused by the URL parser: `fullRequest` decides
    c.authority = authority;
    c.origin = origin;
  }
  return new H1Request(head.method, c.origin + head.target, new H1Headers(head.headers), body);
}

function fullRequest(
  context: H1Context,
  head: RequestHead,
  body: Bytes | ReadableStream<Bytes> | null,
): Request | undefined {
  const init = { method: head.method, headers: head.headers, body };
  try {
    return new Request(`http://${head.host ?? context.localAuthority}${head.target}`, init);
  } catch {
    // A Host the URL parser refuses (e.g. `%`): the URL takes the listener's address and the
    // header goes as sent to the door guards, which refuse it in their own answer shape.
    if (head.host === undefined) return undefined;
    try {
      return new Request(`http://${context.localAuthority}${head.target}`, init);
    } catch {
      return undefined;
    }
  }
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
