// Who may use `/mcp` (§5.1, §12, §14): the caller's key or OAuth token, and the session it names
// (owned by that agent, not revoked by a reload, a supported protocol version, the session's model).
// Every refusal is audited. Used by `mcpHandler` (endpoint.ts).
import { agentMayUseModel, bearerToken, hashKey } from "../../identity/identify.ts";
import { authenticate as identify } from "../../identity/authenticate.ts";
import type { Agent } from "../../policy/types.ts";
import type { ReasonCode } from "../../reasons.ts";
import { recordEvent } from "../../pipeline.ts";
import type { EndpointDeps } from "./endpoint.ts";
import { DEFAULT_VERSION, SUPPORTED_VERSIONS } from "./protocol_versions.ts";
import { revocationReason } from "./session/revocation.ts";
import { refuse, SESSION_NOT_FOUND_CODE } from "./rpc_http.ts";
import type { McpSession } from "./session/sessions.ts";
import { endSession } from "./session/session_end.ts";

/** Who is calling: the agent (null in open identity mode) and the hash of the key it used (null
 * for an OAuth token, §14). */
export interface Caller {
  readonly agentId: string | null;
  readonly keySha256: string | null;
  /** The agent (from the policy, or made from an OAuth token's models claim). */
  readonly agent: Agent | null;
}

/** The caller in open identity mode (no agents in the policy). */
const OPEN_CALLER: Caller = Object.freeze({ agentId: null, keySha256: null, agent: null });

/** An authenticated caller, or the refusal to answer with. */
export type Authenticated = { ok: true; caller: Caller } | { ok: false; response: Response };

/** The access checks of `/mcp`, over `deps`. */
export interface EndpointAccess {
  /** Identifies the caller (a key at once, an OAuth token after its verification). */
  authenticate(request: Request): Authenticated | Promise<Authenticated>;
  /** The session the request names, if this caller may use it now. */
  sessionFor(
    request: Request,
    caller: Caller,
  ): { ok: true; session: McpSession } | { ok: false; response: Response };
  /** Audits an identity refusal. */
  auditAuthFailure(
    reasonCode: ReasonCode,
    reason: string,
    fields: { agentId?: string | null; modelId?: string | null },
  ): void;
}

/** Creates the access checks of `/mcp`. */
export function createEndpointAccess(deps: EndpointDeps): EndpointAccess {
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

  return { authenticate, sessionFor, auditAuthFailure };
}
