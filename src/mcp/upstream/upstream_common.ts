/** Pieces shared by the HTTP and stdio upstream clients: initialize, results, deadlines. */
import type { Logger } from "../../log.ts";
import {
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  RPC,
  rpcError,
  rpcResult,
} from "../jsonrpc.ts";
import { UpstreamError, type UpstreamInfo } from "./upstream.ts";
import { createDeadlineQueue } from "./deadlines.ts";

/** The protocol version the gateway asks upstreams for. */
export const LATEST_PROTOCOL_VERSION = "2025-11-25";

/** Protocol versions an upstream may answer with at `initialize`. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = [
  "2025-11-25",
  "2025-06-18",
  "2025-03-26",
];

/** The gateway's identity sent as `clientInfo`. */
export interface ClientInfo {
  /** Client name. */
  readonly name: string;
  /** Client version. */
  readonly version: string;
}

/** The `initialize` params the gateway sends upstream (no client capabilities yet). */
export function initializeParams(
  clientInfo: ClientInfo,
  capabilities: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  return {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities,
    clientInfo: { name: clientInfo.name, version: clientInfo.version },
  };
}

/** Client capabilities an upstream session may declare on behalf of the client it serves (§5.5):
 * the ones whose requests the gateway relays and polices. Experimental and unknown ones are not
 * passed on: the gateway cannot police what it does not know. */
const RELAYED_CAPABILITIES = ["sampling", "elicitation", "roots"] as const;

/** What a process shared by many gateway sessions (stdio) declares: everything a session could
 * need; each request is then refused, per session, when its client did not declare it (§5.5).
 * Roots without `listChanged`: clients' `roots/list_changed` is not forwarded to a shared child. */
export const SHARED_PROCESS_CAPABILITIES: Readonly<Record<string, unknown>> = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: {},
};

/** The subset of a client's declared capabilities an upstream session declares for it. */
export function relayedCapabilities(
  declared: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  const relayed: Record<string, unknown> = {};
  if (declared === undefined) return relayed;
  for (const name of RELAYED_CAPABILITIES) {
    const value = declared[name];
    if (isObject(value)) relayed[name] = value;
  }
  return relayed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads an `InitializeResult`; throws `UpstreamError("protocol")` on a wrong shape or version. */
export function parseInitializeResult(name: string, result: Record<string, unknown>): UpstreamInfo {
  const version = result.protocolVersion;
  if (typeof version !== "string" || !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    throw new UpstreamError(
      "protocol",
      `Upstream "${name}" answered initialize with an unsupported protocol version`,
    );
  }
  if (!isObject(result.capabilities) || !isObject(result.serverInfo)) {
    throw new UpstreamError(
      "protocol",
      `Upstream "${name}" answered initialize without capabilities or serverInfo`,
    );
  }
  return {
    protocolVersion: version,
    capabilities: result.capabilities,
    serverInfo: result.serverInfo,
    ...(typeof result.instructions === "string" ? { instructions: result.instructions } : {}),
  };
}

/** The `result` of a response, or the `UpstreamError("rpc")` it carries (message kept). */
export function resultOf(response: JsonRpcResponse): Record<string, unknown> {
  if ("error" in response) {
    const { code, message, data } = response.error;
    throw new UpstreamError(
      "rpc",
      truncate(message, 1000),
      data === undefined ? { code } : { code, data },
    );
  }
  return response.result;
}

/** Cuts `text` to at most `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

/** Answers a server→client request: `ping` → {}, else the handler, else -32601. */
export async function answerServerRequest(
  request: JsonRpcRequest,
  handler: ((request: JsonRpcRequest) => Promise<Record<string, unknown>>) | undefined,
): Promise<JsonRpcResponse> {
  if (request.method === "ping") return rpcResult(request.id, {});
  if (handler === undefined) {
    return rpcError(request.id, RPC.METHOD_NOT_FOUND, `Method not found: ${request.method}`);
  }
  try {
    return rpcResult(request.id, await handler(request));
  } catch (error) {
    if (error instanceof UpstreamError && error.failure === "rpc" && error.code !== undefined) {
      return rpcError(request.id, error.code, error.message);
    }
    return rpcError(request.id, RPC.INTERNAL_ERROR, "The client could not answer this request");
  }
}

/** Notifications a caller may not send through `notify` (the clients manage them). */
export function isReservedNotification(method: string): boolean {
  return method === "notifications/initialized" || method === "notifications/cancelled";
}

/** A `notifications/cancelled` for `requestId`. */
export function cancelledNotification(requestId: JsonRpcId, reason: string): JsonRpcNotification {
  return { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason } };
}

/** Why a request scope ended early. */
export type ScopeEnd = "timeout" | "aborted" | "closed";

