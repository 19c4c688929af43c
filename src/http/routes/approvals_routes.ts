/**
 * The approvals admin API (§15): `GET /approvals` (pending calls), `GET /approvals/{id}`,
 * `POST /approvals/{id}` `{decision: "approve"|"deny", note}`. Admin token or cookie; POSTs pass
 * the door's CSRF rules (same origin, JSON). Every decision, and every refused one, is audited.
 */
import type { Hono } from "hono";
import {
  type ApprovalRecord,
  approvalView,
  isApprovalId,
  MAX_NOTE_LENGTH,
  outcomeView,
} from "../../approvals/approval.ts";
import { decisionText, expireOverdue } from "../../approvals/gate.ts";
import { agentMayUseModel, bearerToken } from "../../identity/identify.ts";
import { authenticate } from "../../identity/authenticate.ts";
import { recordEvent } from "../../pipeline.ts";
import { ADMIN_COOKIE, isAdmin, readCookie } from "./admin_auth.ts";
import { readJsonBody } from "../body.ts";
import type { AppDeps } from "../deps.ts";
import { answer } from "../errors.ts";

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** Who decided, as far as the gateway knows: the admin token by header, or the dashboard. */
export function adminIdentity(request: Request): string {
  if (bearerToken(request.headers.get("authorization")) !== undefined) return "admin (token)";
  return readCookie(request.headers.get("cookie"), ADMIN_COOKIE) !== undefined
    ? "admin (dashboard)"
    : "admin";
}

/** Checks a decision body: `{decision: "approve"|"deny", note?: string}`. */
export function parseDecisionBody(
  value: unknown,
): { ok: true; decision: "approve" | "deny"; note: string } | { ok: false; reason: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'body must be {"decision": "approve"|"deny", "note": "…"}' };
  }
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (key !== "decision" && key !== "note") {
      return { ok: false, reason: `unknown field "${key.slice(0, 64)}"` };
    }
  }
  if (body.decision !== "approve" && body.decision !== "deny") {
    return { ok: false, reason: 'decision must be "approve" or "deny"' };
  }
  const note = body.note ?? "";
  if (typeof note !== "string" || note.length > MAX_NOTE_LENGTH) {
    return { ok: false, reason: `note must be a string of at most ${MAX_NOTE_LENGTH} characters` };
  }
  return { ok: true, decision: body.decision, note };
}

/** True when the caller is the agent the held call belongs to (it may read the outcome). */
async function isOwningAgent(
  request: Request,
  record: ApprovalRecord,
  deps: AppDeps,
): Promise<boolean> {
  const policy = deps.store.current.policy;
  if (policy.agents === null) return record.agentId === null; // open mode: the id is the capability
  // An agent key, or an OAuth access token (§14), as on the other doors.
  const pending = authenticate(
    request.headers.get("authorization"),
    policy,
    deps.oauth?.verifierFor(policy),
  );
  const identity = pending instanceof Promise ? await pending : pending;
  return identity.ok && identity.agent !== null && identity.agent.id === record.agentId &&
    agentMayUseModel(identity.agent, record.modelId);
}

/** Adds the approval routes to `app` (no routes' worth of cost when no call is ever held). */
export function addApprovalRoutes(app: Hono, deps: AppDeps): void {
  const unauthorized = () =>
    answer("unauthorized", "admin credential required: Authorization: Bearer <ADMIN_TOKEN>");
  const store = () => deps.approvals?.store;
  const storeDown = (error: unknown) =>
    answer(
      "state_unavailable",
      `the approvals store did not answer: ${(error as Error).message?.slice(0, 200)}`,
    );

  app.get("/approvals", async (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    const now = deps.clock();
    try {
      // Overdue held calls of the decision API get their approval_timeout line now (and every
      // 10 s from the server's sweeper), so the list and the audit agree.
      if (deps.approvals !== undefined) {
        await expireOverdue(deps.approvals, {
          audit: deps.audit,
          now,
          policyVersion: deps.store.current.policy.version,
          newId: deps.newId,
        });
      }
      const pending = (await store()?.pending(now)) ?? [];
      return json({ approvals: pending.map((record) => approvalView(record, now)) });
    } catch (error) {
      return storeDown(error);
    }
  });

  app.get("/approvals/:id", async (c) => {
    const id = c.req.param("id");
    const admin = isAdmin(c.req.raw, deps.adminToken);
    if (!isApprovalId(id)) {
      return admin
        ? answer("bad_request", "approval ids are 32 lowercase hex characters")
        : unauthorized();
    }
    let record: ApprovalRecord | undefined;
    try {
      record = await store()?.get(id);
    } catch (error) {
      return storeDown(error);
    }
    const now = deps.clock();
    if (admin) {
      return record ? json(approvalView(record, now)) : answer("not_found", `no approval ${id}`);
    }
    // The calling agent may read its own call's outcome (decision API, §15); nobody else may.
    if (record === undefined || !(await isOwningAgent(c.req.raw, record, deps))) {
      return unauthorized();
    }
    return json(outcomeView(record, now));
  });

  app.post("/approvals/:id", async (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    const id = c.req.param("id");
    if (!isApprovalId(id)) {
      return answer("bad_request", "approval ids are 32 lowercase hex characters");
    }
    const body = await readJsonBody(c.req.raw, 4096);
    if (!body.ok) return answer(body.reasonCode, body.reason);
    const parsed = parseDecisionBody(body.value);
    if (!parsed.ok) return answer("bad_request", parsed.reason);
    const current = store();
    if (current === undefined) return answer("not_found", `no approval ${id}`);
    if (!deps.audit.healthy) {
      return answer("audit_unavailable", "the audit log cannot be written; no decision taken");
    }
    const now = deps.clock();
    const by = adminIdentity(c.req.raw);
    let result;
    try {
      result = await current.decide(id, {
        decision: parsed.decision,
        by,
        note: parsed.note,
        at: now,
      });
    } catch (error) {
      return storeDown(error);
    }
    const policyVersion = deps.store.current.policy.version;
    const facts = (record: ApprovalRecord | undefined) => ({
      agentId: record?.agentId ?? null,
      modelId: record?.modelId ?? null,
      sessionId: record?.sessionId ?? null,
      toolName: record?.toolName ?? null,
    });
    const payload = {
      approval_id: id,
      decision: parsed.decision,
      by,
      note: parsed.note,
      ...(result.record ? { call_event_id: result.record.eventId } : {}),
    };
    if (!result.ok) {
      // A second decision, a late one, or an unknown id: refused and audited (§15).
      const eventId = recordEvent(deps.audit, {
        event: "approval",
        ...facts(result.record),
        payload,
        status: "error",
        reasonCode: result.record ? "approval_conflict" : "not_found",
        reason: `${by} could not ${parsed.decision} approval ${id}: ${result.reason}`,
        policyVersion,
      }, { now, newId: deps.newId });
      return result.record
        ? answer("approval_conflict", result.reason, { eventId })
        : answer("not_found", result.reason, { eventId });
    }
    const approvedIt = parsed.decision === "approve";
    const eventId = recordEvent(deps.audit, {
      event: "approval",
      ...facts(result.record),
      payload,
      status: approvedIt ? "allowed" : "blocked",
      reasonCode: approvedIt ? "ok" : "approval_denied",
      reason: `call ${result.record.eventId} ${decisionText(result.record)}`,
      policyVersion,
    }, { now, newId: deps.newId });
    return json({ ...approvalView(result.record, now), event_id: eventId });
  });
}
