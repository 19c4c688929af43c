/** `initialize` on `/mcp` (§5.1): a new MCP session for an authenticated caller. */
import { agentMayUseModel, defaultModel } from "../../identity/identify.ts";
import { recordEvent } from "../../pipeline.ts";
import type { JsonRpcRequest } from "../jsonrpc.ts";
import type { EndpointDeps } from "./endpoint.ts";
import type { Caller, EndpointAccess } from "./endpoint_access.ts";
import { INSTRUCTIONS_WAIT_MS, sessionInstructions } from "./instructions.ts";
import { SUPPORTED_VERSIONS } from "./protocol_versions.ts";
import { refuse, rpcJson } from "./rpc_http.ts";
import { modelIdFromClientName } from "./session/client_model_id.ts";
import { endSession } from "./session/session_end.ts";
import { sessionRecord } from "./session/shared_sessions.ts";

/** What `initializeSession` needs besides the request. */
export interface InitializeOptions {
  /** Who is asking (authenticated). */
  readonly caller: Caller;
  /** The endpoint's dependencies. */
  readonly deps: EndpointDeps;
  /** Audits an authentication or model refusal. */
  readonly auditAuthFailure: EndpointAccess["auditAuthFailure"];
}

/**
 * Answers `initialize`: the model id (checked against the agent's models, or the client's name in
 * open mode), the upstreams' instructions, a new session (shared with other replicas, §13; the
 * agent's least recently used one ended past its quota), audited.
 */
export async function initializeSession(
  request: Request,
  message: JsonRpcRequest,
  options: InitializeOptions,
): Promise<Response> {
  const { caller, deps, auditAuthFailure } = options;
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
