/** One upstream tool call through the whole pipeline: shared by `/mcp` and `/mcp/toolcall`. */
import type { Limiter } from "../../limits/limiter.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import {
  type AuditRecorder,
  checkAgainst,
  decide,
  denialVerdict,
  type GatewayState,
  pickSchema,
  recordAudit,
  recordForwarded,
  type Verdict,
} from "../../pipeline.ts";
import type { ExposedTool, Federation } from "../federation/federation.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../jsonrpc.ts";
import { ToolRefusedError, UpstreamError } from "../upstream/upstream.ts";
import { secretValues } from "../../audit/event/redact.ts";
import { type Scrubber, scrubberFor } from "../../audit/event/scrub.ts";
import { type AuditPayload, preparePayload } from "../../audit/event/event.ts";
import type { ApprovalRecord } from "../../approvals/approval.ts";
import {
  type ApprovalGateDeps,
  bindingOf,
  decisionText,
  useApproval,
} from "../../approvals/gate.ts";
import { needsApproval } from "../../policy/evaluate.ts";
import { approvalStep } from "./tool_call_approval.ts";
import { NO_LIMITS } from "../../limits/no_limits.ts";
import { type ScanFinding, scanSettingsFor, scanValue } from "../../scan/apply.ts";
import { resultScannerFor } from "../../scan/scan.ts";

/** The `_meta` key carrying the gateway's decision (refusals, and flagged results, §15). */
export const DECISION_META_KEY = "mcp-sec-gateway/decision";

/** What executing a call needs. */
export interface ToolCallDeps {
  /** The state in force (read once per call). */
  readonly state: () => GatewayState;
  /** Caps and windows. */
  readonly limiter: Limiter;
  /** Audit sink. */
  readonly audit: AuditRecorder;
  /** The upstreams. */
  readonly federation: Federation;
  /** Wall clock. */
  readonly clock: () => number;
  /** Monotonic ms. */
  readonly monotonic: () => number;
  /** New event ids. */
  readonly newId: () => string;
  /** Metrics. */
  readonly metrics: Metrics;
  /** Operational log. */
  readonly log: Logger;
  /** Bound on each upstream request. */
  readonly upstreamTimeoutMs: number;
  /** Human approval (§15); undefined = no call is ever held (tests of other features). */
  readonly approvals?: ApprovalGateDeps;
}

/** One call to execute. */
export interface ToolCallRequest {
  /** Agent, or null in open identity mode. */
  readonly agentId: string | null;
  /** Model acting. */
  readonly modelId: string;
  /** Session as written in the audit (`mcp-…` for proxy sessions). */
  readonly sessionId: string;
  /** Key of the upstream session to use (one per gateway or decision-API session). */
  readonly sessionKey: string;
  /** The exposed tool name (already checked with `isValidToolName`). */
  readonly toolName: string;
  /** The call's arguments. */
  readonly args: Record<string, unknown>;
  /** The client's `_meta` (e.g. `progressToken`), forwarded upstream. */
  readonly meta?: Record<string, unknown>;
  /** Aborts the upstream call (client cancelled or went away). */
  readonly signal?: AbortSignal;
  /** Notifications the upstream sends about this call (progress, logging). */
  readonly onNotification?: (notification: JsonRpcNotification) => void;
  /** Requests the upstream sends back during the call (sampling, elicitation, roots). */
  readonly onRequest?: (request: JsonRpcRequest) => Promise<Record<string, unknown>>;
  /** The upstream paused the call's stream (SSE polling); see `UpstreamRequestOptions`. */
  readonly onPause?: (retryMs: number) => void;
  /**
   * A call held for approval (§15): `wait` (the MCP client waits; default), `answer` (the
   * decision API answers 202 at once), or `use` an approval given for this exact call.
   */
  readonly approval?: { readonly mode: "wait" | "answer" } | {
    readonly mode: "use";
    readonly id: string;
  };
}

/** The outcome: an unknown tool, or a verdict (with the upstream's result when allowed). */
export type ToolCallOutcome =
  | { kind: "unknown_tool"; reason: string; eventId: string }
  | { kind: "pending"; approvalId: string; reason: string; eventId: string }
  | {
    kind: "decided";
    verdict: Verdict;
    eventId: string;
    result?: Record<string, unknown>;
    /** What result scanning found (§15), when a detector matched. */
    flags?: ScanFinding["flags"];
  };

