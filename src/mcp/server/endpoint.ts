/** `/mcp`: MCP Streamable HTTP (§5.1) — guards, sessions, identity, then method dispatch. */
import { readJsonBody } from "../../http/body.ts";
import type { OAuthRuntime } from "../../identity/oauth_runtime.ts";
import { isAllowedHost, isAllowedOrigin } from "./http_guard.ts";
import { classifyMessage, RPC, rpcError } from "../jsonrpc.ts";
import { dispatchRequest, type MethodDeps } from "./methods.ts";
import { prefersEventStream, refuse, rpcJson } from "./rpc_http.ts";
import type { SessionStore } from "./session/sessions.ts";
import { syncSharedSession } from "./session/shared_sessions.ts";
import type { SharedSessions } from "../../shared_state/session_records.ts";
import { type Caller, createEndpointAccess } from "./endpoint_access.ts";
import { initializeSession } from "./initialize.ts";
import { endSession } from "./session/session_end.ts";

export { DEFAULT_VERSION, SUPPORTED_VERSIONS } from "./protocol_versions.ts";
export { endSession } from "./session/session_end.ts";

/** What the endpoint needs beyond the method handlers'. */
export interface EndpointDeps extends MethodDeps {
  /** The session table. */
  readonly sessions: SessionStore;
  /** Extra accepted `Host` names. */
  readonly allowedHosts: readonly string[];
  /** Extra accepted `Origin`s. */
  readonly allowedOrigins: readonly string[];
  /** Largest accepted body. */
  readonly maxBodyBytes: number;
  /** The gateway's version for `serverInfo`. */
  readonly version: string;
  /** Session records shared with other replicas (§13); undefined = this process only. */
  readonly sharedSessions?: SharedSessions;
  /** OAuth access tokens (§14). */
  readonly oauth?: OAuthRuntime;
}

/** Creates the handler of `/mcp` (POST, GET, DELETE). */
export function mcpHandler(deps: EndpointDeps): (request: Request) => Promise<Response> {
  const { authenticate, sessionFor, auditAuthFailure } = createEndpointAccess(deps);

  async function post(request: Request, caller: Caller): Promise<Response> {
    const accept = (request.headers.get("accept") ?? "").toLowerCase();
    if (!accept.includes("application/json") || !accept.includes("text/event-stream")) {
      return refuse(406, "Accept must list application/json and text/event-stream");
    }
    const body = await readJsonBody(request, deps.maxBodyBytes);
    if (!body.ok) {
      if (body.reasonCode === "payload_too_large") return refuse(413, body.reason);
      if (body.reasonCode === "request_timeout") return refuse(408, body.reason);
      if (body.reasonCode === "unsupported_media_type") return refuse(415, body.reason);
      return rpcJson(rpcError(null, RPC.PARSE_ERROR, body.reason), { status: 400 });
    }
    const classified = classifyMessage(body.value);
    if (classified.kind === "invalid") {
      return rpcJson(rpcError(null, RPC.INVALID_REQUEST, classified.reason), { status: 400 });
    }
    if (classified.kind === "request" && classified.message.method === "initialize") {
      return await initializeSession(request, classified.message, {
        caller,
        deps,
        auditAuthFailure,
      });
    }
    const found = sessionFor(request, caller);
    if (!found.ok) return found.response;
    const { session } = found;
    if (classified.kind === "notification") {
      const { method, params } = classified.message;
      if (method === "notifications/cancelled" && params) {
        const requestId = params.requestId;
        if (typeof requestId === "string" || typeof requestId === "number") {
          session.inFlight.get(requestId)?.abort();
        }
      }
      return new Response(null, { status: 202 });
    }
    if (classified.kind === "response") {
      deps.clientRequests.answer(session, classified.message);
      return new Response(null, { status: 202 });
    }
    return await dispatchRequest(classified.message, session, deps, {
      eventStream: prefersEventStream(accept),
    });
  }

  return async (request) => {
    if (!isAllowedHost(request.headers.get("host"), deps.allowedHosts)) {
      return refuse(403, "Host not allowed (DNS rebinding protection); see ALLOWED_HOSTS");
    }
    if (!isAllowedOrigin(request.headers.get("origin"), deps.allowedOrigins)) {
      return refuse(403, "Origin not allowed; see ALLOWED_ORIGINS");
    }
    if (request.method !== "POST" && request.method !== "GET" && request.method !== "DELETE") {
      return refuse(405, "use POST, GET or DELETE", { headers: { allow: "GET, POST, DELETE" } });
    }
    // Several replicas (§13): the session may have been created, used or ended on another one.
    const unavailable = await syncSharedSession(request, deps);
    if (unavailable !== undefined) return unavailable;
    const pending = authenticate(request);
    const identity = pending instanceof Promise ? await pending : pending;
    if (!identity.ok) return identity.response;
    if (request.method === "GET") {
      if (!(request.headers.get("accept") ?? "").toLowerCase().includes("text/event-stream")) {
        return refuse(406, "Accept must list text/event-stream");
      }
      const found = sessionFor(request, identity.caller);
      if (!found.ok) return found.response;
      const lastEventId = request.headers.get("last-event-id");
      if (lastEventId !== null) {
        return found.session.streams.resume(lastEventId) ??
          refuse(404, "no stream to resume for that Last-Event-ID");
      }
      return found.session.streams.openStandalone() ??
        refuse(409, "this session already has an open GET stream");
    }
    if (request.method === "DELETE") {
      const found = sessionFor(request, identity.caller);
      if (!found.ok) return found.response;
      if (deps.sharedSessions !== undefined) {
        // Gone for every replica, or not ended at all (it would live on elsewhere).
        const removed = await deps.sharedSessions.remove(found.session.id).then(
          () => true,
          () => false,
        );
        if (!removed) {
          return refuse(503, "the shared session store is unavailable; try again later", {
            headers: { "retry-after": "1" },
          });
        }
      }
      deps.sessions.delete(found.session.id);
      await endSession(found.session, "session ended by the client", deps);
      return new Response(null, { status: 200 });
    }
    return await post(request, identity.caller);
  };
}
