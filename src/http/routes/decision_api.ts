/** `POST /mcp/toolcall` and `POST /mcp/toolresult` (§4): a thin adapter over the pipeline. */
import { agentMayUseModel } from "../../identity/identify.ts";
import { authenticate } from "../../identity/authenticate.ts";
import { decide, recordAudit, type Verdict } from "../../pipeline.ts";
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

/** Creates the handler for one of the two decision endpoints. */
export function decisionHandler(
  kind: "toolcall" | "toolresult",
  deps: AppDeps,
): (request: Request) => Promise<Response> {
  const execution = toolCallDeps(deps);
  const door = createDoorGuard(deps);
  return async (request) => {
    const started = deps.monotonic();
    const now = deps.clock();
    const state = deps.store.current;
    const finish = (
      verdict: Verdict,
      facts: PartialFacts,
      extra: {
        agentId?: string | null;
        event?: string;
        payload?: unknown;
        scan?: ScanFlags;
        output?: unknown;
        wwwAuthenticate?: string;
      } = {},
    ): Response => {
      const latencyMs = deps.monotonic() - started;
      const eventId = recordAudit(deps.audit, {
        event: extra.event ?? kind,
        agentId: extra.agentId ?? null,
        modelId: facts.modelId,
        sessionId: facts.sessionId,
        toolName: facts.toolName,
        payload: extra.payload ?? null,
        status: verdict.status,
        reasonCode: verdict.reasonCode,
        reason: verdict.reason,
        latencyMs,
        policyVersion: state.policy.version,
      }, { now, newId: deps.newId });
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
    };
    const refuse = (reasonCode: ReasonCode, reason: string): Verdict => ({
      status: REASONS[reasonCode].status,
      reasonCode,
      reason,
    });

    // DNS rebinding and browser pages (§12): a foreign Host or Origin is refused before the body
    // is read, before identity, before any upstream.
    const refusal = door.check(request.headers, request.url);
    if (refusal !== null) return finish(refuse(refusal, doorRefusalReason(refusal)), NO_FACTS);
    const body = await readJsonBody(request, deps.maxBodyBytes);
    if (!body.ok) return finish(refuse(body.reasonCode, body.reason), NO_FACTS);
    const shape = checkDecisionBody(body.value, kind === "toolcall" ? "input" : "output");
    if (!shape.ok) return finish(refuse("bad_request", shape.reason), shape.facts);
    const { modelId, sessionId, toolName, payload, approvalId } = shape.body;
    const facts: PartialFacts = { modelId, sessionId, toolName };

    let agentId: string | null = null;
    if (state.policy.agents !== null) {
      // An agent key answers at once; an OAuth token (§14) after its verification.
      const authorization = request.headers.get("authorization");
      const pending = authenticate(
        authorization,
        state.policy,
        deps.oauth?.verifierFor(state.policy),
      );
      const identity = pending instanceof Promise ? await pending : pending;
      if (!identity.ok) {
        return finish(
          {
            status: REASONS[identity.reasonCode].status,
            reasonCode: identity.reasonCode,
            reason: identity.reason,
          },
          facts,
          { event: "auth_failure", wwwAuthenticate: identity.wwwAuthenticate },
        );
      }
      const agent = identity.agent!;
      agentId = agent.id;
      if (!agentMayUseModel(agent, modelId)) {
        return finish(
          refuse("forbidden_model", `agent "${agent.id}" may not act as model "${modelId}"`),
          facts,
          { event: "auth_failure", agentId },
        );
      }
    }
    if (!deps.audit.healthy) {
      return finish(
        refuse("audit_unavailable", "the audit log cannot be written; refusing to decide"),
        facts,
        { agentId, payload },
      );
    }
    if (kind === "toolcall" && deps.federation.claims(toolName)) {
      // A tool of a configured upstream: run it there (§4), one upstream session per session_id.
      const sessionKey = apiSessionKey(agentId, sessionId);
      // Bounded per agent (§12): past MAX_SESSIONS_PER_AGENT its least recently used one closes.
      const evicted = deps.apiSessions.touch(sessionKey, now, agentId);
      if (evicted !== undefined) void deps.federation.closeSession(evicted);
      const outcome = await executeToolCall({
        agentId,
        modelId,
        sessionId,
        sessionKey,
        toolName,
        args: payload,
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
    // Human approval (§15): a re-POST uses an approval given for exactly this call.
    let approvedText: string | undefined;
    if (approvalId !== undefined) {
      const binding = { door: "api" as const, toolName, agentId, modelId, sessionId };
      const used = deps.approvals === undefined
        ? { ok: false as const, verdict: refuse("approval_conflict", "no approvals") }
        : await useApproval(deps.approvals, approvalId, {
          call: bindingOf(binding, payload),
          now,
        });
      if (!used.ok) return finish(used.verdict, facts, { agentId, payload });
      approvedText = decisionText(used.record);
    }
    let verdict: Verdict;
    try {
      const decided = decide(
        { kind, agentId, modelId, sessionId, toolName, payload },
        state,
        // A used approval's call was counted when it was held.
        { limiter: approvedText === undefined ? deps.limiter : NO_LIMITS, now },
      );
      // The in-memory limiter answers at once: no promise, no extra turn of the event loop.
      verdict = decided instanceof Promise ? await decided : decided;
    } catch (error) {
      deps.log.error(`Decision failed: ${error instanceof Error ? error.message : String(error)}`);
      verdict = refuse("internal_error", "internal error");
    }
    if (verdict.status === "allowed") {
      if (approvedText !== undefined) {
        verdict = { ...verdict, reason: `${verdict.reason}; ${approvedText}` };
      } else if (
        kind === "toolcall" && deps.approvals !== undefined &&
        needsApproval(state.policy, modelId, toolName)
      ) {
        const eventId = deps.newId();
        const held = await holdCall(deps.approvals, {
          binding: { door: "api", toolName, agentId, modelId, sessionId },
          args: payload,
          eventId,
          reason: verdict.reason,
          policyVersion: state.policy.version,
          latencyMs: deps.monotonic() - started,
        }, {
          audit: deps.audit,
          now,
          scrubber: scrubberFor(state.policy).with(secretValues(payload)),
        });
        if (!held.ok) return finish(held.verdict, facts, { agentId, payload });
        return pendingAnswer({
          approvalId: held.record.id,
          eventId,
          reason: `${toolName} waits for a person's approval (approval ${held.record.id})`,
        });
      }
    }
    if (kind === "toolresult" && verdict.status === "allowed") {
      // Result scanning (§15): the output the agent is about to read, under its rule's settings.
      const scanned = scanValue(
        payload,
        scanSettingsFor(state.policy, modelId),
        resultScannerFor(scrubberFor(state.policy)),
        "the output",
      );
      const finding = scanned.finding;
      if (finding !== undefined) {
        const redacted = scanned.value !== payload;
        return finish(
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
    }
    return finish(verdict, facts, { agentId, payload });
  };
}