/**
 * The result as the agent receives it: an upstream's own `_meta["mcp-sec-gateway/decision"]` is
 * dropped (it could forge the gateway's word), and a flagged or redacted result carries the
 * gateway's decision there (§15).
 */
export function withDecisionMeta(
  result: Record<string, unknown>,
  finding: ScanFinding | undefined,
  eventId: string,
): Record<string, unknown> {
  const meta = result._meta;
  const metaObject = typeof meta === "object" && meta !== null && !Array.isArray(meta)
    ? meta as Record<string, unknown>
    : undefined;
  const forged = metaObject !== undefined && Object.hasOwn(metaObject, DECISION_META_KEY);
  if (finding === undefined && !forged) return result;
  const rest = { ...metaObject };
  delete rest[DECISION_META_KEY];
  const decision = finding === undefined ? {} : {
    [DECISION_META_KEY]: {
      reason_code: finding.reasonCode,
      event_id: eventId,
      flags: { secrets: [...finding.flags.secrets], injection: [...finding.flags.injection] },
    },
  };
  const merged = { ...rest, ...decision };
  const out = { ...result };
  if (Object.keys(merged).length === 0) delete out._meta;
  else out._meta = merged;
  return out;
}

function describeUpstreamError(error: unknown, scrubber: Scrubber): Verdict {
  // Refused on a re-check after the upstream (re)initialized: the call was never sent.
  if (error instanceof ToolRefusedError) return denialVerdict(error.denial);
  if (error instanceof UpstreamError) {
    // Scrubbed before the cut, so that no secret is left half-cut and unrecognisable (§12).
    const text = scrubber.text(error.message);
    const message = text.length > 300 ? text.slice(0, 300) + "…" : text;
    return error.failure === "timeout"
      ? { status: "error", reasonCode: "upstream_timeout", reason: message }
      : { status: "error", reasonCode: "upstream_error", reason: message };
  }
  return { status: "error", reasonCode: "upstream_error", reason: "upstream call failed" };
}

/** Checks an upstream `CallToolResult` against the output schema that applies (§5.3). */
export function checkCallResult(
  result: Record<string, unknown>,
  tool: ExposedTool,
  state: GatewayState,
): Verdict | undefined {
  if (!Array.isArray(result.content) && result.content !== undefined) {
    return {
      status: "error",
      reasonCode: "upstream_error",
      reason: "the upstream answered a malformed CallToolResult (content is not an array)",
    };
  }
  if (result.isError === true) return undefined;
  const local = state.schemas.output(tool.exposed);
  const schema = pickSchema(tool.exposed, local, tool.outputSchema);
  if (schema.kind === "invalid") return schema.verdict;
  if (result.structuredContent === undefined) {
    if (schema.kind === "none") return undefined;
    return {
      status: "blocked",
      reasonCode: "output_invalid",
      reason: `"${tool.exposed}" declares an output schema but returned no structuredContent`,
    };
  }
  if (schema.kind === "none") return undefined;
  return checkAgainst(schema.validator, result.structuredContent, tool.exposed, "output");
}

/**
 * Resolves the tool, decides (policy, pin, limits, input schema), writes the write-ahead
 * `forwarded` line to the audit file (§12; not forwarded when that fails), forwards it upstream,
 * checks the result, writes the closing line (same `event_id`, with `upstream_ms`), and returns
 * the outcome. Never throws.
 */
