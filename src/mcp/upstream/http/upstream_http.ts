/** An `UpstreamClient` for a Streamable HTTP MCP server: one upstream session per gateway session. */
import type { Logger } from "../../../log.ts";
import { canUseHttp1, createHttp1Client } from "./http1_client.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../../jsonrpc.ts";
import {
  type UpstreamClient,
  UpstreamError,
  type UpstreamInfo,
  type UpstreamRequestOptions,
  type UpstreamStatus,
} from "../upstream.ts";
import {
  answerServerRequest,
  asUpstreamError,
  cancelledNotification,
  cancelReason,
  createBackground,
  createListenerSet,
  createRequestScope,
  deliver,
  isReservedNotification,
  raceAbort,
  resultOf,
  scopeError,
} from "../upstream_common.ts";
import { exchange, postNotification } from "./upstream_http_exchange.ts";
import { discard, type HttpTarget, postMessage, withDeadline } from "./upstream_http_io.ts";
import {
  BACKGROUND_TIMEOUT_MS,
  type HttpSessionOptions,
  HttpSessions,
  type RequestHandler,
  type Session,
} from "./upstream_http_sessions.ts";
import type { UpstreamCredentials } from "./upstream_token.ts";

/** Options of `createHttpUpstream`. */
export interface HttpUpstreamOptions extends HttpSessionOptions {
  /** The upstream's name in `upstreams:`. */
  readonly name: string;
  /** The MCP endpoint URL. */
  readonly url: string;
  /** Configured headers (credentials); the only headers sent besides the protocol's own. */
  readonly headers: Readonly<Record<string, string>>;
  /** The gateway's own OAuth token for this upstream (§14). */
  readonly credentials?: UpstreamCredentials;
  /** Largest accepted message, in bytes (default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** Operational log. */
  readonly log: Logger;
  /** False to send with `fetch` instead of the pooled HTTP/1.1 client (default true for plain
   * `http:` URLs without a proxy variable set). */
  readonly pooled?: boolean;
  /** Reconnection delays of the GET stream (default 500 ms doubling to 30 s). */
  readonly reconnectBackoffMs?: { readonly initial: number; readonly max: number };
}

/** An environment variable; one that cannot be read counts as set (so fetch, which reads proxy
 * variables itself, is used). */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return "unreadable";
  }
}

/** Where and how the client sends: its pooled HTTP/1.1 client when it can use one. */
function targetOf(options: HttpUpstreamOptions): HttpTarget {
  return {
    name: options.name,
    url: options.url,
    headers: { ...options.headers },
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
    ...(options.pooled !== false && canUseHttp1(options.url, readEnv)
      ? { http1: createHttp1Client(options.url) }
      : {}),
  };
}

