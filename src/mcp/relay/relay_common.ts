/** What the relay's method handlers share: dependencies, the audit line, refusals, list paging. */
import { type AuditRecorder, type GatewayState, recordEvent } from "../../pipeline.ts";
import type { Logger } from "../../log.ts";
import type { Denial } from "../../reasons.ts";
import { isValidToolName } from "../../tool_name.ts";
import type { Federation } from "../federation/federation.ts";
import { type JsonRpcId, type JsonRpcMessage, RPC, rpcError, rpcResult } from "../jsonrpc.ts";
import { scrubberFor } from "../../audit/event/scrub.ts";
import { scanSettingsFor, scanValue } from "../../scan/apply.ts";
import { resultScannerFor } from "../../scan/scan.ts";
import { withDecisionMeta } from "./tool_call.ts";
import type { McpSession, SessionStore } from "../server/session/sessions.ts";
import type { OutStream } from "../server/streams.ts";
import { type UpstreamClient, UpstreamError } from "../upstream/upstream.ts";

/** What the relay needs. */
export interface RelayDeps {
  /** The upstreams. */
  readonly federation: Federation;
  /** Gateway sessions (to route upstream notifications). */
  readonly sessions: SessionStore;
  /** The state in force. */
  readonly state: () => GatewayState;
  /** Audit sink. */
  readonly audit: AuditRecorder;
  /** Wall clock. */
  readonly clock: () => number;
  /** New event ids. */
  readonly newId: () => string;
  /** Bound on each upstream request and on waiting for the client's answers. */
  readonly upstreamTimeoutMs: number;
  /** Operational log. */
  readonly log: Logger;
  /** The session whose call is the only one in progress on `upstream`, if exactly one is: a
   * shared stdio process's notifications that name no session go to it (absent: nowhere). */
  readonly soleCaller?: (upstream: string) => { readonly stream: () => OutStream } | undefined;
}

/** A live upstream as the relay uses it. */
export type Upstream = { name: string; prefix: string; client: UpstreamClient };

/** The JSON-RPC code of a resource that is not allowed, not listed or ambiguous (MCP spec). */
export const RESOURCE_NOT_FOUND = -32002;

const MAX_PAGES = 100;

/** One audit line of the relay. */
export interface RelayAuditFields {
  /** `prompt_list`, `prompt_get`, `resource_read`, … */
  readonly event: string;
  /** The prompt's exposed name, when there is one. */
  readonly name: string | null;
  /** What was asked (redacted and truncated by the audit). */
  readonly payload: unknown;
  /** Outcome. */
  readonly status: "allowed" | "blocked" | "error";
  /** Reason code. */
  readonly reasonCode: string;
  /** Human-readable reason. */
  readonly reason: string;
}

/** Audits one relay event for a session; returns its event id. */
export function auditRelay(deps: RelayDeps, session: McpSession, fields: RelayAuditFields): string {
  return recordEvent(deps.audit, {
    event: fields.event,
    agentId: session.agentId,
    modelId: session.modelId,
    sessionId: session.auditId,
    toolName: fields.name !== null && isValidToolName(fields.name) ? fields.name : null,
    payload: fields.payload,
    status: fields.status,
    reasonCode: fields.reasonCode,
    reason: fields.reason,
    policyVersion: deps.state().policy.version,
  }, { now: deps.clock(), newId: deps.newId });
}

/**
 * Fails closed while the audit cannot be written (§12): the refusal (audited, as tools/call does)
 * when the sink is unhealthy, else undefined. Nothing reaches an upstream before this passes.
 */
export function auditGate(
  deps: RelayDeps,
  session: McpSession,
  request: { id: JsonRpcId; event: string; name: string | null; payload: unknown },
): JsonRpcMessage | undefined {
  if (deps.audit.healthy) return undefined;
  const reason = "the audit log cannot be written; refusing to relay";
  const eventId = auditRelay(deps, session, {
    event: request.event,
    name: request.name,
    payload: request.payload,
    status: "error",
    reasonCode: "audit_unavailable",
    reason,
  });
  return rpcError(request.id, RPC.INTERNAL_ERROR, `MCP-Sec Gateway: ${reason}`, {
    reason_code: "audit_unavailable",
    event_id: eventId,
  });
}

