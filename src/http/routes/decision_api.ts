/** `POST /mcp/toolcall` and `POST /mcp/toolresult` (§4): a thin adapter over the pipeline. */
import { agentMayUseModel } from "../../identity/identify.ts";
import { authenticate } from "../../identity/authenticate.ts";
import { decide, type GatewayState, recordAudit, type Verdict } from "../../pipeline.ts";
import { type ReasonCode, REASONS } from "../../reasons.ts";
import { readJsonBody } from "../body.ts";
import type { AppDeps } from "../deps.ts";
import { answer, pendingAnswer } from "../errors.ts";
import { bindingOf, decisionText, holdCall, useApproval } from "../../approvals/gate.ts";
import { needsApproval } from "../../policy/evaluate.ts";
import { NO_LIMITS } from "../../limits/no_limits.ts";
import { scrubberFor } from "../../audit/event/scrub.ts";
import { secretValues } from "../../audit/event/redact.ts";
import { checkDecisionBody, type PartialFacts } from "../request_shape.ts";
import { executeToolCall, type ToolCallDeps } from "../../mcp/relay/tool_call.ts";
import { createDoorGuard, doorRefusalReason } from "../../mcp/server/http_guard.ts";
import { apiSessionKey } from "../../mcp/server/session/idle_keys.ts";
import { type ScanFlags, scanSettingsFor, scanValue } from "../../scan/apply.ts";
import { resultScannerFor } from "../../scan/scan.ts";

/** The tool-call dependencies drawn from the app's. */
export function toolCallDeps(deps: AppDeps): ToolCallDeps {
  return {
    state: () => deps.store.current,
    limiter: deps.limiter,
    audit: deps.audit,
    federation: deps.federation,
    clock: deps.clock,
    monotonic: deps.monotonic,
    newId: deps.newId,
    metrics: deps.metrics,
    log: deps.log,
    upstreamTimeoutMs: deps.upstreamTimeoutMs,
    approvals: deps.approvals,
  };
}

const NO_FACTS: PartialFacts = { modelId: null, sessionId: null, toolName: null };

/** One request to a decision endpoint, as the steps below see it. */
interface DecisionRequest {
  readonly kind: "toolcall" | "toolresult";
  readonly deps: AppDeps;
  /** `deps.monotonic()` when the request came in. */
  readonly started: number;
  /** `deps.clock()` when the request came in: one time for the whole decision. */
  readonly now: number;
  /** The policy and schemas the whole decision uses, even if a reload lands meanwhile. */
  readonly state: GatewayState;
}

/** What an answer's audit event and body carry beyond the verdict. */
interface AnswerExtra {
  agentId?: string | null;
  event?: string;
  payload?: unknown;
  scan?: ScanFlags;
  output?: unknown;
  wwwAuthenticate?: string;
}

