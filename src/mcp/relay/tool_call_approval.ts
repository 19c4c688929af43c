/**
 * The human-approval step of a tool call (§15), between the decision and the write-ahead line:
 * hold the call, then wait for a person (the MCP client, kept alive with progress) or answer
 * pending (the decision API). Kept out of `tool_call.ts` so that the call path reads straight.
 */
import {
  type ApprovalGateDeps,
  decisionText,
  holdCall,
  waitForDecision,
} from "../../approvals/gate.ts";
import type { Scrubber } from "../../audit/event/scrub.ts";
import { evaluatePolicy } from "../../policy/evaluate.ts";
import { denialVerdict, type Verdict } from "../../pipeline.ts";
import type { ToolCallDeps, ToolCallRequest } from "./tool_call.ts";

/** What the approval step decided: go on (with the approver in `reason`), refuse, or pending. */
export type ApprovalStep =
  | { readonly kind: "go"; readonly verdict: Verdict; readonly heldMs: number }
  | { readonly kind: "refused"; readonly verdict: Verdict; readonly heldMs: number }
  | { readonly kind: "pending"; readonly approvalId: string; readonly reason: string };

/** What the step needs from the call path. */
export interface ApprovalStepContext
  extends Pick<ToolCallDeps, "audit" | "clock" | "monotonic" | "state"> {
  /** Approvals store and timings. */
  readonly gate: ApprovalGateDeps;
  /** This call's scrubber. */
  readonly scrubber: Scrubber;
  /** The call's audit `event_id` (pending, forwarded and closing lines share it). */
  readonly eventId: string;
  /** Gateway latency so far. */
  readonly latencyMs: number;
}

/** The `notifications/progress` sender for a client that gave a `progressToken`, if any. */
function progressSender(request: ToolCallRequest): ((count: number) => void) | undefined {
  const token = request.meta?.progressToken;
  const send = request.onNotification;
  if ((typeof token !== "string" && typeof token !== "number") || send === undefined) {
    return undefined;
  }
  return (count) =>
    send({
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: {
        progressToken: token,
        progress: count,
        message: `Waiting for a person to approve ${request.toolName}`,
      },
    });
}

/** Holds an allowed call for approval and waits for the outcome (or answers pending). */
export async function approvalStep(
  request: ToolCallRequest,
  verdict: Verdict,
  context: ApprovalStepContext,
): Promise<ApprovalStep> {
  const { gate } = context;
  const answerNow = request.approval?.mode === "answer";
  const held = await holdCall(gate, {
    binding: {
      door: answerNow ? "api" : "mcp",
      toolName: request.toolName,
      agentId: request.agentId,
      modelId: request.modelId,
      sessionId: request.sessionId,
    },
    args: request.args,
    eventId: context.eventId,
    reason: verdict.reason,
    policyVersion: context.state().policy.version,
    latencyMs: context.latencyMs,
  }, { audit: context.audit, now: context.clock(), scrubber: context.scrubber });
  if (!held.ok) return { kind: "refused", verdict: held.verdict, heldMs: 0 };
  if (answerNow) {
    return {
      kind: "pending",
      approvalId: held.record.id,
      reason: `${request.toolName} waits for a person's approval (approval ${held.record.id})`,
    };
  }
  const started = context.monotonic();
  const waited = await waitForDecision(gate, held.record, {
    clock: context.clock,
    signal: request.signal,
    onProgress: progressSender(request),
  });
  const heldMs = context.monotonic() - started;
  if (waited.kind === "refused") return { kind: "refused", verdict: waited.verdict, heldMs };
  // The policy may have changed while the call waited: the one in force now decides.
  const again = evaluatePolicy(context.state().policy, request, context.clock());
  if (again.kind === "deny") {
    return { kind: "refused", verdict: denialVerdict(again.denial), heldMs };
  }
  if (!context.audit.healthy) {
    return {
      kind: "refused",
      verdict: {
        status: "error",
        reasonCode: "audit_unavailable",
        reason: "the audit log cannot be written; the approved call was not forwarded",
      },
      heldMs,
    };
  }
  return {
    kind: "go",
    verdict: { ...verdict, reason: `${verdict.reason}; ${decisionText(waited.record)}` },
    heldMs,
  };
}
