// The seam between the session table of this replica and the session records every replica
// shares (SPEC §13). Before `/mcp` serves a request naming a session: a session this replica
// knows has its shared deadline pushed back (and is dropped here if another replica ended it); a
// session it does not know is taken in from the shared record. A store that does not answer is a
// refusal (503 state_unavailable, audited): never a session served on stale or guessed state.
import { recordEvent } from "../../../pipeline.ts";
import type { SessionRecord, SharedSessions } from "../../../shared_state/session_records.ts";
import type { ToolCallDeps } from "../../relay/tool_call.ts";
import type { Relay } from "../../relay/relay.ts";
import { refuse } from "../rpc_http.ts";
import type { McpSession, SessionStore } from "./sessions.ts";
import { endSession } from "../endpoint.ts";

/** What the seam needs: the local table, the shared records and what ending a session needs. */
export interface SharedSessionDeps extends ToolCallDeps {
  /** This replica's session table. */
  readonly sessions: SessionStore;
  /** The shared records; undefined = one replica, nothing to do. */
  readonly sharedSessions?: SharedSessions;
  /** Frees what the relay holds for an ended session. */
  readonly relay?: Pick<Relay, "forgetSession">;
}

/** The shared record of a local session. */
export function sessionRecord(session: McpSession): SessionRecord {
  return {
    agentId: session.agentId,
    keySha256: session.keySha256,
    modelId: session.modelId,
    protocolVersion: session.protocolVersion,
    policyVersion: session.policyVersion,
    clientInfo: session.clientInfo,
    clientCapabilities: session.clientCapabilities,
  };
}

/** Brings the local table in line with the shared record of the request's session; a Response
 * when the request must be refused because the store did not answer. */
export async function syncSharedSession(
  request: Request,
  deps: SharedSessionDeps,
): Promise<Response | undefined> {
  const shared = deps.sharedSessions;
  const id = request.headers.get("mcp-session-id");
  if (shared === undefined || !id || id.length > 256) return undefined;
  const now = deps.clock();
  const local = deps.sessions.get(id, now);
  try {
    if (local !== undefined) {
      if (await shared.touch(id)) return undefined;
      // Ended (DELETE) or expired on another replica: gone here too.
      deps.sessions.delete(id);
      await endSession(local, "session ended on another replica", deps);
      return undefined;
    }
    const record = await shared.load(id);
    if (record === undefined) return undefined;
    const adopted = deps.sessions.adopt({ id, ...record }, deps.clock());
    if (!adopted.ok) {
      return refuse(503, `${adopted.reason}; try again later`, { headers: { "retry-after": "1" } });
    }
    for (const old of adopted.evicted) {
      void endSession(old, "session ended to make room on this replica", deps);
    }
    return undefined;
  } catch (error) {
    deps.log.error(`Shared session store call failed: ${(error as Error).message}`);
    recordEvent(deps.audit, {
      event: "mcp_session",
      agentId: local?.agentId ?? null,
      modelId: local?.modelId ?? null,
      sessionId: local?.auditId ?? null,
      status: "error",
      reasonCode: "state_unavailable",
      reason: "the shared session store (Redis) cannot be reached; request refused",
      policyVersion: deps.state().policy.version,
    }, { now, newId: deps.newId });
    return refuse(503, "the shared session store is unavailable; try again later", {
      headers: { "retry-after": "1" },
    });
  }
}

/** Reasons given when this replica's copy of an idle session is ended (§13). */
export const IDLE_REASONS = {
  expired: "session expired (idle)",
  elsewhere: "session released on this replica (idle here; still open on another replica)",
  unknown: "session released on this replica (idle here; the shared store did not answer, " +
    "so whether another replica still uses it is unknown)",
} as const;

/** Ends this replica's copies of sessions idle here, saying what really happened: with shared
 * records, a session whose record is alive is still open on another replica (only released
 * here, taken back in by its next request), and only a session whose record is gone expired. */
export async function endIdleSessions(
  idle: readonly McpSession[],
  options: {
    readonly shared?: Pick<SharedSessions, "exists">;
    readonly end: (session: McpSession, reason: string) => void;
  },
): Promise<void> {
  const { shared, end } = options;
  await Promise.all(idle.map(async (session) => {
    if (shared === undefined) return end(session, IDLE_REASONS.expired);
    let alive: boolean | undefined;
    try {
      alive = await shared.exists(session.id);
    } catch {
      alive = undefined;
    }
    end(
      session,
      alive === undefined
        ? IDLE_REASONS.unknown
        : alive
        ? IDLE_REASONS.elsewhere
        : IDLE_REASONS.expired,
    );
  }));
}
