/**
 * Gateway MCP sessions (§5.1, §5.4, §12): random ids, owner, model, idle expiry, and per-agent
 * quotas: an agent at `maxPerAgent` live sessions gets its own least recently used one ended to
 * make room, and when the whole table is full a new session may only take the place of one of its
 * creator's, never another agent's (else it is refused). Clock passed in.
 */
import { createHash } from "node:crypto";
import { createStreamHub, type StreamHub } from "../streams.ts";

/** A request the gateway sent to the client, waiting for its answer. */
export interface PendingClientRequest {
  /** Called with the client's result. */
  resolve(result: Record<string, unknown>): void;
  /** Called with the client's error. */
  reject(error: { code: number; message: string; data?: unknown }): void;
}

/** One gateway MCP session. */
export interface McpSession {
  /** The `Mcp-Session-Id` handed to the client (a secret handle; never written down). */
  readonly id: string;
  /** How the session appears in the audit and on /logs: `mcp-` + 16 hex of sha256(id). */
  readonly auditId: string;
  /** The agent that created it, or null in open identity mode. */
  readonly agentId: string | null;
  /** sha256 hex of the key the agent authenticated with at `initialize`; null in open mode. */
  readonly keySha256: string | null;
  /** The model acting, fixed for the session. */
  readonly modelId: string;
  /** Protocol version negotiated at initialize. */
  readonly protocolVersion: string;
  /** The client's `clientInfo` (name, version), for the audit. */
  readonly clientInfo: Readonly<Record<string, unknown>>;
  /** The policy version the session's agent and model were last checked against (§12). */
  policyVersion: string;
  /** Last use, epoch ms. */
  lastSeen: number;
  /** Why a reload revoked the session (agent gone, key changed, model no longer allowed). */
  revoked: string | undefined;
  /** True once the session was ended (upstream sessions closed, end audited). */
  ended: boolean;
  /** The client's capabilities from `initialize` (sampling, elicitation, roots, …). */
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  /** In-flight client requests by JSON-RPC id, so `notifications/cancelled` can abort them. */
  readonly inFlight: Map<string | number, AbortController>;
  /** The session's SSE streams. */
  readonly streams: StreamHub;
  /** Requests sent to the client (sampling, elicitation, roots) by the gateway's id. */
  readonly pending: Map<string, PendingClientRequest>;
  /** Counter for the ids of requests sent to the client. */
  nextRequestId: number;
}

/** What a new session is made of; the store fills in the rest. */
export type NewSession = Omit<
  McpSession,
  | "id"
  | "auditId"
  | "lastSeen"
  | "revoked"
  | "ended"
  | "inFlight"
  | "streams"
  | "pending"
  | "nextRequestId"
>;

/** The outcome of `create`: the session and the ones ended to make room, or a refusal. */
export type CreateOutcome =
  | { readonly ok: true; readonly session: McpSession; readonly evicted: readonly McpSession[] }
  | { readonly ok: false; readonly reason: string };

/** The session table. */
export interface SessionStore {
  /**
   * Creates a session with a fresh random id. Past its creator's quota, or when the table is
   * full, the creator's least recently used session is removed and returned in `evicted` (the
   * caller ends it); a full table with none of the creator's sessions refuses.
   */
  create(fields: NewSession, now: number): CreateOutcome;
  /** Takes in a session another replica created (§13), under its id; the same quotas apply. */
  adopt(fields: NewSession & { readonly id: string }, now: number): CreateOutcome;
  /** The live session with this audit id (`mcp-…`), not touched; for routing upstream messages. */
  byAuditId(auditId: string): McpSession | undefined;
  /** Every live session. */
  all(): Iterable<McpSession>;
  /** The live session with this id, touched; undefined when unknown or idle too long (left for
   * `expire`, which hands it back so it can be ended properly). */
  get(id: string, now: number): McpSession | undefined;
  /** Removes a session; returns it when it existed. */
  delete(id: string): McpSession | undefined;
  /** Removes every session idle longer than the limit; returns the removed ones. */
  expire(now: number): McpSession[];
  /** Live sessions of one agent (null: the open identity mode pool). */
  countFor(agentId: string | null): number;
  /** Number of live sessions. */
  readonly size: number;
}

/** Options of `createSessionStore`. */
export interface SessionStoreOptions {
  /** A session idle this long expires. */
  readonly idleMs: number;
  /** Most live sessions in all; default 100,000. Also the cap of the open identity mode pool. */
  readonly maxSessions?: number;
  /** Most live sessions of one agent (MAX_SESSIONS_PER_AGENT); default 1000. */
  readonly maxPerAgent?: number;
}