/** Creates the handler for one of the two decision endpoints. */
export function decisionHandler(
  kind: "toolcall" | "toolresult",
  deps: AppDeps,
): (request: Request) => Promise<Response> {
  const execution = toolCallDeps(deps);
  const door = createDoorGuard(deps);
  return async (request) => {
    const call: DecisionRequest = {
      kind,
      deps,
      started: deps.monotonic(),
      now: deps.clock(),
      state: deps.store.current,
    };
    // DNS rebinding and browser pages (§12): a foreign Host or Origin is refused before the body
    // is read, before identity, before any upstream.
    const refusal = door.check(request.headers, request.url);
    if (refusal !== null) {
      return finish(call, refused(refusal, doorRefusalReason(refusal)), NO_FACTS);
    }
    const body = await readJsonBody(request, deps.maxBodyBytes);
    if (!body.ok) return finish(call, refused(body.reasonCode, body.reason), NO_FACTS);
    const shape = checkDecisionBody(body.value, kind === "toolcall" ? "input" : "output");
    if (!shape.ok) return finish(call, refused("bad_request", shape.reason), shape.facts);
    const { modelId, sessionId, toolName, payload, approvalId } = shape.body;
    const facts = { modelId, sessionId, toolName };

    let agentId: string | null = null;
    if (call.state.policy.agents !== null) {
      const identified = await identify(call, request, facts);
      if (identified instanceof Response) return identified;
      agentId = identified;
    }
    if (!deps.audit.healthy) {
      return finish(
        call,
        refused("audit_unavailable", "the audit log cannot be written; refusing to decide"),
        facts,
        { agentId, payload },
      );
    }
    if (kind === "toolcall" && deps.federation.claims(toolName)) {
      // A tool of a configured upstream: run it there (§4), one upstream session per session_id.
      return await runUpstream(call, execution, {
        agentId,
        modelId,
        sessionId,
        toolName,
        payload,
        approvalId,
      });
    }
    // Human approval (§15): a re-POST uses an approval given for exactly this call.
    let approvedText: string | undefined;
    if (approvalId !== undefined) {
      const binding = { door: "api" as const, toolName, agentId, modelId, sessionId };
      const used = deps.approvals === undefined
        ? { ok: false as const, verdict: refused("approval_conflict", "no approvals") }
        : await useApproval(deps.approvals, approvalId, {
          call: bindingOf(binding, payload),
          now: call.now,
        });
      if (!used.ok) return finish(call, used.verdict, facts, { agentId, payload });
      approvedText = decisionText(used.record);
    }
    let verdict: Verdict;
    try {
      const decided = decide(
        { kind, agentId, modelId, sessionId, toolName, payload },
        call.state,
        // A used approval's call was counted when it was held.
        { limiter: approvedText === undefined ? deps.limiter : NO_LIMITS, now: call.now },
      );
      // The in-memory limiter answers at once: no promise, no extra turn of the event loop.
      verdict = decided instanceof Promise ? await decided : decided;
    } catch (error) {
      deps.log.error(`Decision failed: ${error instanceof Error ? error.message : String(error)}`);
      verdict = refused("internal_error", "internal error");
    }
    if (verdict.status === "allowed") {
      if (approvedText !== undefined) {
        verdict = { ...verdict, reason: `${verdict.reason}; ${approvedText}` };
      } else if (
        kind === "toolcall" && deps.approvals !== undefined &&
        needsApproval(call.state.policy, modelId, toolName)
      ) {
        return await holdForApproval(call, verdict, {
          agentId,
          modelId,
          sessionId,
          toolName,
          payload,
        });
      }
    }
    if (kind === "toolresult" && verdict.status === "allowed") {
      const scanned = scanOutput(call, verdict, { agentId, modelId, sessionId, toolName, payload });
      if (scanned !== null) return scanned;
    }
    return finish(call, verdict, facts, { agentId, payload });
  };
}

/** The fields of a well-formed decision request, with the caller's agent. */
interface CallFacts {
  readonly agentId: string | null;
  readonly modelId: string;
  readonly sessionId: string;
  readonly toolName: string;
  readonly payload: Record<string, unknown>;
}

/** Audits the decision, counts it in the metrics and answers it. */
function finish(
  call: DecisionRequest,
  verdict: Verdict,
  facts: PartialFacts,
  extra: AnswerExtra = {},
): Response {
  const { deps } = call;
  const latencyMs = deps.monotonic() - call.started;
  const eventId = recordAudit(deps.audit, {
    event: extra.event ?? call.kind,
    agentId: extra.agentId ?? null,
    modelId: facts.modelId,
    sessionId: facts.sessionId,
    toolName: facts.toolName,
    payload: extra.payload ?? null,
    status: verdict.status,
    reasonCode: verdict.reasonCode,
    reason: verdict.reason,
    latencyMs,
    policyVersion: call.state.policy.version,
  }, { now: call.now, newId: deps.newId });
  deps.metrics.observe({
    status: verdict.status,
    reasonCode: verdict.reasonCode,
    modelId: facts.modelId,
    toolName: facts.toolName,
    latencyMs,
  });
  const response = answer(verdict.reasonCode, verdict.reason, {
    eventId,
    retryAfterMs: verdict.retryAfterMs,
    status: verdict.status,
    scan: extra.scan,
    output: extra.output,
  });
  if (extra.wwwAuthenticate !== undefined) {
    response.headers.set("www-authenticate", extra.wwwAuthenticate);
  }
  return response;
}

function refused(reasonCode: ReasonCode, reason: string): Verdict {
  return { status: REASONS[reasonCode].status, reasonCode, reason };
}

/** The caller's agent id, or the audited refusal: an agent key answers at once, an OAuth
 * token (§14) after its verification; the agent must be allowed the model it names. */
