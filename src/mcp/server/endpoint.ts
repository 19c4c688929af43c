/** `/mcp`: MCP Streamable HTTP (§5.1) — guards, sessions, identity, then method dispatch. */
import { readJsonBody } from "../../http/body.ts";
import { agentMayUseModel, bearerToken, defaultModel, hashKey } from "../../identity/identify.ts";
import { authenticate as identify } from "../../identity/authenticate.ts";
import type { Agent } from "../../policy/types.ts";
import type { OAuthRuntime } from "../../identity/oauth_runtime.ts";
import type { ReasonCode } from "../../reasons.ts";
import { recordEvent } from "../../pipeline.ts";
import { isAllowedHost, isAllowedOrigin } from "./http_guard.ts";
import { classifyMessage, type JsonRpcRequest, RPC, rpcError } from "../jsonrpc.ts";
import { dispatchRequest, type MethodDeps } from "./methods.ts";
import type { Relay } from "../relay/relay.ts";
import type { ToolCallDeps } from "../relay/tool_call.ts";
import { revocationReason } from "./revocation.ts";
import { prefersEventStream, refuse, rpcJson, SESSION_NOT_FOUND_CODE } from "./rpc_http.ts";
import type { McpSession, SessionStore } from "./sessions.ts";
import { sessionRecord, syncSharedSession } from "./shared_sessions.ts";
import type { SharedSessions } from "../../shared_state/session_records.ts";
import { modelIdFromClientName } from "./client_model_id.ts";
import { INSTRUCTIONS_WAIT_MS, sessionInstructions } from "./instructions.ts";

/** Protocol versions the gateway speaks, newest first. */
export const SUPPORTED_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;

/** The version assumed when a request carries no `MCP-Protocol-Version` (§5.1). */
export const DEFAULT_VERSION = "2025-03-26";

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

/** Who is calling: the agent (null in open identity mode) and the hash of the key it used (null
 * for an OAuth token, §14). */
interface Caller {
  readonly agentId: string | null;
  readonly keySha256: string | null;
  /** The agent (from the policy, or made from an OAuth token's models claim). */
  readonly agent: Agent | null;
}

