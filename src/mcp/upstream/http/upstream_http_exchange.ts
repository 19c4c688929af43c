/** One JSON-RPC request over Streamable HTTP: POST, then a JSON or SSE answer (resumed by GET). */
import {
  classifyMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../jsonrpc.ts";
import { UpstreamError, type UpstreamInfo } from "../upstream.ts";
import {
  type ClientInfo,
  delay,
  initializeParams,
  parseInitializeResult,
  resultOf,
} from "../upstream_common.ts";
import {
  buildHeaders,
  discard,
  type HttpTarget,
  isSafeEventId,
  mediaType,
  postMessage,
  readJsonLimited,
  readSseMessages,
  send,
  type SessionRef,
  type UpstreamResponse,
  withDeadline,
} from "./upstream_http_io.ts";

/** Reconnections allowed to resume one request's SSE stream. */
const MAX_RESUMES = 10;
/** Wait before resuming when the server sent no `retry:`. */
const DEFAULT_RESUME_MS = 500;
/** Longest `retry:` honoured. */
const MAX_RESUME_MS = 30_000;
/** Event ids remembered per request to drop events an upstream replays twice. */
const MAX_SEEN_IDS = 4096;

/** Callbacks of one exchange. */
export interface ExchangeHandlers {
  /** Notifications about the request (progress, logging). */
  readonly onNotification: (notification: JsonRpcNotification) => void;
  /** Server→client requests seen while waiting (answered by the caller, not awaited here). */
  readonly onServerRequest: (request: JsonRpcRequest) => void;
  /** The upstream closed the request's stream before answering and is resumed after
   * `retryMs` (the 2025-11-25 SSE polling pattern). */
  readonly onPause?: (retryMs: number) => void;
}

/** What an exchange produced. */
export type ExchangeResult =
  | {
    readonly kind: "response";
    readonly message: JsonRpcResponse;
    /** The `Mcp-Session-Id` the answer carried, if any. */
    readonly sessionId: string | undefined;
  }
  /** The upstream answered 404 to a request that carried a session id. */
  | { readonly kind: "session_gone" };

/** Sends `request` in `session` and waits for its response; aborting `signal` stops waiting. */
export async function exchange(
  target: HttpTarget,
  session: SessionRef | undefined,
  request: JsonRpcRequest,
  options: { signal: AbortSignal; handlers: ExchangeHandlers },
): Promise<ExchangeResult> {
  const response = await postMessage(target, session, request, options.signal);
  if (response.status === 404 && session?.id !== undefined) {
    await discard(response);
    return { kind: "session_gone" };
  }
  let sessionId: string | undefined;
  try {
    sessionId = readSessionId(target, response);
  } catch (error) {
    await discard(response);
    throw error;
  }
  if (!response.ok || response.status === 202) {
    await discard(response);
    throw new UpstreamError(
      "protocol",
      `Upstream "${target.name}" answered HTTP ${response.status} to ${request.method}`,
    );
  }
  const type = mediaType(response);
  if (type === "application/json") {
    const message = matchResponse(target, request, await readJsonLimited(target, response));
    if (message === undefined) {
      throw new UpstreamError(
        "protocol",
        `Upstream "${target.name}" answered ${request.method} with something other than its response`,
      );
    }
    return { kind: "response", message, sessionId };
  }
  if (type !== "text/event-stream" || response.body === null) {
    await discard(response);
    throw new UpstreamError(
      "protocol",
      `Upstream "${target.name}" answered ${request.method} with an unexpected content type`,
    );
  }
  const message = await followStream(target, session, request, response.body, options);
  return { kind: "response", message, sessionId };
}

async function followStream(
  target: HttpTarget,
  session: SessionRef | undefined,
  request: JsonRpcRequest,
  first: ReadableStream<Uint8Array>,
  options: { signal: AbortSignal; handlers: ExchangeHandlers },
): Promise<JsonRpcResponse> {
  let found: JsonRpcResponse | undefined;
  // Ids of the events already handled: an upstream that replays too much after a resume does
  // not deliver a notification (or a request) twice.
  const seen = new Set<string>();
  const onMessage = (value: unknown, eventId: string | undefined): boolean => {
    if (eventId !== undefined) {
      if (seen.has(eventId)) return false;
      seen.add(eventId);
      if (seen.size > MAX_SEEN_IDS) seen.delete(seen.values().next().value!);
    }
    const classified = classifyMessage(value);
    switch (classified.kind) {
      case "notification":
        options.handlers.onNotification(classified.message);
        return false;
      case "request":
        options.handlers.onServerRequest(classified.message);
        return false;
      case "response":
        found = matchResponse(target, request, classified.message);
        return found !== undefined;
      default:
        throw new UpstreamError("protocol", `Upstream "${target.name}" sent an invalid message`);
    }
  };
  let body = first;
  let lastEventId = "";
  for (let attempt = 0;; attempt++) {
    const outcome = await readSseMessages(target, body, onMessage);
    if (found !== undefined) return found;
    if (options.signal.aborted) throw options.signal.reason;
    if (outcome.lastEventId !== "") lastEventId = outcome.lastEventId;
    if (lastEventId === "" || attempt >= MAX_RESUMES) {
      throw new UpstreamError(
        outcome.broken ? "unavailable" : "protocol",
        `Upstream "${target.name}" ${
          outcome.broken ? "dropped the connection" : "ended its stream"
        } before answering ${request.method}`,
      );
    }
    // The id goes back in a header: only a sane one (the upstream's bytes are hostile).
    if (!isSafeEventId(lastEventId)) {
      throw new UpstreamError(
        "protocol",
        `Upstream "${target.name}" sent an invalid event id before answering ${request.method}`,
      );
    }
    const waitMs = Math.min(outcome.retryMs ?? DEFAULT_RESUME_MS, MAX_RESUME_MS);
    if (!outcome.broken) options.handlers.onPause?.(waitMs);
    await delay(waitMs, options.signal);
    if (options.signal.aborted) throw options.signal.reason;
    body = await resume(target, session, lastEventId, options.signal);
  }
}

async function resume(
  target: HttpTarget,
  session: SessionRef | undefined,
  lastEventId: string,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const headers = buildHeaders(target, session, {
    "Accept": "text/event-stream",
    "Last-Event-ID": lastEventId,
  });
  const response = await send(target, { method: "GET", headers, signal });
  if (!response.ok || mediaType(response) !== "text/event-stream" || response.body === null) {
    await discard(response);
    throw new UpstreamError(
      "unavailable",
      `Upstream "${target.name}" could not resume its stream (HTTP ${response.status})`,
    );
  }
  return response.body;
}

function matchResponse(
  target: HttpTarget,
  request: JsonRpcRequest,
  value: unknown,
): JsonRpcResponse | undefined {
  const classified = classifyMessage(value);
  if (classified.kind !== "response") {
    if (classified.kind === "invalid") {
      throw new UpstreamError("protocol", `Upstream "${target.name}" sent an invalid message`);
    }
    return undefined;
  }
  const message = classified.message;
  if (message.id === request.id) return message;
  if (message.id === null && "error" in message) return message;
  return undefined;
}

/** The `Mcp-Session-Id` of a response, checked to be visible ASCII of sane length. */
export function readSessionId(target: HttpTarget, response: UpstreamResponse): string | undefined {
  const value = response.headers.get("mcp-session-id");
  if (value === null) return undefined;
  if (!/^[\x21-\x7e]{1,1024}$/.test(value)) {
    throw new UpstreamError("protocol", `Upstream "${target.name}" sent an invalid session id`);
  }
  return value;
}

/** Opens a new upstream session: `initialize` (no session id), then `notifications/initialized`. */
export async function initializeSession(
  target: HttpTarget,
  options: {
    readonly id: number;
    readonly clientInfo: ClientInfo;
    /** What the upstream session declares: the capabilities of the client it serves. */
    readonly capabilities?: Readonly<Record<string, unknown>>;
    readonly signal: AbortSignal;
    readonly onNotification: (notification: JsonRpcNotification) => void;
  },
): Promise<{ ref: SessionRef; info: UpstreamInfo }> {
  const request: JsonRpcRequest = {
    jsonrpc: "2.0",
    id: options.id,
    method: "initialize",
    params: initializeParams(options.clientInfo, options.capabilities),
  };
  const answer = await exchange(target, undefined, request, {
    signal: options.signal,
    handlers: { onNotification: options.onNotification, onServerRequest: () => {} },
  });
  if (answer.kind !== "response") {
    throw new UpstreamError("protocol", `Upstream "${target.name}" answered 404 to initialize`);
  }
  const info = parseInitializeResult(target.name, resultOf(answer.message));
  const ref: SessionRef = { id: answer.sessionId, protocolVersion: info.protocolVersion };
  const initialized = { jsonrpc: "2.0", method: "notifications/initialized" };
  const response = await postMessage(target, ref, initialized, options.signal);
  await discard(response);
  if (!response.ok) {
    throw new UpstreamError(
      "protocol",
      `Upstream "${target.name}" refused notifications/initialized (HTTP ${response.status})`,
    );
  }
  return { ref, info };
}

/** POSTs a notification within `ms`; resolves with the HTTP status (the body is dropped). */
export async function postNotification(
  target: HttpTarget,
  session: SessionRef,
  notification: JsonRpcNotification,
  ms: number,
): Promise<number> {
  let expired = false;
  try {
    const response = await withDeadline(ms, (signal) => {
      signal.addEventListener("abort", () => expired = true);
      return postMessage(target, session, notification, signal);
    });
    await discard(response);
    return response.status;
  } catch (error) {
    if (!expired) throw error;
    throw new UpstreamError(
      "timeout",
      `Upstream "${target.name}" did not accept ${notification.method} in time`,
    );
  }
}