async function identify(
  call: DecisionRequest,
  request: Request,
  facts: PartialFacts & { readonly modelId: string },
): Promise<string | Response> {
  const policy = call.state.policy;
  const pending = authenticate(
    request.headers.get("authorization"),
    policy,
    call.deps.oauth?.verifierFor(policy),
  );
  const identity = pending instanceof Promise ? await pending : pending;
  if (!identity.ok) {
    return finish(call, refused(identity.reasonCode, identity.reason), facts, {
      event: "auth_failure",
      wwwAuthenticate: identity.wwwAuthenticate,
    });
  }
  const agent = identity.agent!;
  if (!agentMayUseModel(agent, facts.modelId)) {
    return finish(
      call,
      refused("forbidden_model", `agent "${agent.id}" may not act as model "${facts.modelId}"`),
      facts,
      { event: "auth_failure", agentId: agent.id },
    );
  }
  return agent.id;
}

/** Runs a tool of a configured upstream through the relay's `tools/call` path (audited there). */
async function runUpstream(
  call: DecisionRequest,
  execution: ToolCallDeps,
  facts: CallFacts & { approvalId: string | undefined },
): Promise<Response> {
  const { deps } = call;
  const { agentId, sessionId, approvalId } = facts;
  const sessionKey = apiSessionKey(agentId, sessionId);
  // Bounded per agent (§12): past MAX_SESSIONS_PER_AGENT its least recently used one closes.
  const evicted = deps.apiSessions.touch(sessionKey, call.now, agentId);
  if (evicted !== undefined) void deps.federation.closeSession(evicted);
  const outcome = await executeToolCall({
    agentId,
    modelId: facts.modelId,
    sessionId,
    sessionKey,
    toolName: facts.toolName,
    args: facts.payload,
    approval: approvalId === undefined ? { mode: "answer" } : { mode: "use", id: approvalId },
  }, execution);
  if (outcome.kind === "unknown_tool") {
    return answer("unknown_tool", outcome.reason, { eventId: outcome.eventId });
  }
  if (outcome.kind === "pending") return pendingAnswer(outcome);
  const { verdict } = outcome;
  return answer(verdict.reasonCode, verdict.reason, {
    eventId: outcome.eventId,
    retryAfterMs: verdict.retryAfterMs,
    result: outcome.result,
    status: verdict.status,
    scan: outcome.flags,
  });
}

/** Holds an allowed call that needs a person's approval (§15): answered 202 with its id. */
async function holdForApproval(
  call: DecisionRequest,
  verdict: Verdict,
  facts: CallFacts,
): Promise<Response> {
  const { deps, state } = call;
  const { agentId, modelId, sessionId, toolName, payload } = facts;
  const eventId = deps.newId();
  const held = await holdCall(deps.approvals!, {
    binding: { door: "api", toolName, agentId, modelId, sessionId },
    args: payload,
    eventId,
    reason: verdict.reason,
    policyVersion: state.policy.version,
    latencyMs: deps.monotonic() - call.started,
  }, {
    audit: deps.audit,
    now: call.now,
    scrubber: scrubberFor(state.policy).with(secretValues(payload)),
  });
  if (!held.ok) return finish(call, held.verdict, facts, { agentId, payload });
  return pendingAnswer({
    approvalId: held.record.id,
    eventId,
    reason: `${toolName} waits for a person's approval (approval ${held.record.id})`,
  });
}

/** Result scanning (§15): the output the agent is about to read, under its rule's settings; the
 * answer when something was found, null when nothing was. */
function scanOutput(call: DecisionRequest, verdict: Verdict, facts: CallFacts): Response | null {
  const policy = call.state.policy;
  const { agentId, payload } = facts;
  const scanned = scanValue(
    payload,
    scanSettingsFor(policy, facts.modelId),
    resultScannerFor(scrubberFor(policy)),
    "the output",
  );
  const finding = scanned.finding;
  if (finding === undefined) return null;
  const redacted = scanned.value !== payload;
  return finish(
    call,
    {
      status: finding.status,
      reasonCode: finding.reasonCode,
      reason: finding.status === "allowed"
        ? `${finding.reason}; ${verdict.reason}`
        : finding.reason,
    },
    facts,
    {
      agentId,
      payload: scanned.value,
      scan: finding.flags,
      ...(redacted ? { output: scanned.value } : {}),
    },
  );
}
