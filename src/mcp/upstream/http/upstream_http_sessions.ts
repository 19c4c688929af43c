/**
 * The upstream sessions of one Streamable HTTP upstream: one per gateway session key, opened
 * (`initialize`) on first use, each with its GET stream (§5.5) once open, dropped when the
 * server forgets it, ended with a DELETE.
 */
import type { Logger } from "../../../log.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../../jsonrpc.ts";
import { UpstreamError, type UpstreamInfo, type UpstreamStatus } from "../upstream.ts";
import {
  asUpstreamError,
  type ClientInfo,
  createRequestScope,
  scopeError,
} from "../upstream_common.ts";
import { initializeSession } from "./upstream_http_exchange.ts";
import {
  buildHeaders,
  discard,
  type HttpTarget,
  send,
  type SessionRef,
  withDeadline,
} from "./upstream_http_io.ts";
import { type Listening, startListening } from "./upstream_http_listen.ts";

/** Bound on background messages: cancellations, answers to server requests, DELETE. */
export const BACKGROUND_TIMEOUT_MS = 5_000;

/** One open upstream session. */
export interface Session {
  /** The gateway session key it belongs to. */
  readonly key: string;
  /** Its `Mcp-Session-Id` and protocol version. */
  readonly ref: SessionRef;
  /** The client's generation when this session was initialized. */
  readonly generation: number;
}

/** Answers one request the upstream sent. */
export type RequestHandler = (request: JsonRpcRequest) => Promise<Record<string, unknown>>;

/** How sessions open and what answers the server's own requests (options of the client). */
export interface HttpSessionOptions {
  /** Bound on one `initialize` + `notifications/initialized`. */
  readonly startTimeoutMs: number;
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
}

/** What the sessions need from their client. */
export interface HttpSessionsDeps extends HttpSessionOptions {
  /** The upstream. */
  readonly target: HttpTarget;
  /** Aborted when the client closes. */
  readonly closed: AbortSignal;
  /** Reconnection delays of the GET stream. */
  readonly backoffMs: { readonly initial: number; readonly max: number };
  /** The next JSON-RPC id (shared with the client's requests: ids never repeat in a session). */
  readonly nextId: () => number;
  /** The client's status, read and set as sessions open, fail and reconnect. */
  readonly status: { get(): UpstreamStatus; set(status: UpstreamStatus): void };
  /** Takes the server's `initialize` result. */
  readonly onInfo: (info: UpstreamInfo) => void;
  /** Delivers a notification of the session of `key`. */
  readonly onNotification: (notification: JsonRpcNotification, key: string) => void;
  /** Answers a request the server sent on a session, in the background. */
  readonly answerLater: (
    session: Session,
    request: JsonRpcRequest,
    handler?: RequestHandler,
  ) => void;
  /** Tracks background work (stopping streams) until the client closes. */
  readonly track: (work: Promise<unknown>) => void;
  /** Operational log. */
  readonly log: Logger;
}

/** The sessions of one HTTP upstream client, keyed by gateway session key. */
export class HttpSessions {
  #deps: HttpSessionsDeps;
  #pending = new Map<string, Promise<Session>>();
  #ready = new Map<string, Session>();
  #settled = new WeakMap<Promise<Session>, Session>(); // resolved `#pending` promises
  /** One GET stream per upstream session (§5.5), keyed like the sessions. */
  #listening = new Map<string, Listening>();
  #listenUnsupported = false;
  #generation = 0;

  /** Sessions for the client described by `deps` (nothing is sent yet). */
  constructor(deps: HttpSessionsDeps) {
    this.#deps = deps;
  }

  /** Sessions initialized so far (a new one means new tool definitions may follow). */
  get generation(): number {
    return this.#generation;
  }

  /** The session of `key`, initialized on first use (concurrent callers share one attempt). */
  open(key: string): Promise<Session> {
    const existing = this.#pending.get(key);
    if (existing !== undefined) return existing;
    const started = this.#initialize(key);
    this.#pending.set(key, started);
    started.then((opened) => this.#settled.set(started, opened), () => {
      if (this.#pending.get(key) === started) this.#pending.delete(key);
    });
    return started;
  }

  /** The session `open(key)` would resolve to at once, when its promise has resolved. */
  opened(key: string): Session | undefined {
    const existing = this.#pending.get(key);
    return existing === undefined ? undefined : this.#settled.get(existing);
  }

  /** The open session of `key`, if any. */
  current(key: string): Session | undefined {
    return this.#ready.get(key);
  }

