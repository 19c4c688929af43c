/** Answers of the builtin server: status line and headers, fixed bodies, event streams. */
import type { ConnectionEntry, ConnectionTable } from "../connection_limits.ts";
import { type Bytes, type H1Connection, READ_BYTES } from "./connection.ts";
import { type HeadError, MAX_REQUEST_HEAD_BYTES, type RequestHead } from "./parse.ts";
import { SecuredResponse } from "../fast_path.ts";

type Entry = ConnectionEntry<{ close(): void }>;
type Table = ConnectionTable<{ close(): void }>;

/** Largest answer assembled with its head in the connection's reusable buffer (kept small: one
 * per connection); a larger one gets a buffer of its own. */
const SCRATCH_BYTES = 8 * 1024;
/** Bytes of a pipelined next request kept while an event stream is written. */
const MAX_BUFFERED = MAX_REQUEST_HEAD_BYTES + READ_BYTES;
const encoder = new TextEncoder();
/** The interim answer to `Expect: 100-continue`. */
export const CONTINUE: Bytes = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
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

/** True for an answer of type `text/event-stream`. */
export function isEventStream(response: Response): boolean {
  const list = listOf(response);
  const type = list === undefined
    ? response.headers.get("content-type")
    : list.find((field) => field[0] === "content-type")?.[1];
  return type?.startsWith("text/event-stream") === true;
}

/** The header list of a `SecuredResponse` whose `headers` nobody read (see there). */
function listOf(response: Response): readonly (readonly [string, string])[] | undefined {
  return response instanceof SecuredResponse ? response.headerList : undefined;
}

/** An answer to write. */
export interface Answer {
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
  const list = listOf(response);
  if (list !== undefined) {
    for (let i = 0; i < list.length; i++) {
      const [name, value] = list[i];
      if (!FRAMING.has(name)) text += `${name}: ${value}\r\n`;
    }
  } else {
    for (const [name, value] of response.headers) {
      if (!FRAMING.has(name)) text += `${name}: ${value}\r\n`;
    }
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

/** Writes a fixed answer: head and body in one write (in the connection's buffer when small). */
export async function writeFixed(
  c: H1Connection,
  entry: Entry,
  table: Table,
  answer: Answer,
): Promise<void> {
  const { response, head } = answer;
  const status = response.status;
  let text = headText(answer);
  let sent: Uint8Array = EMPTY;
  if (head.method === "HEAD") {
    // No body is read (it may be an endless event stream): dropped, its declared length kept.
    response.body?.cancel().catch(() => {});
    const declared = response.headers.get("content-length");
    text += declared !== null && /^[0-9]{1,15}$/.test(declared)
      ? `content-length: ${declared}\r\n\r\n`
      : "\r\n";
  } else if (status === 204 || status === 304 || status < 200) text += "\r\n";
  else {
    const body = response instanceof SecuredResponse ? response.bodyText : undefined;
    sent = body === undefined ? await response.bytes() : encoder.encode(body);
    text += `content-length: ${sent.length}\r\n\r\n`;
  }
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
export async function writeStream(
  c: H1Connection,
  entry: Entry,
  table: Table,
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
