/** The contract between the MCP proxy and one upstream MCP server (HTTP or stdio). */
import type { JsonRpcNotification, JsonRpcRequest } from "../jsonrpc.ts";

/** Why an upstream request failed. */
export type UpstreamFailure =
  /** No answer within the timeout (a `notifications/cancelled` was sent upstream). */
  | "timeout"
  /** Could not connect, spawn, or initialize; or the process died / connection dropped mid-call. */
  | "unavailable"
  /** The upstream answered something that is not valid MCP / JSON-RPC (garbage, wrong shape). */
  | "protocol"
  /** The upstream answered with a JSON-RPC error object (`code`, `message` kept). */
  | "rpc";

import type { Denial } from "../../reasons.ts";

/** An upstream failure; `message` never contains secrets (no header values, no env values). */
export class UpstreamError extends Error {
  /** What kind of failure. */
  readonly failure: UpstreamFailure;
  /** The JSON-RPC error code, for `rpc` failures. */
  readonly code?: number;
  /** The JSON-RPC error data, for `rpc` failures. */
  readonly data?: unknown;
  /** Creates an upstream error. */
  constructor(failure: UpstreamFailure, message: string, rpc?: { code: number; data?: unknown }) {
    super(message);
    this.name = "UpstreamError";
    this.failure = failure;
    this.code = rpc?.code;
    this.data = rpc?.data;
  }
}

/** A call refused after the upstream restarted and its re-read catalog no longer offers the tool
 * as it was (changed, ambiguous, clashing, gone): the call was never sent. Code that does not
 * know it sees an `unavailable` failure (fail closed). */
export class ToolRefusedError extends UpstreamError {
  /** Why the call is refused (e.g. `tool_definition_changed`). */
  readonly denial: Denial;
  /** Creates a refusal. */
  constructor(denial: Denial) {
    super("unavailable", denial.reason);
    this.name = "ToolRefusedError";
    this.denial = denial;
  }
}

/** Options of one upstream request. */
export interface UpstreamRequestOptions {
  /** Bound on the whole request; on expiry `notifications/cancelled` goes upstream and the
   * promise rejects with an `UpstreamError("timeout")`. */
  readonly timeoutMs: number;
  /** Notifications the upstream sends about this request before its answer (progress,
   * logging on the request's SSE stream). */
  readonly onNotification?: (notification: JsonRpcNotification) => void;
  /** Requests the upstream sends back while this request runs (sampling, elicitation, roots):
   * answered by the returned promise (full relay: a later issue; absent = answer -32601). */
  readonly onRequest?: (request: JsonRpcRequest) => Promise<Record<string, unknown>>;
  /** The upstream closed this request's stream before answering and is being resumed after
   * `retryMs` (2025-11-25 SSE polling): the client may be told to poll as well. */
  readonly onPause?: (retryMs: number) => void;
  /** Aborts the request (client went away): sends `notifications/cancelled` upstream. */
  readonly signal?: AbortSignal;
  /** Called with the generation (see `UpstreamClient.generation`) of the session or process the
   * request is about to be sent on, before each send (again after a re-initialize). A returned
   * promise is awaited first (within the request's timeout); what it throws fails the request,
   * which is then never sent. */
  readonly beforeSend?: (generation: number) => Promise<void> | undefined;
}

/** What the upstream said at `initialize`. */
export interface UpstreamInfo {
  /** The negotiated protocol version. */
  readonly protocolVersion: string;
  /** The upstream's capabilities. */
  readonly capabilities: Record<string, unknown>;
  /** The upstream's serverInfo. */
  readonly serverInfo: Record<string, unknown>;
  /** The upstream's instructions, if any. */
  readonly instructions?: string;
}

/** Connection state as shown on `/healthz`. */
export type UpstreamStatus = "idle" | "starting" | "up" | "down";

/**
 * One upstream MCP server. `sessionKey` names the gateway session on whose behalf a call is
 * made: an HTTP upstream keeps one upstream MCP session (its own `Mcp-Session-Id`) per key,
 * initialized lazily on first use and re-initialized once on an upstream 404; a stdio upstream
 * shares one process among all keys (JSON-RPC ids rewritten so answers reach the right caller).
 */
export interface UpstreamClient {
  /** The upstream's name in `upstreams:`. */
  readonly name: string;
  /** Current state. */
  status(): UpstreamStatus;
  /** Sends `method` with `params` for the gateway session `sessionKey`; resolves with the
   * JSON-RPC `result` object. Initializes first when needed (bounded by the start timeout). */
  request(
    sessionKey: string,
    method: string,
    params: Record<string, unknown> | undefined,
    options: UpstreamRequestOptions,
  ): Promise<Record<string, unknown>>;
  /** Sends a notification for the session (e.g. `notifications/cancelled`). */
  notify(sessionKey: string, method: string, params?: Record<string, unknown>): Promise<void>;
  /** What the upstream said at its (first) initialize; undefined before. */
  info(): UpstreamInfo | undefined;
  /** Counts (re)initializations: bumped each time an upstream session is initialized (HTTP: any
   * session, first time or after a 404) or the process is (re)started (stdio). 0 before any. */
  generation(): number;
  /** Listens to notifications not tied to a request (e.g. `notifications/tools/list_changed`);
   * `sessionKey` is the session whose stream carried it, or null (stdio: process-wide). */
  onNotification(
    listener: (notification: JsonRpcNotification, sessionKey: string | null) => void,
  ): () => void;
  /** Ends the upstream session of one gateway session (HTTP: DELETE; stdio: nothing). */
  closeSession(sessionKey: string): Promise<void>;
  /** Stops everything (stdio: the process is terminated; HTTP: sessions deleted). */
  close(): Promise<void>;
}
