// MCP session records shared by replicas (SPEC §13): what a replica needs to serve a session that
// another one created (agent, key hash, model, capabilities, protocol version, client info), kept
// in Redis with the idle deadline as the key's expiry. Streams, calls in flight and upstream
// sessions stay per replica (re-created lazily where the session is used).
import { parseStoredObject } from "./redis_client.ts";
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** The shared part of a gateway MCP session. */
export interface SessionRecord {
  /** The creating agent; null in open identity mode. */
  readonly agentId: string | null;
  /** sha256 hex of the key used at initialize; null in open identity mode. */
  readonly keySha256: string | null;
  /** The model fixed for the session. */
  readonly modelId: string;
  /** Negotiated protocol version. */
  readonly protocolVersion: string;
  /** Policy version the session was last checked against. */
  readonly policyVersion: string;
  /** The client's clientInfo (name, version). */
  readonly clientInfo: Readonly<Record<string, unknown>>;
  /** The client's declared capabilities. */
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
}

/** Session records in a shared store; every call rejects when the store does not answer. */
export interface SharedSessions {
  /** Stores a new session's record, expiring after `idleMs` without use. */
  save(id: string, record: SessionRecord): Promise<void>;
  /** Pushes the idle deadline back; false when the record is gone (ended or expired elsewhere). */
  touch(id: string): Promise<boolean>;
  /** The record (deadline pushed back), or undefined when there is none. */
  load(id: string): Promise<SessionRecord | undefined>;
  /** Removes the record (the session ended). */
  remove(id: string): Promise<void>;
  /** True while the record exists (open on some replica); does not push the deadline back. */
  exists(id: string): Promise<boolean>;
}

/** Largest record accepted back from the store (a hostile or corrupted value is refused). */
const MAX_RECORD_BYTES = 64 * 1024;

/** Creates the Redis session records under `prefix`; a session idle `idleMs` expires. */
export function createRedisSessions(
  options: { client: Redis; prefix: string; idleMs: number },
): SharedSessions {
  const { client, prefix, idleMs } = options;
  // The session id is a bearer secret: the key holds its sha256, never the id itself.
  const key = (id: string) =>
    `${prefix}sess:${createHash("sha256").update(id, "utf8").digest("hex")}`;
  return {
    async save(id, record) {
      await client.set(key(id), JSON.stringify(record), "PX", idleMs);
    },
    async touch(id) {
      return (await client.pexpire(key(id), idleMs)) === 1;
    },
    async load(id) {
      const text = await client.getex(key(id), "PX", idleMs);
      if (text === null) return undefined;
      return parseSessionRecord(text);
    },
    async remove(id) {
      await client.del(key(id));
    },
    async exists(id) {
      return (await client.exists(key(id))) === 1;
    },
  };
}

/** Parses a stored record; undefined for anything that is not exactly a record. */
export function parseSessionRecord(text: string): SessionRecord | undefined {
  const v = parseStoredObject(text, MAX_RECORD_BYTES);
  if (v === undefined) return undefined;
  const nullableString = (x: unknown) => x === null || typeof x === "string";
  const plainObject = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x);
  if (
    !nullableString(v.agentId) || !nullableString(v.keySha256) ||
    typeof v.modelId !== "string" || v.modelId === "" || v.modelId.length > 256 ||
    typeof v.protocolVersion !== "string" || typeof v.policyVersion !== "string" ||
    !plainObject(v.clientInfo) || !plainObject(v.clientCapabilities)
  ) return undefined;
  return {
    agentId: v.agentId as string | null,
    keySha256: v.keySha256 as string | null,
    modelId: v.modelId,
    protocolVersion: v.protocolVersion,
    policyVersion: v.policyVersion,
    clientInfo: v.clientInfo as Record<string, unknown>,
    clientCapabilities: v.clientCapabilities as Record<string, unknown>,
  };
}
