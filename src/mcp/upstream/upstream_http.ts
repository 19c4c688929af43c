/** An `UpstreamClient` for a Streamable HTTP MCP server: one upstream session per gateway session. */
import type { Logger } from "../../log.ts";
import { canUseHttp1, createHttp1Client } from "./http1_client.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../jsonrpc.ts";
import {
  type UpstreamClient,
  UpstreamError,
  type UpstreamInfo,
  type UpstreamRequestOptions,
  type UpstreamStatus,
} from "./upstream.ts";
import {
  answerServerRequest,
  asUpstreamError,
  cancelledNotification,
  cancelReason,
  type ClientInfo,
  createBackground,
  createListenerSet,
  createRequestScope,
  deliver,
  isReservedNotification,
  raceAbort,
  resultOf,
  scopeError,
} from "./upstream_common.ts";
import { exchange, initializeSession, postNotification } from "./upstream_http_exchange.ts";
import {
  buildHeaders,
  discard,
  type HttpTarget,
  postMessage,
  send,
  type SessionRef,
  withDeadline,
} from "./upstream_http_io.ts";
import { type Listening, startListening } from "./upstream_http_listen.ts";
import type { UpstreamCredentials } from "./upstream_token.ts";

/** Options of `createHttpUpstream`. */
export interface HttpUpstreamOptions {
  /** The upstream's name in `upstreams:`. */
  readonly name: string;
  /** The MCP endpoint URL. */
  readonly url: string;
  /** Configured headers (credentials); the only headers sent besides the protocol's own. */
  readonly headers: Readonly<Record<string, string>>;
  /** The gateway's own OAuth token for this upstream (§14). */
  readonly credentials?: UpstreamCredentials;
  /** Bound on one `initialize` + `notifications/initialized`. */
  readonly startTimeoutMs: number;
  /** Largest accepted message, in bytes (default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** Sent as `clientInfo` at `initialize`. */
  readonly clientInfo: ClientInfo;
  /** The client capabilities to declare for the upstream session of a gateway session key. */
  readonly capabilitiesFor?: (key: string) => Readonly<Record<string, unknown>>;
  /** Answers a request the upstream sends outside a call, on the GET stream of the session of
   * gateway session `key` (sampling, elicitation, roots): absent = -32601. */
  readonly onServerRequest?: (
    key: string,
    request: JsonRpcRequest,
  ) => Promise<Record<string, unknown>>;
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

/** Bound on background messages: cancellations, answers to server requests, DELETE. */
const BACKGROUND_TIMEOUT_MS = 5_000;

interface Session {
  readonly key: string;
  readonly ref: SessionRef;
  /** The client's generation when this session was initialized. */
  readonly generation: number;
}

/** Creates a client for the Streamable HTTP upstream at `options.url` (nothing is sent yet). */
export function createHttpUpstream(options: HttpUpstreamOptions): UpstreamClient {
  const { name, log } = options;
  const target: HttpTarget = {
    name,
    url: options.url,
    headers: { ...options.headers },
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
    ...(options.pooled !== false && canUseHttp1(options.url, readEnv)
      ? { http1: createHttp1Client(options.url) }
      : {}),
  };
  const backoffMs = options.reconnectBackoffMs ?? { initial: 500, max: 30_000 };
  const closed = new AbortController();
  const pending = new Map<string, Promise<Session>>();
  const ready = new Map<string, Session>();
  const settled = new WeakMap<Promise<Session>, Session>(); // resolved `pending` promises
  const background = createBackground();
  const logError = (error: unknown) =>
    log.warn(
      `Upstream "${name}" listener failed: ${error instanceof Error ? error.name : "error"}`,
    );
  const listeners = createListenerSet(logError);
  let status: UpstreamStatus = "idle";
  let info: UpstreamInfo | undefined;
  let nextId = 1;
  let generation = 0;
  /** One GET stream per upstream session (§5.5), keyed like the sessions. */
  const listening = new Map<string, Listening>();
  let listenUnsupported = false;

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

  function session(key: string): Promise<Session> {
    const existing = pending.get(key);
    if (existing !== undefined) return existing;
    const started = initialize(key);
    pending.set(key, started);
    started.then((opened) => settled.set(started, opened), () => {
      if (pending.get(key) === started) pending.delete(key);
    });
    return started;
  }

  /** The session `session(key)` would resolve to at once, when its promise has resolved. */
  function openedSession(key: string): Session | undefined {
    const existing = pending.get(key);
    return existing === undefined ? undefined : settled.get(existing);
  }

  async function initialize(key: string): Promise<Session> {
    if (status === "idle") status = "starting";
    const scope = createRequestScope({ timeoutMs: options.startTimeoutMs, closed: closed.signal });
    try {
      const opened = await initializeSession(target, {
        id: nextId++,
        clientInfo: options.clientInfo,
        capabilities: options.capabilitiesFor?.(key) ?? {},
        signal: scope.signal,
        onNotification: (notification) => listeners.emit(notification, key),
      });
      const created: Session = { key, ref: opened.ref, generation: ++generation };
      info = opened.info;
      status = "up";
      ready.set(key, created);
      listen(created);
      return created;
    } catch (error) {
      status = "down";
      const why = scope.ended();
      if (why === "closed") throw scopeError(name, why, options.startTimeoutMs);
      if (why !== undefined) {
        throw new UpstreamError(
          "unavailable",
          `Upstream "${name}" did not initialize within ${options.startTimeoutMs} ms`,
        );
      }
      throw asUpstreamError(name, log, error);
    } finally {
      scope.dispose();
    }
  }

  /** Opens the GET stream of a new session: what the server sends outside a call goes to the
   * gateway session that owns it, and to no other. */
  function listen(created: Session): void {
    if (listenUnsupported || closed.signal.aborted || listening.has(created.key)) return;
    const onServerRequest = options.onServerRequest;
    const handler: RequestHandler | undefined = onServerRequest === undefined
      ? undefined
      : (request) => onServerRequest(created.key, request);
    const stream = startListening({
      target,
      session: created.ref,
      backoffMs,
      log,
      onNotification: (notification) => listeners.emit(notification, created.key),
      onRequest: (request) => answerLater(created, request, handler),
      onUnsupported: () => {
        // The server offers no GET stream (405): none is opened for its later sessions either.
        listenUnsupported = true;
        unlisten(created);
      },
      onGone: (code) => {
        // The session is over for the server: the stream is not retried (no loop on a dead id).
        unlisten(created);
        if (code === 404) drop(created);
        else log.debug(`Upstream "${name}" refused a session's GET stream (HTTP 400); ended`);
      },
      // /healthz shows a dead upstream as soon as its stream cannot reconnect (issue 11).
      onUnreachable: () => {
        status = "down";
      },
      onConnected: () => {
        status = "up";
      },
    });
    listening.set(created.key, stream);
  }

  /** Stops the GET stream of a session (in the background), if it is the one running. */
  function unlisten(owner: Session): void {
    const stream = listening.get(owner.key);
    if (stream === undefined || ready.get(owner.key) !== owner) return;
    listening.delete(owner.key);
    background.track(stream.stop());
  }

  function drop(gone: Session): void {
    if (ready.get(gone.key) !== gone) return;
    unlisten(gone);
    ready.delete(gone.key);
    pending.delete(gone.key);
  }

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
      const opened = scope.signal.aborted ? undefined : openedSession(key);
      let current = opened ?? await raceAbort(session(key), scope.signal, ended);
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
        drop(inSession);
        if (retried) {
          throw new UpstreamError("protocol", `Upstream "${name}" lost the session again`);
        }
        retried = true;
        log.info(`Upstream "${name}" forgot a session; initializing again`);
        current = await raceAbort(session(key), scope.signal, ended);
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
    const current = ready.get(key);
    if (isReservedNotification(method) || current === undefined || closed.signal.aborted) return;
    const message: JsonRpcNotification = { jsonrpc: "2.0", method };
    if (params !== undefined) message.params = params;
    let code: number;
    try {
      code = await postNotification(target, current.ref, message, BACKGROUND_TIMEOUT_MS);
    } catch (error) {
      throw asUpstreamError(name, log, error);
    }
    if (code === 404) drop(current);
    else if (code < 200 || code > 299) {
      throw new UpstreamError("protocol", `Upstream "${name}" refused ${method} (HTTP ${code})`);
    }
  }

  async function closeSession(key: string): Promise<void> {
    const starting = pending.get(key);
    pending.delete(key);
    if (starting === undefined) return;
    const current = await starting.catch(() => undefined);
    if (current === undefined) return;
    drop(current);
    ready.delete(key);
    if (current.ref.id === undefined) return;
    const headers = buildHeaders(target, current.ref, {});
    await withDeadline(BACKGROUND_TIMEOUT_MS, async (signal) => {
      await discard(await send(target, { method: "DELETE", headers, signal }));
    }).catch(() => log.debug(`Upstream "${name}": could not end a session`));
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
    generation: () => generation,
    onNotification: (listener) => listeners.add(listener),
    closeSession,
    async close() {
      closed.abort();
      const streams = [...listening.values()];
      listening.clear();
      await Promise.all(streams.map((stream) => stream.stop()));
      await Promise.all([...pending.keys()].map((key) => closeSession(key)));
      await background.drain();
      await target.http1?.close();
    },
  };
}

type RequestHandler = (request: JsonRpcRequest) => Promise<Record<string, unknown>>;
