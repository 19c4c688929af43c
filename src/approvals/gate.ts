/**
 * Holding a call for a person's approval (§15), shared by `/mcp` and the decision API: the held
 * call is stored and audited `pending` (its `event_id` shared with the lines that follow), then
 * either waited for (the MCP client, kept alive with progress) or answered 202 and used later by
 * a re-POST with its `approval_id` (the decision API). Never throws.
 */
import { redact } from "../audit/event/redact.ts";
import type { Scrubber } from "../audit/event/scrub.ts";
import { type AuditRecorder, recordAudit, type Verdict } from "../pipeline.ts";
import { APPROVAL_PENDING } from "../reasons.ts";
import {
  type ApprovalBinding,
  type ApprovalRecord,
  inputSha256,
  MAX_INPUT_TEXT,
  newApprovalId,
} from "./approval.ts";
import type { ApprovalStore } from "./store.ts";

/** What holding a call needs. */
export interface ApprovalGateDeps {
  /** Where held calls live. */
  readonly store: ApprovalStore;
  /** APPROVAL_TIMEOUT_MS. */
  readonly timeoutMs: number;
  /** Interval of the progress notifications sent to a waiting MCP client. */
  readonly progressIntervalMs: number;
}

/** A call about to be held. */
export interface HeldCall {
  /** Which door, tool, agent, model, session (the input hash is computed here). */
  readonly binding: Omit<ApprovalBinding, "inputSha256">;
  /** The call's input (redacted and scrubbed before it is stored). */
  readonly args: Record<string, unknown>;
  /** The call's audit `event_id` (pending, forwarded and closing lines share it). */
  readonly eventId: string;
  /** Why the policy allowed it (rule text). */
  readonly reason: string;
  /** Policy version in force. */
  readonly policyVersion: string;
  /** Gateway latency so far. */
  readonly latencyMs: number;
}

/** What the audit and clock of the caller are. */
export interface GateContext {
  /** Audit sink. */
  readonly audit: AuditRecorder;
  /** Wall clock. */
  readonly now: number;
  /** Scrubber of this call (configured credentials and its own secret values). */
  readonly scrubber: Scrubber;
}

/** The binding of a call: door, names and the sha256 of its canonical input. */
export function bindingOf(
  binding: Omit<ApprovalBinding, "inputSha256">,
  args: Record<string, unknown>,
): ApprovalBinding {
  return { ...binding, inputSha256: inputSha256(args) };
}

/** The verdict for a store that did not answer: refused, never allowed (§13). */
function unavailable(error: unknown): Verdict {
  return {
    status: "error",
    reasonCode: "state_unavailable",
    reason: `the approvals store did not answer: ${
      error instanceof Error ? error.message.slice(0, 200) : "unknown error"
    }`,
  };
}

/**
 * Stores the held call and writes its `pending` audit line (before anyone can decide it).
 * Refused past the pending limits (`approval_limit`) or with the store away (`state_unavailable`).
 */
export async function holdCall(
  deps: ApprovalGateDeps,
  call: HeldCall,
  context: GateContext,
): Promise<{ ok: true; record: ApprovalRecord } | { ok: false; verdict: Verdict }> {
  const { now, scrubber } = context;
  const redacted = JSON.stringify(redact(call.args, scrubber)) ?? "{}";
  const record: ApprovalRecord = {
    ...bindingOf(call.binding, call.args),
    id: newApprovalId(),
    state: "pending",
    eventId: call.eventId,
    inputText: redacted.length > MAX_INPUT_TEXT
      ? redacted.slice(0, MAX_INPUT_TEXT) + "…"
      : redacted,
    createdAt: now,
    deadline: now + deps.timeoutMs,
  };
  let created;
  try {
    created = await deps.store.create(record, now);
  } catch (error) {
    return { ok: false, verdict: unavailable(error) };
  }
  if (!created.ok) {
    return {
      ok: false,
      verdict: { status: "blocked", reasonCode: "approval_limit", reason: created.reason },
    };
  }
  recordAudit(context.audit, {
    event: "toolcall",
    agentId: record.agentId,
    modelId: record.modelId,
    sessionId: record.sessionId,
    toolName: record.toolName,
    payload: call.args,
    status: "pending",
    reasonCode: APPROVAL_PENDING.reasonCode,
    reason: `${call.reason}; held for approval ${record.id} (waits up to ${deps.timeoutMs} ms)`,
    latencyMs: call.latencyMs,
    policyVersion: call.policyVersion,
  }, { now, newId: () => call.eventId, eventId: call.eventId, scrubber });
  return { ok: true, record };
}

/** How a decision reads in `reason`: who, which approval, and the note. */
export function decisionText(record: ApprovalRecord): string {
  const decided = record.decided;
  if (decided === undefined) return `approval ${record.id}`;
  const verb = decided.decision === "approve" ? "approved" : "denied";
  const note = decided.note === "" ? "" : `: ${JSON.stringify(decided.note)}`;
  return `${verb} by ${decided.by} (approval ${record.id})${note}`;
}

/** The outcome of waiting: approved (and used up by this call), or a refusal to answer with. */
export type WaitOutcome =
  | { readonly kind: "approved"; readonly record: ApprovalRecord }
  | { readonly kind: "refused"; readonly verdict: Verdict };