/** The JSON-RPC error of a policy refusal, audited; `code` is -32602 or -32002. */
export function policyRefusal(
  deps: RelayDeps,
  session: McpSession,
  request: { id: JsonRpcId; event: string; name: string | null; payload: unknown; code: number },
  denial: Denial,
  extra: Record<string, unknown> = {},
): JsonRpcMessage {
  const eventId = auditRelay(deps, session, {
    event: request.event,
    name: request.name,
    payload: request.payload,
    status: "blocked",
    reasonCode: denial.reasonCode,
    reason: denial.reason,
  });
  return rpcError(request.id, request.code, `Blocked by MCP-Sec Gateway: ${denial.reason}`, {
    reason_code: denial.reasonCode,
    event_id: eventId,
    ...extra,
  });
}

/** An upstream failure as a JSON-RPC error: the upstream's own error, else -32603. */
export function upstreamFailure(id: JsonRpcId, error: unknown): JsonRpcMessage {
  if (error instanceof UpstreamError && error.failure === "rpc" && error.code !== undefined) {
    return rpcError(id, error.code, error.message, error.data);
  }
  const text = error instanceof Error ? error.message : String(error);
  return rpcError(id, RPC.INTERNAL_ERROR, `Upstream failure: ${text.slice(0, 300)}`);
}

/**
 * Reads every page of an upstream list (`prompts/list`, `resources/list`, …) on the session's
 * upstream session, keeping at most `maxItems`. `complete` is false when the upstream could not be
 * reached or timed out (a JSON-RPC error answer counts as an empty, complete list).
 */
export async function listAll(
  deps: RelayDeps,
  upstream: Upstream,
  sessionKey: string,
  list: { method: string; key: string; maxItems: number },
): Promise<{ items: Record<string, unknown>[]; complete: boolean }> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await upstream.client.request(
        sessionKey,
        list.method,
        cursor === undefined ? undefined : { cursor },
        { timeoutMs: deps.upstreamTimeoutMs },
      );
      const found = result[list.key];
      if (Array.isArray(found)) {
        for (const item of found) {
          if (typeof item === "object" && item !== null && items.length < list.maxItems) {
            items.push(item);
          }
        }
      }
      cursor = typeof result.nextCursor === "string" && result.nextCursor !== ""
        ? result.nextCursor
        : undefined;
      if (cursor === undefined) break;
    }
  } catch (error) {
    deps.log.debug(`Upstream "${upstream.name}" ${list.method}: ${(error as Error).message}`);
    const answered = error instanceof UpstreamError && error.failure === "rpc";
    return { items: answered ? [] : items, complete: answered };
  }
  return { items, complete: true };
}

/**
 * Result scanning (§15) of relayed prompt and resource contents, under the caller's rule: the
 * answer unchanged when nothing matched; flagged or redacted (`_meta["mcp-sec-gateway/decision"]`
 * and one more audit line); or, in block mode, a JSON-RPC error with `code` (audited `blocked`).
 * An upstream's own decision key in `_meta` is dropped either way.
 */
export function scannedRelayAnswer(
  deps: RelayDeps,
  session: McpSession,
  request: { id: JsonRpcId; event: string; name: string | null; payload: unknown; code: number },
  result: Record<string, unknown>,
  what: string,
): JsonRpcMessage {
  const policy = deps.state().policy;
  const scanned = scanValue(
    result,
    scanSettingsFor(policy, session.modelId),
    resultScannerFor(scrubberFor(policy)),
    what,
  );
  const finding = scanned.finding;
  if (finding === undefined) {
    return rpcResult(request.id, withDecisionMeta(result, undefined, ""));
  }
  const eventId = auditRelay(deps, session, {
    event: request.event,
    name: request.name,
    payload: request.payload,
    status: finding.status,
    reasonCode: finding.reasonCode,
    reason: finding.reason,
  });
  if (finding.status === "blocked") {
    return rpcError(request.id, request.code, `Blocked by MCP-Sec Gateway: ${finding.reason}`, {
      reason_code: finding.reasonCode,
      event_id: eventId,
      flags: { secrets: [...finding.flags.secrets], injection: [...finding.flags.injection] },
    });
  }
  return rpcResult(request.id, withDecisionMeta(scanned.value, finding, eventId));
}