  /** Forgets a session the server no longer knows (if it is still the current one). */
  drop(gone: Session): void {
    if (this.#ready.get(gone.key) !== gone) return;
    this.#unlisten(gone);
    this.#ready.delete(gone.key);
    this.#pending.delete(gone.key);
  }

  /** Ends the session of `key`: its stream stops and the server gets a DELETE. */
  async close(key: string): Promise<void> {
    const { target, log } = this.#deps;
    const starting = this.#pending.get(key);
    this.#pending.delete(key);
    if (starting === undefined) return;
    const current = await starting.catch(() => undefined);
    if (current === undefined) return;
    this.drop(current);
    this.#ready.delete(key);
    if (current.ref.id === undefined) return;
    const headers = buildHeaders(target, current.ref, {});
    await withDeadline(BACKGROUND_TIMEOUT_MS, async (signal) => {
      await discard(await send(target, { method: "DELETE", headers, signal }));
    }).catch(() => log.debug(`Upstream "${target.name}": could not end a session`));
  }

  /** Stops every stream and ends every session. */
  async closeAll(): Promise<void> {
    const streams = [...this.#listening.values()];
    this.#listening.clear();
    await Promise.all(streams.map((stream) => stream.stop()));
    await Promise.all([...this.#pending.keys()].map((key) => this.close(key)));
  }

  async #initialize(key: string): Promise<Session> {
    const deps = this.#deps;
    const { name } = deps.target;
    if (deps.status.get() === "idle") deps.status.set("starting");
    const scope = createRequestScope({ timeoutMs: deps.startTimeoutMs, closed: deps.closed });
    try {
      const opened = await initializeSession(deps.target, {
        id: deps.nextId(),
        clientInfo: deps.clientInfo,
        capabilities: deps.capabilitiesFor?.(key) ?? {},
        signal: scope.signal,
        onNotification: (notification) => deps.onNotification(notification, key),
      });
      const created: Session = { key, ref: opened.ref, generation: ++this.#generation };
      deps.onInfo(opened.info);
      deps.status.set("up");
      this.#ready.set(key, created);
      this.#listen(created);
      return created;
    } catch (error) {
      deps.status.set("down");
      const why = scope.ended();
      if (why === "closed") throw scopeError(name, why, deps.startTimeoutMs);
      if (why !== undefined) {
        throw new UpstreamError(
          "unavailable",
          `Upstream "${name}" did not initialize within ${deps.startTimeoutMs} ms`,
        );
      }
      throw asUpstreamError(name, deps.log, error);
    } finally {
      scope.dispose();
    }
  }

  /** Opens the GET stream of a new session: what the server sends outside a call goes to the
   * gateway session that owns it, and to no other. */
  #listen(created: Session): void {
    const deps = this.#deps;
    if (this.#listenUnsupported || deps.closed.aborted || this.#listening.has(created.key)) return;
    const onServerRequest = deps.onServerRequest;
    const handler: RequestHandler | undefined = onServerRequest === undefined
      ? undefined
      : (request) => onServerRequest(created.key, request);
    const stream = startListening({
      target: deps.target,
      session: created.ref,
      backoffMs: deps.backoffMs,
      log: deps.log,
      onNotification: (notification) => deps.onNotification(notification, created.key),
      onRequest: (request) => deps.answerLater(created, request, handler),
      onUnsupported: () => {
        // The server offers no GET stream (405): none is opened for its later sessions either.
        this.#listenUnsupported = true;
        this.#unlisten(created);
      },
      onGone: (code) => {
        // The session is over for the server: the stream is not retried (no loop on a dead id).
        this.#unlisten(created);
        if (code === 404) this.drop(created);
        else {
          deps.log.debug(
            `Upstream "${deps.target.name}" refused a session's GET stream (HTTP 400); ended`,
          );
        }
      },
      // /healthz shows a dead upstream as soon as its stream cannot reconnect (issue 11).
      onUnreachable: () => deps.status.set("down"),
      onConnected: () => deps.status.set("up"),
    });
    this.#listening.set(created.key, stream);
  }

  /** Stops the GET stream of a session (in the background), if it is the one running. */
  #unlisten(owner: Session): void {
    const stream = this.#listening.get(owner.key);
    if (stream === undefined || this.#ready.get(owner.key) !== owner) return;
    this.#listening.delete(owner.key);
    this.#deps.track(stream.stop());
  }
}
