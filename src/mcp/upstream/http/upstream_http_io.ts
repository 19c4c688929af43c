/** HTTP plumbing for the Streamable HTTP upstream client: headers, bounded bodies, SSE reading. */
import { concatBytes, decodeUtf8Strict } from "../../../bytes.ts";
import { headerBlock, type Http1Client, type Http1Init } from "./http1_client.ts";
import { createSseParser } from "./sse.ts";
import { UpstreamError } from "../upstream.ts";
import type { UpstreamCredentials } from "./upstream_token.ts";

/** Where an upstream lives and how much it may send per message. */
export interface HttpTarget {
  /** The upstream's name in `upstreams:` (used in messages). */
  readonly name: string;
  /** The MCP endpoint (never put in messages: it may carry credentials). */
  readonly url: string;
  /** Configured headers (credentials: never logged, never in messages). */
  readonly headers: Readonly<Record<string, string>>;
  /** Largest accepted message or JSON body, in bytes. */
  readonly maxMessageBytes: number;
  /** The pooled HTTP/1.1 client for plain `http:` upstreams; `fetch` when absent. */
  readonly http1?: Http1Client;
  /** The gateway's own OAuth token for this upstream (§14), sent as `Authorization`. */
  readonly credentials?: UpstreamCredentials;
}

/** What the upstream code reads of an HTTP answer: a `Response`, or the HTTP/1.1 client's. */
export interface UpstreamResponse {
  /** The status code. */
  readonly status: number;
  /** True for 2xx. */
  readonly ok: boolean;
  /** Header lookup. */
  readonly headers: { get(name: string): string | null };
  /** The body, if any. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body. */
  bytes(): Promise<Uint8Array>;
}

/** One request `send` makes: the HTTP/1.1 client's request shape, which `fetch` also takes. */
export type SendInit = Http1Init;

/** The upstream session a message belongs to. */
export interface SessionRef {
  /** The upstream's `Mcp-Session-Id`, when it issued one. */
  readonly id?: string;
  /** The negotiated protocol version (sent as `MCP-Protocol-Version`). */
  readonly protocolVersion?: string;
}

/** Builds request headers: the configured ones, then the protocol's own (which win). */
export function buildHeaders(
  target: HttpTarget,
  session: SessionRef | undefined,
  extra: Record<string, string>,
): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(target.headers)) headers.set(name, value);
  if (session?.id !== undefined) headers.set("Mcp-Session-Id", session.id);
  else headers.delete("Mcp-Session-Id");
  if (session?.protocolVersion !== undefined) {
    headers.set("MCP-Protocol-Version", session.protocolVersion);
  }
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return headers;
}

/** POSTs one JSON-RPC message; network failures become `UpstreamError("unavailable")`. */
export async function postMessage(
  target: HttpTarget,
  session: SessionRef | undefined,
  message: unknown,
  signal: AbortSignal,
): Promise<UpstreamResponse> {
  const { headers, block } = postHeaders(target, session);
  return await send(target, {
    method: "POST",
    headers,
    headerBlock: block,
    body: JSON.stringify(message),
    signal,
  });
}

const POST_HEADERS = {
  "Accept": "application/json, text/event-stream",
  "Content-Type": "application/json",
};
/** A session's POST headers never change: built (and encoded) once per session. */
const postHeadersCache = new WeakMap<SessionRef, { headers: Headers; block: string }>();

function postHeaders(
  target: HttpTarget,
  session: SessionRef | undefined,
): { headers: Headers; block: string } {
  const cached = session === undefined ? undefined : postHeadersCache.get(session);
  if (cached !== undefined) return cached;
  const headers = buildHeaders(target, session, POST_HEADERS);
  const built = { headers, block: headerBlock(headers) };
  if (session !== undefined) postHeadersCache.set(session, built);
  return built;
}

/** Sends a request to the endpoint; network failures become `UpstreamError("unavailable")`. */
export async function send(target: HttpTarget, init: SendInit): Promise<UpstreamResponse> {
  if (target.credentials !== undefined) {
    return await sendWithToken(target, target.credentials, init);
  }
  try {
    if (target.http1 !== undefined) return await target.http1.fetch(target.url, init);
    const { method, headers, body, signal } = init;
    return await fetch(target.url, { method, headers, body, signal, redirect: "manual" });
  } catch (error) {
    if (init.signal.aborted) throw error;
    throw connectionError(target.name, error);
  }
}

/** `send` with the gateway's own token for the upstream; a 401 drops the token so that the next
 * request gets a fresh one. */
async function sendWithToken(
  target: HttpTarget,
  credentials: UpstreamCredentials,
  init: SendInit,
): Promise<UpstreamResponse> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", await credentials.authorization());
  const response = await send({ ...target, credentials: undefined }, {
    method: init.method,
    headers,
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: init.signal,
  });
  if (response.status === 401) credentials.invalidate();
  return response;
}