/** Creates the handler of `/mcp` (POST, GET, DELETE). */
export function mcpHandler(deps: EndpointDeps): (request: Request) => Promise<Response> {
  function auditAuthFailure(
    reasonCode: ReasonCode,
    reason: string,
    fields: {
      agentId?: string | null;
      modelId?: string | null;
    },
  ): void {
    recordEvent(deps.audit, {
      event: "auth_failure",
      agentId: fields.agentId ?? null,
      modelId: fields.modelId ?? null,
      status: "blocked",
      reasonCode,
      reason,
      policyVersion: deps.state().policy.version,
    }, { now: deps.clock(), newId: deps.newId });
  }

  type Authenticated = { ok: true; caller: Caller } | { ok: false; response: Response };

  function authenticate(request: Request): Authenticated | Promise<Authenticated> {
    const policy = deps.state().policy;
    if (policy.agents === null) return { ok: true, caller: OPEN_CALLER };
    const authorization = request.headers.get("authorization");
    const identity = identify(authorization, policy, deps.oauth?.verifierFor(policy));
    // An agent key answers at once (no promise); an OAuth token after its verification (§14).
    return identity instanceof Promise
      ? identity.then((done) => authenticated(request, done))
      : authenticated(request, identity);
  }

  function authenticated(
    request: Request,
    identity: Awaited<ReturnType<typeof identify>>,
  ): Authenticated {
    if (!identity.ok) {
      // The key of an agent a reload removed or re-keyed, on one of that agent's sessions: the
      // session is revoked (403, audited, ended) rather than merely unauthenticated.
      const key = bearerToken(request.headers.get("authorization"));
      if (key !== undefined && identity.reasonCode === "unauthenticated") {
        const revoked = revokedByOldKey(request, key);
        if (revoked !== undefined) return { ok: false, response: revoked };
      }
      auditAuthFailure(identity.reasonCode, identity.reason, {});
      return {
        ok: false,
        response: refuse(identity.status, identity.reason, {
          headers: { "www-authenticate": identity.wwwAuthenticate },
        }),
      };
    }
    const agent = identity.agent!;
    return { ok: true, caller: { agentId: agent.id, keySha256: agent.keySha256, agent } };
  }

  /** Refuses and ends a session the policy in force no longer accepts (§12 revocation). */
  function revoke(session: McpSession, reason: string): Response {
    deps.sessions.delete(session.id);
    void endSession(session, `session revoked by a policy reload: ${reason}`, deps);
    recordEvent(deps.audit, {
      event: "auth_failure",
      agentId: session.agentId,
      modelId: session.modelId,
      sessionId: session.auditId,
      status: "blocked",
      reasonCode: "forbidden_model",
      reason: `session revoked: ${reason}`,
      policyVersion: deps.state().policy.version,
    }, { now: deps.clock(), newId: deps.newId });
    return refuse(403, `session revoked: ${reason}; initialize again`);
  }

  function revokedByOldKey(request: Request, key: string): Response | undefined {
    const id = request.headers.get("mcp-session-id");
    const session = id ? deps.sessions.get(id, deps.clock()) : undefined;
    if (session === undefined || session.agentId === null) return undefined;
    if (session.keySha256 !== hashKey(key)) return undefined;
    const reason = session.revoked ?? revocationReason(session, deps.state().policy);
    return reason === undefined ? undefined : revoke(session, reason);
  }

  function sessionFor(
    request: Request,
    caller: Caller,
  ): { ok: true; session: McpSession } | { ok: false; response: Response } {
    const id = request.headers.get("mcp-session-id");
    if (!id) {
      return { ok: false, response: refuse(400, "Mcp-Session-Id header is required") };
    }
    const session = deps.sessions.get(id, deps.clock());
    // A session belongs to the agent that created it: any other key sees no such session.
    if (!session || session.agentId !== caller.agentId) {
      return {
        ok: false,
        response: refuse(404, "session not found or expired; initialize again", {
          code: SESSION_NOT_FOUND_CODE,
        }),
      };
    }
    // Revocation (§12): re-checked only when the policy version changed since the last check.
    const policy = deps.state().policy;
    if (session.policyVersion !== policy.version || session.revoked !== undefined) {
      const reason = session.revoked ?? revocationReason(session, policy) ??
        (session.keySha256 !== caller.keySha256
          ? `the key of agent ${JSON.stringify(caller.agentId)} was changed`
          : undefined);
      if (reason !== undefined) return { ok: false, response: revoke(session, reason) };
      session.policyVersion = policy.version;
    }
    // A missing header means 2025-03-26 (§5.1); an unsupported version is refused. A different
    // supported version than the negotiated one is accepted: the official conformance suite
    // sends 2025-03-26 on 2025-11-25 sessions (see docs/SECURITY_MODEL.md).
    const version = request.headers.get("mcp-protocol-version") ?? DEFAULT_VERSION;
    if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
      return {
        ok: false,
        response: refuse(
          400,
          `unsupported MCP-Protocol-Version ${JSON.stringify(version.slice(0, 40))}; ` +
            `supported: ${SUPPORTED_VERSIONS.join(", ")}`,
        ),
      };
    }
    // An OAuth caller's models come with its token (§14): checked on every request.
    if (
      caller.agent !== null && caller.keySha256 === null &&
      !agentMayUseModel(caller.agent, session.modelId)
    ) {
      const reason = `agent ${JSON.stringify(caller.agentId)} may not act as model ${
        JSON.stringify(session.modelId.slice(0, 256))
      }`;
      auditAuthFailure("forbidden_model", reason, {
        agentId: caller.agentId,
        modelId: session.modelId,
      });
      return { ok: false, response: refuse(403, reason) };
    }
    const model = request.headers.get("x-model-id");
    if (model !== null && model !== session.modelId) {
      return {
        ok: false,
        response: refuse(403, "X-Model-Id differs from the model fixed for this session"),
      };
    }
    return { ok: true, session };
  }

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

const OPEN_CALLER: Caller = Object.freeze({ agentId: null, keySha256: null, agent: null });

/** Aborts a session's calls, closes its streams, ends its upstream sessions and audits the end
 * (once: a session already ended is left alone). */
export async function endSession(
  session: McpSession,
  reason: string,
  deps: ToolCallDeps & { readonly relay?: Pick<Relay, "forgetSession"> },
): Promise<void> {
  if (session.ended) return;
  session.ended = true;
  for (const controller of session.inFlight.values()) controller.abort();
  session.streams.close();
  recordEvent(deps.audit, {
    event: "mcp_session",
    agentId: session.agentId,
    modelId: session.modelId,
    sessionId: session.auditId,
    status: "allowed",
    reasonCode: "ok",
    reason,
    policyVersion: deps.state().policy.version,
  }, { now: deps.clock(), newId: deps.newId });
  deps.relay?.forgetSession(session.auditId);
  await deps.federation.closeSession(session.auditId);
}
