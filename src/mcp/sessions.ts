/** Gateway MCP sessions (§5.1, §5.4): random ids, owner, model, idle expiry. Clock passed in. */
import { createHash } from "node:crypto";
import { createStreamHub, type StreamHub } from "./streams.ts";

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
  /** The model acting, fixed for the session. */
  readonly modelId: string;
  /** Protocol version negotiated at initialize. */
  readonly protocolVersion: string;
  /** The client's `clientInfo` (name, version), for the audit. */
  readonly clientInfo: Readonly<Record<string, unknown>>;
  /** Last use, epoch ms. */
  lastSeen: number;
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

/** The session table. */
export interface SessionStore {
  /** Creates a session with a fresh random id. */
  create(
    fields: Omit<
      McpSession,
      "id" | "auditId" | "lastSeen" | "inFlight" | "streams" | "pending" | "nextRequestId"
    >,
    now: number,
  ): McpSession;
  /** The live session with this audit id (`mcp-…`), not touched; for routing upstream messages. */
  byAuditId(auditId: string): McpSession | undefined;
  /** Every live session. */
  all(): Iterable<McpSession>;
  /** The live session with this id, touched; undefined when unknown or idle too long (removed). */
  get(id: string, now: number): McpSession | undefined;
  /** Removes a session; returns it when it existed. */
  delete(id: string): McpSession | undefined;
  /** Removes every session idle longer than the limit; returns the removed ones. */
  expire(now: number): McpSession[];
  /** Number of live sessions. */
  readonly size: number;
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

/** Creates an empty session table whose sessions expire after `idleMs` without use. */
export function createSessionStore(
  options: { idleMs: number; maxSessions?: number },
): SessionStore {
  const sessions = new Map<string, McpSession>();
  const byAudit = new Map<string, McpSession>();
  const remove = (session: McpSession) => {
    sessions.delete(session.id);
    byAudit.delete(session.auditId);
    session.streams.close();
    for (const pending of session.pending.values()) {
      pending.reject({ code: -32000, message: "session ended" });
    }
    session.pending.clear();
  };
  const maxSessions = options.maxSessions ?? 100_000;
  const expired = (session: McpSession, now: number) => now - session.lastSeen >= options.idleMs;
  return {
    create(fields, now) {
      if (sessions.size >= maxSessions) {
        // Make room from the idle end first (Map order = least recently touched first).
        const oldest = sessions.values().next().value;
        if (oldest) remove(oldest);
      }
      const id = newSessionId();
      const session: McpSession = {
        ...fields,
        id,
        auditId: auditSessionId(id),
        lastSeen: now,
        inFlight: new Map(),
        streams: createStreamHub({ priming: fields.protocolVersion >= "2025-11-25" }),
        pending: new Map(),
        nextRequestId: 0,
      };
      sessions.set(id, session);
      byAudit.set(session.auditId, session);
      return session;
    },
    get(id, now) {
      const session = sessions.get(id);
      if (!session) return undefined;
      if (expired(session, now)) {
        remove(session);
        return undefined;
      }
      session.lastSeen = now;
      sessions.delete(id);
      sessions.set(id, session);
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
      for (const session of sessions.values()) {
        if (!expired(session, now)) break;
        remove(session);
        removed.push(session);
      }
      return removed;
    },
    get size() {
      return sessions.size;
    },
  };
}