/** A request's deadline and cancellation, merged into one signal. */
export interface RequestScope {
  /** Aborted on timeout, caller abort or client close. */
  readonly signal: AbortSignal;
  /** Why the signal fired, once it has. */
  ended(): ScopeEnd | undefined;
  /** Milliseconds left before the deadline. */
  remainingMs(): number;
  /** Clears the timer and listeners. */
  dispose(): void;
}

const sharedDeadlines = createDeadlineQueue();

/** Starts a scope that ends after `timeoutMs`, when `signal` or `closed` aborts. */
export function createRequestScope(
  options: { timeoutMs: number; signal?: AbortSignal; closed: AbortSignal },
): RequestScope {
  const controller = new AbortController();
  const deadline = Date.now() + options.timeoutMs;
  let why: ScopeEnd | undefined;
  const end = (reason: ScopeEnd) => {
    if (why !== undefined) return;
    why = reason;
    controller.abort(reason);
  };
  // One shared timer per timeout length instead of a setTimeout per request.
  const cancelDeadline = sharedDeadlines.add(options.timeoutMs, () => end("timeout"));
  const onAbort = () => end("aborted");
  const onClose = () => end("closed");
  if (options.signal?.aborted) end("aborted");
  if (options.closed.aborted) end("closed");
  options.signal?.addEventListener("abort", onAbort);
  options.closed.addEventListener("abort", onClose);
  return {
    signal: controller.signal,
    ended: () => why,
    remainingMs: () => Math.max(0, deadline - Date.now()),
    dispose() {
      cancelDeadline();
      options.signal?.removeEventListener("abort", onAbort);
      options.closed.removeEventListener("abort", onClose);
    },
  };
}

/** The error a request gets when its scope ended. */
export function scopeError(name: string, why: ScopeEnd, timeoutMs: number): UpstreamError {
  if (why === "timeout") {
    return new UpstreamError("timeout", `Upstream "${name}" did not answer within ${timeoutMs} ms`);
  }
  if (why === "closed") return new UpstreamError("unavailable", `Upstream "${name}" was closed`);
  return new UpstreamError("unavailable", `Request to upstream "${name}" was aborted`);
}

/** The `reason` sent upstream in `notifications/cancelled`. */
export function cancelReason(why: ScopeEnd, timeoutMs: number): string {
  if (why === "timeout") return `Gateway timeout after ${timeoutMs} ms`;
  return why === "closed" ? "Gateway shutting down" : "Client cancelled the request";
}

/** Resolves with `promise`, or rejects with `onAbort()` as soon as `signal` aborts. */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onAbort: () => Error,
): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener("abort", abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", abort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", abort);
        reject(error);
      },
    );
  });
}

/** Waits `ms`, or less when `signal` aborts (never rejects). */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Fire-and-forget work (cancellations, answers) that `close()` still waits for. */
export interface Background {
  /** Runs `promise` in the background (its rejection is swallowed). */
  track(promise: Promise<unknown>): void;
  /** Waits until no tracked work is left. */
  drain(): Promise<void>;
}

/** Creates an empty background-work tracker. */
export function createBackground(): Background {
  const running = new Set<Promise<unknown>>();
  return {
    track(promise) {
      const guarded = promise.catch(() => {});
      running.add(guarded);
      guarded.finally(() => running.delete(guarded));
    },
    async drain() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}

/** `error` as an `UpstreamError`; anything else is logged by type only and becomes unavailable. */
export function asUpstreamError(name: string, log: Logger, error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  log.warn(`Upstream "${name}": unexpected ${error instanceof Error ? error.name : "error"}`);
  return new UpstreamError("unavailable", `Upstream "${name}" failed unexpectedly`);
}

/** A set of notification listeners. */
export interface ListenerSet {
  /** Adds a listener; returns its removal. */
  add(listener: (notification: JsonRpcNotification, sessionKey: string | null) => void): () => void;
  /** Calls every listener (a throwing listener does not stop the others). */
  emit(notification: JsonRpcNotification, sessionKey: string | null): void;
}

/** Creates an empty listener set; listener errors go to `onError`. */
export function createListenerSet(onError: (error: unknown) => void): ListenerSet {
  const listeners = new Set<(n: JsonRpcNotification, key: string | null) => void>();
  return {
    add(listener) {
      const entry = (n: JsonRpcNotification, key: string | null) => listener(n, key);
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
    emit(notification, sessionKey) {
      for (const listener of [...listeners]) {
        try {
          listener(notification, sessionKey);
        } catch (error) {
          onError(error);
        }
      }
    },
  };
}

/** Calls a per-request notification callback, containing its errors. */
export function deliver(
  callback: ((notification: JsonRpcNotification) => void) | undefined,
  notification: JsonRpcNotification,
  onError: (error: unknown) => void,
): void {
  if (callback === undefined) return;
  try {
    callback(notification);
  } catch (error) {
    onError(error);
  }
}