/**
 * Waits until the held call is decided, times out (APPROVAL_TIMEOUT_MS → `approval_timeout`) or
 * is withdrawn (`signal`: the client cancelled or its session ended → `approval_withdrawn`).
 * `onProgress` is called at once and then every `progressIntervalMs` while it waits.
 */
export function waitForDecision(
  deps: ApprovalGateDeps,
  record: ApprovalRecord,
  options: { clock: () => number; signal?: AbortSignal; onProgress?: (count: number) => void },
): Promise<WaitOutcome> {
  const { store } = deps;
  const { id } = record;
  return new Promise<WaitOutcome>((resolve) => {
    let done = false;
    let consuming = false;
    let progress = 0;
    const cleanups: Array<() => void> = [];
    const finish = (outcome: WaitOutcome) => {
      if (done) return;
      done = true;
      for (const cleanup of cleanups) cleanup();
      resolve(outcome);
    };
    const refuse = (verdict: Verdict) => finish({ kind: "refused", verdict });
    const fromRecord = async (current: ApprovalRecord | undefined) => {
      if (done || current === undefined) {
        if (current === undefined) {
          refuse({
            status: "error",
            reasonCode: "approval_conflict",
            reason: `approval ${id} is gone`,
          });
        }
        return;
      }
      // Once this call is using the approval, the outcome of that use decides.
      if (consuming) return;
      switch (current.state) {
        case "pending":
          return;
        case "approved": {
          consuming = true;
          const used = await store.consume(id, record, options.clock());
          if (used.ok) finish({ kind: "approved", record: used.record });
          else refuse({ status: "error", reasonCode: "approval_conflict", reason: used.reason });
          return;
        }
        case "denied":
          return refuse({
            status: "blocked",
            reasonCode: "approval_denied",
            reason: decisionText(current),
          });
        case "expired":
          return refuse({
            status: "blocked",
            reasonCode: "approval_timeout",
            reason: `no decision on approval ${id} within ${deps.timeoutMs} ms`,
          });
        case "withdrawn":
          return refuse({
            status: "error",
            reasonCode: "approval_withdrawn",
            reason: `approval ${id} withdrawn: the client cancelled the call or its session ended`,
          });
        case "used":
          return refuse({
            status: "error",
            reasonCode: "approval_conflict",
            reason: `approval ${id} was already used`,
          });
      }
    };
    const check = () => {
      if (done) return;
      store.get(id).then(fromRecord).catch((error) => refuse(unavailable(error)));
    };
    const settle = (to: "expired" | "withdrawn") => {
      if (done) return;
      store.settle(id, to, options.clock()).then(
        (result) => fromRecord(result.record),
        (error) => refuse(unavailable(error)),
      );
    };
    cleanups.push(store.watch(id, check));
    const timer = setTimeout(() => settle("expired"), deps.timeoutMs);
    cleanups.push(() => clearTimeout(timer));
    if (options.signal) {
      const signal = options.signal;
      const onAbort = () => settle("withdrawn");
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener("abort", onAbort));
      }
    }
    if (options.onProgress) {
      const tick = options.onProgress;
      tick(progress++);
      const interval = setInterval(() => tick(progress++), deps.progressIntervalMs);
      cleanups.push(() => clearInterval(interval));
    }
    check();
  });
}

/**
 * Uses an approval for the call in front of it (the decision API's re-POST): approved → used,
 * exactly once, for exactly this call; otherwise `approval_conflict`.
 */
export async function useApproval(
  deps: ApprovalGateDeps,
  id: string,
  options: { call: ApprovalBinding; now: number },
): Promise<{ ok: true; record: ApprovalRecord } | { ok: false; verdict: Verdict }> {
  try {
    const used = await deps.store.consume(id, options.call, options.now);
    if (used.ok) return used;
    return {
      ok: false,
      verdict: { status: "error", reasonCode: "approval_conflict", reason: used.reason },
    };
  } catch (error) {
    return { ok: false, verdict: unavailable(error) };
  }
}

/**
 * Closes the held calls of the decision API that nobody decided in time (pending → expired, once
 * across replicas) with their `approval_timeout` line, same `event_id` as the `pending` one. A
 * call waiting through `/mcp` is closed by its own timer. Returns how many were closed.
 */
export async function expireOverdue(
  deps: ApprovalGateDeps,
  context: { audit: AuditRecorder; now: number; policyVersion: string; newId: () => string },
): Promise<number> {
  let closed = 0;
  for (const record of await deps.store.overdue(context.now)) {
    if (record.door !== "api") continue;
    const settled = await deps.store.settle(record.id, "expired", context.now);
    if (!settled.ok) continue; // decided or expired meanwhile, maybe by another replica
    closed++;
    recordAudit(context.audit, {
      event: "toolcall",
      agentId: record.agentId,
      modelId: record.modelId,
      sessionId: record.sessionId,
      toolName: record.toolName,
      payload: null,
      status: "blocked",
      reasonCode: "approval_timeout",
      reason: `no decision on approval ${record.id} within ${deps.timeoutMs} ms`,
      latencyMs: 0,
      policyVersion: context.policyVersion,
    }, { now: context.now, newId: context.newId, eventId: record.eventId });
  }
  return closed;
}
