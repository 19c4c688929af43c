/**
 * Revocation is immediate (§12): after a reload, a session whose agent was removed, whose key
 * changed, or whose model the agent may no longer act as is refused on its next request and
 * ended. `revocationReason` is the pure check; `revokeAfterReload` applies a new policy to the
 * live MCP sessions and decision-API sessions at once (their upstream sessions and streams are
 * closed there and then; an MCP session keeps its record until its next request, which is
 * answered 403 and audited, or until it expires).
 */
import { agentMayUseModel } from "../../../identity/identify.ts";
import type { Policy } from "../../../policy/types.ts";
import type { IdleKeys } from "./idle_keys.ts";
import type { McpSession, SessionStore } from "./sessions.ts";

/** What a session was opened as: agent, the key's hash, model. */
export interface SessionIdentity {
  /** Agent id; null in open identity mode. */
  readonly agentId: string | null;
  /** sha256 hex of the agent's key when the session started; null in open mode. */
  readonly keySha256: string | null;
  /** The session's model. */
  readonly modelId: string;
}

/** Why `policy` no longer accepts a session opened as `session`; undefined when it still does. */
export function revocationReason(session: SessionIdentity, policy: Policy): string | undefined {
  const { agentId } = session;
  if (agentId === null) {
    return policy.agents === null ? undefined : "the policy now requires agent keys";
  }
  if (policy.agents === null) return `agents were removed from the policy (open identity mode)`;
  const agent = policy.agents.find((candidate) => candidate.id === agentId);
  if (agent === undefined) {
    // An agent made from an OAuth token's models claim (§14): its token is checked per request.
    if (isClaimAgent(agentId, session.keySha256, policy)) return undefined;
    return `agent ${JSON.stringify(agentId)} was removed from the policy`;
  }
  if (agent.keySha256 !== session.keySha256) {
    return `the key of agent ${JSON.stringify(agentId)} was changed`;
  }
  if (!agentMayUseModel(agent, session.modelId)) {
    return `agent ${JSON.stringify(agentId)} may no longer act as model ${
      JSON.stringify(session.modelId.slice(0, 256))
    }`;
  }
  return undefined;
}

/** True for an agent id made from an OAuth token's models claim while the policy still maps
 * unlisted clients that way (§14). */
export function isClaimAgent(agentId: string, keySha256: string | null, policy: Policy): boolean {
  return keySha256 === null && agentId.startsWith("oauth:") &&
    policy.oauth?.modelsClaim !== undefined;
}

/** The agents (null: the open pool) whose decision-API sessions `next` no longer accepts. */
export function revokedOwners(
  previous: Policy,
  next: Policy,
  owners: Iterable<string | null>,
): (string | null)[] {
  const revoked: (string | null)[] = [];
  for (const owner of owners) {
    if (owner === null) {
      if (next.agents !== null) revoked.push(owner);
      continue;
    }
    const before = previous.agents?.find((agent) => agent.id === owner);
    const after = next.agents?.find((agent) => agent.id === owner);
    if (before === undefined && after === undefined && isClaimAgent(owner, null, next)) continue;
    if (before === undefined || after === undefined || before.keySha256 !== after.keySha256) {
      revoked.push(owner);
    }
  }
  return revoked;
}

/** What `revokeAfterReload` acts on. */
export interface RevocationDeps {
  /** Gateway MCP sessions. */
  readonly sessions: SessionStore;
  /** Decision-API sessions (owner = agent). */
  readonly apiSessions: IdleKeys;
  /** Ends an MCP session (aborts calls, closes upstream sessions and streams, audits). */
  endSession(session: McpSession, reason: string): void;
  /** Closes the upstream sessions of a decision-API session key. */
  closeApiSession(key: string): void;
}

/**
 * Applies a newly loaded policy to live sessions: revoked MCP sessions are marked and ended (the
 * record stays for the 403 of their next request); accepted ones are marked checked against the
 * new version; decision-API sessions of agents removed or re-keyed are closed. Returns how many
 * MCP sessions were revoked.
 */
export function revokeAfterReload(
  previous: Policy,
  next: Policy,
  deps: RevocationDeps,
): number {
  let revoked = 0;
  for (const session of deps.sessions.all()) {
    if (session.revoked !== undefined || session.policyVersion === next.version) continue;
    const reason = revocationReason(session, next);
    if (reason === undefined) {
      session.policyVersion = next.version;
      continue;
    }
    session.revoked = reason;
    revoked++;
    deps.endSession(session, `session revoked by a policy reload: ${reason}`);
  }
  for (const owner of revokedOwners(previous, next, deps.apiSessions.owners())) {
    for (const key of deps.apiSessions.dropOwner(owner)) deps.closeApiSession(key);
  }
  return revoked;
}