/** An `unavailable` error for a network failure, without the URL or any header. */
export function connectionError(name: string, error: unknown): UpstreamError {
  const text = error instanceof Error ? error.message.toLowerCase() : "";
  const why = text.includes("refused")
    ? "connection refused"
    : text.includes("reset")
    ? "connection reset"
    : text.includes("dns") || text.includes("lookup")
    ? "name resolution failed"
    : "connection failed";
  return new UpstreamError("unavailable", `Cannot reach upstream "${name}": ${why}`);
}

/** Runs `task` with a signal that aborts after `ms` (the timer is always cleared). */
export async function withDeadline<T>(
  ms: number,
  task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await task(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** Drops a response body so its connection can be reused. */
export async function discard(response: UpstreamResponse): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // already closed or errored
  }
}

/** The media type of a response, lower-cased, without parameters. */
export function mediaType(response: UpstreamResponse): string {
  return (response.headers.get("content-type") ?? "").split(";", 1)[0].trim().toLowerCase();
}

/** Reads and parses a JSON body of at most `maxMessageBytes`; else `UpstreamError("protocol")`. */
export async function readJsonLimited(
  target: HttpTarget,
  response: UpstreamResponse,
): Promise<unknown> {
  const tooLarge = () =>
    new UpstreamError(
      "protocol",
      `Upstream "${target.name}" sent a message larger than ${target.maxMessageBytes} bytes`,
    );
  const length = response.headers.get("content-length") ?? "";
  if (Number(length || "0") > target.maxMessageBytes) {
    await discard(response);
    throw tooLarge();
  }
  // A declared length within the limit bounds the body (both clients enforce the framing).
  if (DIGITS.test(length)) {
    const whole = await response.bytes().catch((error) => {
      throw connectionError(target.name, error);
    });
    if (whole.length > target.maxMessageBytes) throw tooLarge();
    return parseJsonBytes(target, whole);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body !== null) {
    const reader = response.body.getReader();
    while (true) {
      const { done, value } = await reader.read().catch((error) => {
        throw connectionError(target.name, error);
      });
      if (done) break;
      total += value.length;
      if (total > target.maxMessageBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  return parseJsonBytes(target, concatBytes(chunks, total));
}

const DIGITS = /^[0-9]{1,15}$/;

function parseJsonBytes(target: HttpTarget, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decodeUtf8Strict(bytes));
  } catch {
    throw new UpstreamError("protocol", `Upstream "${target.name}" sent a body that is not JSON`);
  }
}

/** How an SSE body ended. */
export interface SseOutcome {
  /** True when `onMessage` asked to stop (the awaited answer arrived). */
  readonly stopped: boolean;
  /** True when the connection failed mid-stream (as opposed to a clean end). */
  readonly broken: boolean;
  /** The last event id seen on this body, "" if none. */
  readonly lastEventId: string;
  /** The server's `retry:` value, if it sent one. */
  readonly retryMs?: number;
}

/** True for an SSE event id the gateway may send back as `Last-Event-ID`: 1 to 1,024 visible
 * ASCII characters or spaces (an upstream's id is hostile bytes headed for a header). */
export function isSafeEventId(id: string): boolean {
  return SAFE_EVENT_ID.test(id);
}

const SAFE_EVENT_ID = /^[\x20-\x7e]{1,1024}$/;

/**
 * Reads an SSE body, handing each event's parsed JSON to `onMessage` with the id the event
 * itself set (undefined when it set none; events with empty data are skipped); stops early
 * when `onMessage` returns true. Non-JSON data or an event larger
 * than `maxMessageBytes` throws `UpstreamError("protocol")` (the body is cancelled first).
 */
export async function readSseMessages(
  target: HttpTarget,
  body: ReadableStream<Uint8Array>,
  onMessage: (value: unknown, eventId: string | undefined) => boolean,
): Promise<SseOutcome> {
  const parser = createSseParser({ maxEventBytes: target.maxMessageBytes });
  const reader = body.getReader();
  const outcome = (stopped: boolean, broken: boolean): SseOutcome => ({
    stopped,
    broken,
    lastEventId: parser.lastEventId(),
    retryMs: parser.retryMs(),
  });
  try {
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        return outcome(false, true);
      }
      if (chunk.done) return outcome(false, false);
      let events;
      try {
        events = parser.push(chunk.value);
      } catch {
        throw new UpstreamError(
          "protocol",
          `Upstream "${target.name}" sent a message larger than ${target.maxMessageBytes} bytes`,
        );
      }
      for (const event of events) {
        if (event.event !== "message" || event.data === "") continue;
        let value: unknown;
        try {
          value = JSON.parse(event.data);
        } catch {
          throw new UpstreamError(
            "protocol",
            `Upstream "${target.name}" sent an event that is not JSON`,
          );
        }
        const ownId = event.ownId && event.id !== "" ? event.id : undefined;
        if (onMessage(value, ownId)) return outcome(true, false);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