export async function executeToolCall(
  request: ToolCallRequest,
  deps: ToolCallDeps,
): Promise<ToolCallOutcome> {
  const started = deps.monotonic();
  let now = deps.clock();
  let state = deps.state();
  let upstreamMs: number | null = null;
  // Time spent waiting for a person (§15): not the gateway's own latency.
  let heldMs = 0;
  // Configured upstream credentials (compiled once per policy), plus this call's own secret
  // argument values when it has any: none of them is ever echoed (§12).
  const policyScrubber = scrubberFor(state.policy);
  let scrubber: Scrubber | undefined;
  const scrub = (): Scrubber => scrubber ??= policyScrubber.with(secretValues(request.args));
  // The payload of both lines of a forwarded call, redacted, serialised and hashed once.
  let prepared: AuditPayload | undefined;
  const auditPayload = (): AuditPayload => prepared ??= preparePayload(request.args, scrub());
  // Set once the write-ahead line is queued: the closing line then carries the same id.
  let forwardedId: string | undefined;
  const finish = (
    decided: Verdict,
    upstreamResult?: Record<string, unknown>,
    finding?: ScanFinding,
  ): ToolCallOutcome => {
    const clean = scrub();
    const reason = clean.text(decided.reason);
    const verdict = reason === decided.reason ? decided : { ...decided, reason };
    // The upstream client already took its configured credentials out (upstream_scrub.ts); what
    // is left to take out of a result is the call's own secret arguments, when it has any.
    const result = upstreamResult && clean !== policyScrubber
      ? clean.valuesDeep(upstreamResult)
      : upstreamResult;
    const latencyMs = deps.monotonic() - started - (upstreamMs ?? 0) - heldMs;
    const eventId = recordAudit(deps.audit, {
      event: "toolcall",
      agentId: request.agentId,
      modelId: request.modelId,
      sessionId: request.sessionId,
      toolName: request.toolName,
      payload: request.args,
      status: verdict.status,
      reasonCode: verdict.reasonCode,
      reason: verdict.reason,
      latencyMs,
      upstreamMs,
      policyVersion: state.policy.version,
    }, { now, newId: deps.newId, eventId: forwardedId, scrubber: clean, prepared: auditPayload() });
    deps.metrics.observe({
      status: verdict.status,
      reasonCode: verdict.reasonCode,
      modelId: request.modelId,
      toolName: request.toolName,
      latencyMs,
    });
    if (verdict.reasonCode === "unknown_tool") {
      return { kind: "unknown_tool", reason: verdict.reason, eventId };
    }
    return {
      kind: "decided",
      verdict,
      eventId,
      ...(result ? { result: withDecisionMeta(result, finding, eventId) } : {}),
      ...(finding ? { flags: finding.flags } : {}),
    };
  };

  if (!deps.audit.healthy) {
    return finish({
      status: "error",
      reasonCode: "audit_unavailable",
      reason: "the audit log cannot be written; refusing to decide",
    });
  }
  try {
    const resolved = await deps.federation.resolve(request.toolName);
    if (resolved.kind === "unknown") {
      return finish({
        status: "error",
        reasonCode: "unknown_tool",
        reason: `unknown tool "${request.toolName}"`,
      });
    }
    const facts = {
      kind: "toolcall" as const,
      agentId: request.agentId,
      modelId: request.modelId,
      sessionId: request.sessionId,
      toolName: request.toolName,
      payload: request.args,
    };
    let approved: ApprovalRecord | undefined;
    if (request.approval?.mode === "use") {
      // The decision API's second POST (§15): the approval must be for exactly this call, and is
      // used up now whatever follows. The held call already counted against caps and windows.
      if (deps.approvals === undefined) {
        return finish({ status: "error", reasonCode: "approval_conflict", reason: "no approvals" });
      }
      const used = await useApproval(deps.approvals, request.approval.id, {
        call: bindingOf({
          door: "api",
          toolName: request.toolName,
          agentId: request.agentId,
          modelId: request.modelId,
          sessionId: request.sessionId,
        }, request.args),
        now,
      });
      if (!used.ok) return finish(used.verdict);
      approved = used.record;
    }
    const decided = await decide(facts, state, {
      limiter: approved ? NO_LIMITS : deps.limiter,
      now,
      upstream: resolved.kind === "tool"
        ? {
          definitionChanged: resolved.tool.pinState === "changed" &&
            state.policy.pinning.mode === "block",
          refusal: resolved.denial,
          inputSchema: resolved.tool.inputSchema,
        }
        : undefined,
    });
    if (decided.status !== "allowed") return finish(decided);
    if (resolved.kind === "unavailable") {
      if (resolved.reasonCode === "state_unavailable") {
        return finish({
          status: "error",
          reasonCode: "state_unavailable",
          reason: resolved.reason,
        });
      }
      deps.metrics.upstreamError(resolved.upstream);
      return finish({ status: "error", reasonCode: "upstream_error", reason: resolved.reason });
    }
    const { tool, client } = resolved;
    forwardedId = deps.newId();
    let verdict = approved
      ? { ...decided, reason: `${decided.reason}; ${decisionText(approved)}` }
      : decided;
    if (
      approved === undefined && deps.approvals !== undefined &&
      needsApproval(state.policy, request.modelId, request.toolName)
    ) {
      const step = await approvalStep(request, verdict, {
        gate: deps.approvals,
        audit: deps.audit,
        clock: deps.clock,
        monotonic: deps.monotonic,
        state: deps.state,
        scrubber: scrub(),
        eventId: forwardedId,
        latencyMs: deps.monotonic() - started,
      });
      if (step.kind === "pending") return { ...step, eventId: forwardedId };
      heldMs = step.heldMs;
      now = deps.clock();
      if (step.kind === "refused") return finish(step.verdict);
      verdict = step.verdict;
      state = deps.state();
    }
    try {
      // Write-ahead (§12): the line is in the file before the upstream can act on the call.
      await recordForwarded(deps.audit, {
        event: "toolcall",
        agentId: request.agentId,
        modelId: request.modelId,
        sessionId: request.sessionId,
        toolName: request.toolName,
        payload: request.args,
        reason: `${verdict.reason}; forwarded to upstream "${tool.upstream}"`,
        latencyMs: deps.monotonic() - started,
        policyVersion: state.policy.version,
      }, { now, eventId: forwardedId, scrubber: scrub(), prepared: auditPayload() });
    } catch {
      return finish({
        status: "error",
        reasonCode: "audit_unavailable",
        reason: "the audit log cannot be written; the call was not forwarded",
      });
    }
    const upstreamStarted = deps.monotonic();
    let result: Record<string, unknown>;
    try {
      result = await client.request(request.sessionKey, "tools/call", {
        name: tool.definition.name,
        arguments: request.args,
        ...(request.meta ? { _meta: request.meta } : {}),
      }, {
        timeoutMs: deps.upstreamTimeoutMs,
        signal: request.signal,
        onNotification: request.onNotification,
        onRequest: request.onRequest,
        onPause: request.onPause,
      });
    } catch (error) {
      upstreamMs = deps.monotonic() - upstreamStarted;
      deps.metrics.upstreamError(tool.upstream);
      return finish(describeUpstreamError(error, scrub()));
    }
    upstreamMs = deps.monotonic() - upstreamStarted;
    if (!deps.audit.healthy) {
      // The closing line cannot be written now: no answer that looks like success goes out.
      return finish({
        status: "error",
        reasonCode: "audit_unavailable",
        reason: "the audit log cannot be written; the upstream's answer is withheld",
      });
    }
    const failure = checkCallResult(result, tool, state);
    if (failure) return finish(failure);
    // Result scanning (§15), under the scan_results of the rule that allowed the call.
    const scanned = scanValue(
      result,
      scanSettingsFor(state.policy, request.modelId),
      resultScannerFor(policyScrubber),
    );
    const finding = scanned.finding;
    if (finding?.status === "blocked") {
      return finish(
        {
          status: "blocked",
          reasonCode: finding.reasonCode,
          reason: `${finding.reason} (upstream "${tool.upstream}")`,
        },
        undefined,
        finding,
      );
    }
    if (result.isError === true) {
      // The call was allowed and ran; the tool itself failed. Visible in the audit (issue 11).
      const failed = `the tool reported an error (isError) on upstream "${tool.upstream}"`;
      return finish(
        {
          status: "allowed",
          reasonCode: finding?.reasonCode ?? "tool_error",
          reason: finding ? `${finding.reason}; ${failed}` : failed,
        },
        scanned.value,
        finding,
      );
    }
    return finish(
      {
        status: "allowed",
        reasonCode: finding?.reasonCode ?? "ok",
        reason: `${
          finding ? `${finding.reason}; ` : ""
        }${verdict.reason}; executed on upstream "${tool.upstream}"`,
      },
      scanned.value,
      finding,
    );
  } catch (error) {
    deps.log.error(`Tool call failed: ${error instanceof Error ? error.message : String(error)}`);
    return finish({ status: "error", reasonCode: "internal_error", reason: "internal error" });
  }
}