/** The audit form of a session id: `mcp-` + first 16 hex characters of its sha256. */
export function auditSessionId(id: string): string {
  return "mcp-" + createHash("sha256").update(id, "utf8").digest("hex").slice(0, 16);
}

/** A cryptographically random session id: 32 bytes as 64 hex characters (visible ASCII). */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** How far into an agent's least recently used sessions eviction looks for one with no call in
 * flight before taking the least recently used one anyway. */
const VICTIM_SCAN = 16;

/** Creates an empty session table; sessions expire after `idleMs` without use. */
export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const maxSessions = options.maxSessions ?? 100_000;
  const maxPerAgent = options.maxPerAgent ?? 1000;
  const sessions = new Map<string, McpSession>();
  const byAudit = new Map<string, McpSession>();
  // Owner → its sessions, least recently used first (a touch moves a session to the end). Open
  // identity mode has no accountable owner: its sessions are one pool under the key null.
  const byOwner = new Map<string | null, Map<string, McpSession>>();

  const remove = (session: McpSession) => {
    sessions.delete(session.id);
    byAudit.delete(session.auditId);
    const own = byOwner.get(session.agentId);
    if (own !== undefined) {
      own.delete(session.id);
      if (own.size === 0) byOwner.delete(session.agentId);
    }
    session.streams.close();
    for (const pending of session.pending.values()) {
      pending.reject({ code: -32000, message: "session ended" });
    }
    session.pending.clear();
  };
  const expired = (session: McpSession, now: number) => now - session.lastSeen >= options.idleMs;

  // The owner's session to end first: a revoked one or one with no call in flight among the least
  // recently used, else the least recently used.
  const victim = (own: Map<string, McpSession>): McpSession | undefined => {
    let scanned = 0;
    let first: McpSession | undefined;
    for (const session of own.values()) {
      first ??= session;
      if (session.revoked !== undefined || session.inFlight.size === 0) return session;
      if (++scanned >= VICTIM_SCAN) break;
    }
    return first;
  };

  const insert = (fields: NewSession, now: number, id: string): CreateOutcome => {
    const owner = fields.agentId;
    const own = byOwner.get(owner);
    const evicted: McpSession[] = [];
    const quota = owner === null ? maxSessions : maxPerAgent;
    while (own !== undefined && own.size >= quota) {
      const oldest = victim(own)!;
      remove(oldest);
      evicted.push(oldest);
    }
    if (sessions.size >= maxSessions) {
      // Full: make room only from the creator's own sessions, never another agent's.
      const oldest = own === undefined ? undefined : victim(own);
      if (oldest === undefined) {
        return { ok: false, reason: `the gateway holds its maximum of ${maxSessions} sessions` };
      }
      remove(oldest);
      evicted.push(oldest);
    }
    const session: McpSession = {
      ...fields,
      id,
      auditId: auditSessionId(id),
      lastSeen: now,
      revoked: undefined,
      ended: false,
      inFlight: new Map(),
      streams: createStreamHub({ priming: fields.protocolVersion >= "2025-11-25" }),
      pending: new Map(),
      nextRequestId: 0,
    };
    sessions.set(id, session);
    byAudit.set(session.auditId, session);
    if (own === undefined || own.size === 0) {
      byOwner.set(owner, new Map([[id, session]]));
    } else own.set(id, session);
    return { ok: true, session, evicted };
  };

  return {
    create: (fields, now) => insert(fields, now, newSessionId()),
    adopt: ({ id, ...fields }, now) => insert(fields, now, id),
    get(id, now) {
      const session = sessions.get(id);
      if (!session || expired(session, now)) return undefined;
      session.lastSeen = now;
      const own = byOwner.get(session.agentId)!;
      own.delete(id);
      own.set(id, session);
      return session;
    },
    delete(id) {
      const session = sessions.get(id);
      if (session) remove(session);
      return session;
    },
    byAuditId: (auditId) => byAudit.get(auditId),
    all: () => sessions.values(),
    expire(now) {
      const removed: McpSession[] = [];
      for (const own of [...byOwner.values()]) {
        for (const session of own.values()) {
          if (!expired(session, now)) break;
          remove(session);
          removed.push(session);
        }
      }
      return removed;
    },
    countFor: (agentId) => byOwner.get(agentId)?.size ?? 0,
    get size() {
      return sessions.size;
    },
  };
}
