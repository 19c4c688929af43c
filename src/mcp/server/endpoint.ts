/** `/mcp`: MCP Streamable HTTP (§5.1) — guards, sessions, identity, then method dispatch. */
import { readJsonBody } from "../../http/body.ts";
import { agentMayUseModel, defaultModel } from "../../identity/identify.ts";
import type { OAuthRuntime } from "../../identity/oauth_runtime.ts";
import { recordEvent } from "../../pipeline.ts";
import { isAllowedHost, isAllowedOrigin } from "./http_guard.ts";
import { classifyMessage, type JsonRpcRequest, RPC, rpcError } from "../jsonrpc.ts";
import { dispatchRequest, type MethodDeps } from "./methods.ts";
import { prefersEventStream, refuse, rpcJson } from "./rpc_http.ts";
import type { SessionStore } from "./session/sessions.ts";
import { sessionRecord, syncSharedSession } from "./session/shared_sessions.ts";
import type { SharedSessions } from "../../shared_state/session_records.ts";
import { modelIdFromClientName } from "./session/client_model_id.ts";
import { INSTRUCTIONS_WAIT_MS, sessionInstructions } from "./instructions.ts";
import { type Caller, createEndpointAccess } from "./endpoint_access.ts";
import { SUPPORTED_VERSIONS } from "./protocol_versions.ts";
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

  async function initialize(
    request: Request,
    message: JsonRpcRequest,
    caller: Caller,
  ): Promise<Response> {
    const { agentId, agent } = caller;
    if (request.headers.get("mcp-session-id")) {
      return refuse(400, "initialize must not carry an Mcp-Session-Id");
    }
    const params = message.params ?? {};
    const clientInfo = typeof params.clientInfo === "object" && params.clientInfo !== null
      ? params.clientInfo as Record<string, unknown>
      : {};
    const asked = typeof params.protocolVersion === "string" ? params.protocolVersion : "";
    const protocolVersion = (SUPPORTED_VERSIONS as readonly string[]).includes(asked)
      ? asked
      : SUPPORTED_VERSIONS[0];
    const policy = deps.state().policy;
    const header = request.headers.get("x-model-id");
    let modelId: string | undefined;
    if (agentId !== null && agent !== null) {
      modelId = header ?? defaultModel(agent);
      if (modelId === undefined) {
        return refuse(400, `agent "${agentId}" has only model globs: send X-Model-Id`);
      }
      if (!agentMayUseModel(agent, modelId)) {
        const reason = `agent "${agentId}" may not act as model ${
          JSON.stringify(modelId.slice(0, 256))
        }`;
        auditAuthFailure("forbidden_model", reason, { agentId, modelId: modelId.slice(0, 256) });
        return refuse(403, reason);
      }
    } else {
      // No X-Model-Id: the client's name, made glob-friendly (docs/POLICY_SCHEMA.md).
      modelId = header ?? modelIdFromClientName(clientInfo.name);
    }
    if (!modelId || modelId.length > 256) {
      return refuse(400, "a model id is required: send X-Model-Id (1 to 256 characters)");
    }
    const capabilities = params.capabilities;
    // The upstreams' own instructions, namespaced (issue 11); bounded wait before the session.
    const instructions = await sessionInstructions({
      federation: deps.federation,
      policy,
      modelId,
      now: deps.clock(),
      waitMs: INSTRUCTIONS_WAIT_MS,
    });
    const created = deps.sessions.create({
      agentId,
      keySha256: caller.keySha256,
      modelId,
      policyVersion: policy.version,
      protocolVersion,
      clientCapabilities: typeof capabilities === "object" && capabilities !== null &&
          !Array.isArray(capabilities)
        ? capabilities as Record<string, unknown>
        : {},
      clientInfo: {
        name: String(clientInfo.name ?? "").slice(0, 256),
        version: String(clientInfo.version ?? "").slice(0, 64),
      },
    }, deps.clock());
    if (!created.ok) {
      deps.log.warn(`Refused a new MCP session: ${created.reason}`);
      return refuse(503, `${created.reason}; try again later`, { headers: { "retry-after": "1" } });
    }
    const { session } = created;
    if (deps.sharedSessions !== undefined) {
      try {
        await deps.sharedSessions.save(session.id, sessionRecord(session));
      } catch (error) {
        deps.sessions.delete(session.id);
        session.ended = true;
        deps.log.error(`Shared session store call failed: ${(error as Error).message}`);
        recordEvent(deps.audit, {
          event: "mcp_session",
          agentId,
          modelId,
          sessionId: session.auditId,
          status: "error",
          reasonCode: "state_unavailable",
          reason: "the shared session store (Redis) cannot be reached; session not started",
          policyVersion: policy.version,
        }, { now: deps.clock(), newId: deps.newId });
        return refuse(503, "the shared session store is unavailable; try again later", {
          headers: { "retry-after": "1" },
        });
      }
    }
    // Past the agent's quota (§12 MAX_SESSIONS_PER_AGENT) its own least recently used session
    // made room: ended properly (upstream sessions, streams, audit), never silently dropped.
    for (const old of created.evicted) {
      void endSession(
        old,
        agentId === null
          ? "session ended to make room: the open identity mode pool is full"
          : `session ended to make room: agent ${
            JSON.stringify(agentId)
          } reached its maximum of live sessions (MAX_SESSIONS_PER_AGENT)`,
        deps,
      );
    }
    recordEvent(deps.audit, {
      event: "mcp_session",
      agentId,
      modelId,
      sessionId: session.auditId,
      payload: { clientInfo: session.clientInfo, protocolVersion },
      status: "allowed",
      reasonCode: "ok",
      reason: "session started",
      policyVersion: policy.version,
    }, { now: deps.clock(), newId: deps.newId });
    return rpcJson({
      jsonrpc: "2.0",
      id: message.id,
      result: {
        protocolVersion,
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          completions: {},
          logging: {},
        },
        serverInfo: { name: "mcp-sec-gateway", version: deps.version },
        instructions,
      },
    }, { headers: { "mcp-session-id": session.id } });
  }

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
      return await initialize(request, classified.message, caller);
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