/** Creates a client for the Streamable HTTP upstream at `options.url` (nothing is sent yet). */
export function createHttpUpstream(options: HttpUpstreamOptions): UpstreamClient {
  const { name, log } = options;
  const target = targetOf(options);
  const closed = new AbortController();
  const background = createBackground();
  const logError = (error: unknown) =>
    log.warn(
      `Upstream "${name}" listener failed: ${error instanceof Error ? error.name : "error"}`,
    );
  const listeners = createListenerSet(logError);
  let status: UpstreamStatus = "idle";
  let info: UpstreamInfo | undefined;
  let nextId = 1;

  /** Sends a message in the background within its own short deadline. */
  function sendInBackground(session: Session, message: unknown, what: string): void {
    background.track(
      withDeadline(BACKGROUND_TIMEOUT_MS, async (signal) => {
        await discard(await postMessage(target, session.ref, message, signal));
      }).catch(() => log.debug(`Upstream "${name}": could not send ${what}`)),
    );
  }

  function answerLater(session: Session, request: JsonRpcRequest, handler?: RequestHandler): void {
    background.track(
      answerServerRequest(request, handler).then((answer) =>
        sendInBackground(session, answer, `the answer to ${request.method}`)
      ),
    );
  }

  const sessions = new HttpSessions({
    target,
    closed: closed.signal,
    startTimeoutMs: options.startTimeoutMs,
    clientInfo: options.clientInfo,
    capabilitiesFor: options.capabilitiesFor,
    onServerRequest: options.onServerRequest,
    backoffMs: options.reconnectBackoffMs ?? { initial: 500, max: 30_000 },
    nextId: () => nextId++,
    status: {
      get: () => status,
      set: (next) => {
        status = next;
      },
    },
    onInfo: (opened) => {
      info = opened;
    },
    onNotification: (notification, key) => listeners.emit(notification, key),
    answerLater,
    track: (work) => background.track(work),
    log,
  });

  async function request(
    key: string,
    method: string,
    params: Record<string, unknown> | undefined,
    requestOptions: UpstreamRequestOptions,
  ): Promise<Record<string, unknown>> {
    const scope = createRequestScope({
      timeoutMs: requestOptions.timeoutMs,
      signal: requestOptions.signal,
      closed: closed.signal,
    });
    const ended = () => scopeError(name, scope.ended() ?? "aborted", requestOptions.timeoutMs);
    let sent: { session: Session; id: number } | undefined;
    let vetoed = false; // beforeSend refused: the caller's verdict, not an upstream failure
    try {
      // A session already open needs no wait (and no abort listener for one).
      const opened = scope.signal.aborted ? undefined : sessions.opened(key);
      let current = opened ?? await raceAbort(sessions.open(key), scope.signal, ended);
      for (let retried = false;;) {
        const id = nextId++;
        const message: JsonRpcRequest = { jsonrpc: "2.0", id, method };
        if (params !== undefined) message.params = params;
        const inSession = current;
        const check = requestOptions.beforeSend?.(inSession.generation);
        if (check !== undefined) {
          vetoed = true;
          await raceAbort(check, scope.signal, ended);
          vetoed = false;
        }
        sent = { session: inSession, id };
        const answer = await exchange(target, inSession.ref, message, {
          signal: scope.signal,
          handlers: {
            onNotification: (n) => deliver(requestOptions.onNotification, n, logError),
            onServerRequest: (r) => answerLater(inSession, r, requestOptions.onRequest),
            onPause: requestOptions.onPause,
          },
        });
        if (answer.kind === "response") {
          status = "up";
          return resultOf(answer.message);
        }
        sent = undefined;
        sessions.drop(inSession);
        if (retried) {
          throw new UpstreamError("protocol", `Upstream "${name}" lost the session again`);
        }
        retried = true;
        log.info(`Upstream "${name}" forgot a session; initializing again`);
        current = await raceAbort(sessions.open(key), scope.signal, ended);
      }
    } catch (error) {
      const why = scope.ended();
      if (why !== undefined) {
        if (sent !== undefined) {
          const notice = cancelledNotification(
            sent.id,
            cancelReason(why, requestOptions.timeoutMs),
          );
          sendInBackground(sent.session, notice, "notifications/cancelled");
        }
        throw scopeError(name, why, requestOptions.timeoutMs);
      }
      const failure = asUpstreamError(name, log, error);
      if (failure.failure === "unavailable" && !vetoed) status = "down";
      throw failure;
    } finally {
      scope.dispose();
    }
  }

  async function notify(
    key: string,
    method: string,
    params?: Record<string, unknown>,
  ): Promise<void> {
    const current = sessions.current(key);
    if (isReservedNotification(method) || current === undefined || closed.signal.aborted) return;
    const message: JsonRpcNotification = { jsonrpc: "2.0", method };
    if (params !== undefined) message.params = params;
    let code: number;
    try {
      code = await postNotification(target, current.ref, message, BACKGROUND_TIMEOUT_MS);
    } catch (error) {
      throw asUpstreamError(name, log, error);
    }
    if (code === 404) sessions.drop(current);
    else if (code < 200 || code > 299) {
      throw new UpstreamError("protocol", `Upstream "${name}" refused ${method} (HTTP ${code})`);
    }
  }

  return {
    name,
    status: () => status,
    request: (key, method, params, requestOptions) => {
      if (closed.signal.aborted) return Promise.reject(scopeError(name, "closed", 0));
      return request(key, method, params, requestOptions);
    },
    notify,
    info: () => info,
    generation: () => sessions.generation,
    onNotification: (listener) => listeners.add(listener),
    closeSession: (key) => sessions.close(key),
    async close() {
      closed.abort();
      await sessions.closeAll();
      await background.drain();
      await target.http1?.close();
    },
  };
}
