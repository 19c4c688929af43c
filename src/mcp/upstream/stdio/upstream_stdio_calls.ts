/** Calls in flight on one stdio process: gateway-assigned ids, progress tokens, routing. */
import type { Logger } from "../../../log.ts";
import {
  classifyMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../jsonrpc.ts";
import type { UpstreamError } from "../upstream.ts";
import { deliver } from "../upstream_common.ts";
import type { StdioProcess } from "./upstream_stdio_process.ts";

/** One request waiting for its answer. */
export interface PendingCall {
  /** Settles with the upstream's response (errors included). */
  readonly resolve: (response: JsonRpcResponse) => void;
  /** Fails the call (process gone, write failed). */
  readonly reject: (error: UpstreamError) => void;
  /** The caller's per-request notification callback. */
  readonly onNotification?: (notification: JsonRpcNotification) => void;
  /** The caller's original progress token (the upstream saw the request id instead). */
  readonly progressToken?: string | number;
}

/** A live process and the calls it owes answers to, keyed by the id the gateway gave them. */
export interface ProcessCalls {
  /** The process. */
  readonly process: StdioProcess;
  /** Calls in flight. */
  readonly pending: Map<number, PendingCall>;
  /** The next request id (unique for this process). */
  nextId: number;
  /** False once the process has exited. */
  alive: boolean;
  /** The client's generation once this process initialized (0 while it starts). */
  generation: number;
}

/** Where routed messages go. */
export interface RouteHandlers {
  /** The upstream's name (log lines). */
  readonly name: string;
  /** Operational log. */
  readonly log: Logger;
  /** Notifications not tied to a request (list_changed, logging, resources/updated). */
  readonly onUnrelated: (notification: JsonRpcNotification) => void;
  /** Server→client requests (answer them on `calls.process`). */
  readonly onServerRequest: (request: JsonRpcRequest, calls: ProcessCalls) => void;
  /** A per-request callback threw. */
  readonly onCallbackError: (error: unknown) => void;
}

/**
 * Sends a request with a fresh id; a caller's `progressToken` is replaced by that id so that
 * `notifications/progress` can be routed back (and the original token restored).
 */
export function sendRequest(
  calls: ProcessCalls,
  message: { readonly method: string; readonly params?: Record<string, unknown> },
  entry: Omit<PendingCall, "resolve" | "reject">,
): { id: number; answer: Promise<JsonRpcResponse> } {
  const id = calls.nextId++;
  const answer = new Promise<JsonRpcResponse>((resolve, reject) => {
    calls.pending.set(id, { ...entry, resolve, reject });
  });
  answer.catch(() => {});
  let params = message.params;
  if (entry.progressToken !== undefined) {
    const meta = (params?._meta ?? {}) as Record<string, unknown>;
    params = { ...params, _meta: { ...meta, progressToken: id } };
  }
  const line: JsonRpcRequest = { jsonrpc: "2.0", id, method: message.method };
  if (params !== undefined) line.params = params;
  calls.process.send(line).catch((error) => calls.pending.get(id)?.reject(error));
  return { id, answer };
}

/** Routes one parsed stdout message: answers, progress, other notifications, server requests. */
export function routeMessage(calls: ProcessCalls, value: unknown, handlers: RouteHandlers): void {
  const classified = classifyMessage(value);
  switch (classified.kind) {
    case "response": {
      const id = classified.message.id;
      const entry = typeof id === "number" ? calls.pending.get(id) : undefined;
      if (entry === undefined) {
        handlers.log.debug(`Upstream "${handlers.name}" answered an unknown request`);
      } else entry.resolve(classified.message);
      return;
    }
    case "notification": {
      const notification = classified.message;
      const token = notification.params?.progressToken;
      if (notification.method === "notifications/progress") {
        const entry = typeof token === "number" ? calls.pending.get(token) : undefined;
        if (entry?.progressToken !== undefined) {
          const params = { ...notification.params, progressToken: entry.progressToken };
          deliver(entry.onNotification, { ...notification, params }, handlers.onCallbackError);
        }
        return;
      }
      if (notification.method !== "notifications/cancelled") handlers.onUnrelated(notification);
      return;
    }
    case "request":
      handlers.onServerRequest(classified.message, calls);
      return;
    default:
      handlers.log.warn(
        `Upstream "${handlers.name}" wrote an invalid message (skipped): ${classified.reason}`,
      );
  }
}

/** Fails every call in flight with `error`. */
export function failAll(calls: ProcessCalls, error: UpstreamError): void {
  for (const entry of calls.pending.values()) entry.reject(error);
  calls.pending.clear();
}
