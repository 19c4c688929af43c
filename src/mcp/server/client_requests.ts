/**
 * Requests an upstream sends to the client (sampling, elicitation, roots), §5.5: checked against
 * the client's declared capabilities, audited as `mcp_request`, sent on the call's SSE stream
 * (or the session's GET stream) and answered through the client's POSTed response.
 */
import { type AuditRecorder, type GatewayState, recordEvent } from "../../pipeline.ts";
import { type JsonRpcMessage, type JsonRpcRequest, RPC } from "../jsonrpc.ts";
import type { McpSession } from "./session/sessions.ts";
import type { OutStream } from "./streams.ts";
import { UpstreamError } from "../upstream/upstream.ts";

/** The capability a client must have declared for each server-initiated request. */
const CLIENT_CAPABILITY: Readonly<Record<string, string>> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/** A tool call in progress, through which its upstream may ask the client. */
export interface ActiveCall {
  /** The session that made the call. */
  readonly session: McpSession;
  /** The call's answer stream (opened on first use). */
  readonly stream: () => OutStream;
}

/** Sends upstream requests to clients and routes their answers back. */
export interface ClientRequests {
  /** Sends `request` from `upstream` to the client of `session`; resolves with its answer. */
  ask(
    session: McpSession,
    request: JsonRpcRequest,
    options: { upstream: string; stream?: OutStream },
  ): Promise<Record<string, unknown>>;
  /** Registers a call in progress on `upstream` (for upstreams that cannot say which session
   * asks, such as a shared stdio process); returns the function that ends it. */
  beginCall(upstream: string, session: McpSession, stream: () => OutStream): () => void;
  /** A request from `upstream` that names no session: routed to its only call in progress;
   * refused (and audited) when there is none or more than one. */
  askForUpstream(upstream: string, request: JsonRpcRequest): Promise<Record<string, unknown>>;
  /** A request `upstream` sent outside a call on the upstream session of a gateway session
   * (`session`; undefined when that key has no client, e.g. the catalog's): sent on the
   * client's GET stream; refused when there is no client to ask. */
  askOutsideCall(
    upstream: string,
    session: McpSession | undefined,
    request: JsonRpcRequest,
  ): Promise<Record<string, unknown>>;
  /** The only call in progress on `upstream` (its session and answer stream); undefined for
   * none or several. */
  soleCaller(upstream: string): ActiveCall | undefined;
  /** Routes a client's answer; false when no request waits for it. */
  answer(session: McpSession, message: JsonRpcMessage): boolean;
}

/** Creates the client-request router. */
export function createClientRequests(deps: {
  readonly audit: AuditRecorder;
  readonly state: () => GatewayState;
  readonly clock: () => number;
  readonly newId: () => string;
  readonly timeoutMs: number;
}): ClientRequests {
  const active = new Map<string, Set<ActiveCall>>();

  function ask(
    session: McpSession,
    request: JsonRpcRequest,
    options: { upstream: string; stream?: OutStream },
  ): Promise<Record<string, unknown>> {
    const capability = CLIENT_CAPABILITY[request.method];
    const allowed = capability !== undefined &&
      session.clientCapabilities[capability] !== undefined;
    const method = request.method.slice(0, 100);
    recordEvent(deps.audit, {
      event: "mcp_request",
      agentId: session.agentId,
      modelId: session.modelId,
      sessionId: session.auditId,
      payload: {
        method: request.method,
        upstream: options.upstream,
        params: request.params ?? null,
      },
      status: allowed ? "allowed" : "blocked",
      reasonCode: allowed ? "ok" : "method_not_allowed",
      reason: allowed
        ? `upstream "${options.upstream}" asked the client: ${method}`
        : `upstream "${options.upstream}" asked for ${method}, which the client did not declare`,
      policyVersion: deps.state().policy.version,
    }, { now: deps.clock(), newId: deps.newId });
    if (!allowed) {
      return Promise.reject(
        new UpstreamError("rpc", `client does not support ${method}`, {
          code: RPC.METHOD_NOT_FOUND,
        }),
      );
    }
    const id = `gw-${++session.nextRequestId}`;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    const timer = setTimeout(() => {
      session.pending.delete(id);
      reject(new UpstreamError("timeout", `the client did not answer ${method} in time`));
    }, deps.timeoutMs);
    session.pending.set(id, {
      resolve: (result) => {
        clearTimeout(timer);
        resolve(result);
      },
      reject: (error) => {
        clearTimeout(timer);
        reject(new UpstreamError("rpc", error.message, { code: error.code, data: error.data }));
      },
    });
    const outgoing: JsonRpcRequest = { ...request, id };
    if (options.stream) options.stream.send(outgoing);
    else if (!session.streams.sendStandalone(outgoing)) {
      session.pending.get(id)?.reject({
        code: RPC.INTERNAL_ERROR,
        message: "no open stream to the client",
      });
      session.pending.delete(id);
    }
    return promise;
  }

  /** Refuses a request no client session can be trusted with (audited, without a session). */
  function refuse(
    upstream: string,
    request: JsonRpcRequest,
    why: string,
  ): Promise<Record<string, unknown>> {
    recordEvent(deps.audit, {
      event: "mcp_request",
      payload: { method: request.method, upstream, params: request.params ?? null },
      status: "blocked",
      reasonCode: "method_not_allowed",
      reason: `upstream "${upstream}" asked for ${request.method.slice(0, 100)}: ${why}`,
      policyVersion: deps.state().policy.version,
    }, { now: deps.clock(), newId: deps.newId });
    return Promise.reject(new UpstreamError("rpc", why, { code: RPC.INTERNAL_ERROR }));
  }

  return {
    ask,
    beginCall(upstream, session, stream) {
      const call: ActiveCall = { session, stream };
      const calls = active.get(upstream) ?? new Set<ActiveCall>();
      calls.add(call);
      active.set(upstream, calls);
      return () => {
        calls.delete(call);
        if (calls.size === 0) active.delete(upstream);
      };
    },
    askForUpstream(upstream, request) {
      const calls = [...active.get(upstream) ?? []];
      // Only an unambiguous call can be trusted with the request: fail closed otherwise.
      if (calls.length !== 1) {
        return refuse(
          upstream,
          request,
          calls.length === 0
            ? "no client call is in progress on this upstream"
            : "several client calls are in progress on this upstream; cannot tell which asks",
        );
      }
      return ask(calls[0].session, request, { upstream, stream: calls[0].stream() });
    },
    soleCaller(upstream) {
      const calls = active.get(upstream);
      return calls?.size === 1 ? [...calls][0] : undefined;
    },
    askOutsideCall(upstream, session, request) {
      if (session === undefined) {
        return refuse(upstream, request, "the upstream session serves no client");
      }
      return ask(session, request, { upstream });
    },
    answer(session, message) {
      if (!("id" in message) || message.id === null || "method" in message) return false;
      const pending = session.pending.get(String(message.id));
      if (!pending) return false;
      session.pending.delete(String(message.id));
      if ("result" in message) pending.resolve(message.result);
      else pending.reject(message.error);
      return true;
    },
  };
}
