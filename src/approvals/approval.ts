/**
 * Human approval of held calls (§15): the record of one held call, what binds an approval to
 * that exact call, and the views the admin API and the caller see. Pure: no `Deno.*`, no clock.
 */
import { createHash } from "node:crypto";

/** Where an approval is in its life: pending, then decided, expired or withdrawn; approved → used. */
export type ApprovalState = "pending" | "approved" | "denied" | "expired" | "withdrawn" | "used";

/** What an approval is bound to: it serves this one call and no other (§15). */
export interface ApprovalBinding {
  /** `mcp` (a proxy session waits) or `api` (the decision API re-POSTs with the id). */
  readonly door: "mcp" | "api";
  /** The exposed tool name. */
  readonly toolName: string;
  /** The agent, or null in open identity mode. */
  readonly agentId: string | null;
  /** The model acting. */
  readonly modelId: string;
  /** The session as written in the audit. */
  readonly sessionId: string;
  /** sha256 hex of the canonical JSON of the call's input. */
  readonly inputSha256: string;
}

/** A person's decision on a held call. */
export interface ApprovalDecision {
  /** `approve` or `deny`. */
  readonly decision: "approve" | "deny";
  /** Who decided, as known to the gateway (e.g. `admin (dashboard)`). */
  readonly by: string;
  /** Why, as written by the person (at most `MAX_NOTE_LENGTH` characters). */
  readonly note: string;
  /** Epoch ms of the decision. */
  readonly at: number;
}

/** One held call. */
export interface ApprovalRecord extends ApprovalBinding {
  /** 32 lowercase hex characters (128 random bits): unguessable, also the caller's handle. */
  readonly id: string;
  /** Current state. */
  readonly state: ApprovalState;
  /** The held call's audit `event_id` (pending, forwarded and closing lines share it). */
  readonly eventId: string;
  /** The call's input, redacted and scrubbed, as JSON text cut at `MAX_INPUT_TEXT`. */
  readonly inputText: string;
  /** Epoch ms the call was held. */
  readonly createdAt: number;
  /** Epoch ms after which a pending approval is expired (created + APPROVAL_TIMEOUT_MS). */
  readonly deadline: number;
  /** The decision, once made. */
  readonly decided?: ApprovalDecision;
  /** Epoch ms the approval was used (state `used`). */
  readonly usedAt?: number;
}

/** Longest note kept with a decision. */
export const MAX_NOTE_LENGTH = 500;

/** Longest input text kept (and shown) with a held call. */
export const MAX_INPUT_TEXT = 4096;

/** Calls held at once, all agents together; past it new ones are refused (`approval_limit`). */
export const MAX_PENDING_APPROVALS = 1000;

/** Calls one agent (or the open-mode pool) may have held at once. */
export const MAX_PENDING_PER_AGENT = 100;

const ID_PATTERN = /^[0-9a-f]{32}$/;

/** True for a well-formed approval id (checked before any store is asked). */
export function isApprovalId(value: unknown): value is string {
  return typeof value === "string" && ID_PATTERN.test(value);
}

/** A fresh approval id: 128 random bits as hex. */
export function newApprovalId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** JSON text with object keys sorted at every depth, so equal inputs hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(",")}}`;
}

/** sha256 hex of the canonical JSON of a call's input. */
export function inputSha256(input: unknown): string {
  return createHash("sha256").update(canonicalJson(input), "utf8").digest("hex");
}

/** The state as of `now`: a pending approval past its deadline is expired. */
export function effectiveState(record: ApprovalRecord, now: number): ApprovalState {
  return record.state === "pending" && now > record.deadline ? "expired" : record.state;
}

/** An approved approval may be used until this time (one more timeout after its decision). */
export function useDeadline(record: ApprovalRecord, timeoutMs: number): number {
  return (record.decided?.at ?? record.deadline) + timeoutMs;
}

/** The first difference between an approval's binding and a call, or undefined when it is the one. */
export function bindingMismatch(
  record: ApprovalBinding,
  call: ApprovalBinding,
): string | undefined {
  const fields = [
    ["door", "door"],
    ["toolName", "tool"],
    ["agentId", "agent"],
    ["modelId", "model"],
    ["sessionId", "session"],
    ["inputSha256", "input"],
  ] as const;
  for (const [field, label] of fields) {
    if (record[field] !== call[field]) return `it was given for another ${label}`;
  }
  return undefined;
}

/** The admin view of a held call (`GET /approvals`, `GET /approvals/{id}`, the dashboard). */
export function approvalView(record: ApprovalRecord, now: number): Record<string, unknown> {
  return {
    approval_id: record.id,
    status: effectiveState(record, now),
    event_id: record.eventId,
    door: record.door,
    tool_name: record.toolName,
    agent_id: record.agentId,
    model_id: record.modelId,
    session_id: record.sessionId,
    input: record.inputText,
    input_sha256: record.inputSha256,
    created_at: new Date(record.createdAt).toISOString(),
    age_ms: Math.max(0, now - record.createdAt),
    expires_at: new Date(record.deadline).toISOString(),
    decision: record.decided
      ? {
        decision: record.decided.decision,
        by: record.decided.by,
        note: record.decided.note,
        at: new Date(record.decided.at).toISOString(),
      }
      : null,
    used_at: record.usedAt === undefined ? null : new Date(record.usedAt).toISOString(),
  };
}

/** What the calling agent may see of its own held call: the outcome, not the admin's note. */
export function outcomeView(record: ApprovalRecord, now: number): Record<string, unknown> {
  return {
    approval_id: record.id,
    status: effectiveState(record, now),
    tool_name: record.toolName,
    decided_at: record.decided ? new Date(record.decided.at).toISOString() : null,
  };
}
