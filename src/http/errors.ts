/** The one JSON answer shape of the gateway (§4), used for decisions and for every error. */
import { APPROVAL_PENDING, type ReasonCode, REASONS, type Status } from "../reasons.ts";
import { securedResponse } from "./fast_path.ts";

/** The JSON body of every gateway answer outside /mcp. */
export interface AnswerBody {
  /** True only for `status: "allowed"`. */
  allowed: boolean;
  /** `allowed`, `blocked` or `error`. */
  status: string;
  /** Machine-readable code. */
  reason_code: string;
  /** Human-readable reason. */
  reason: string;
  /** The audit event id, or null when the answer was not audited. */
  event_id: string | null;
  /** The upstream's `CallToolResult`, when the call was executed. */
  result?: unknown;
  /** Exact wait before retrying (429s). */
  retry_after_ms?: number;
  /** What result scanning found (§15): detector names, when one matched. */
  scan?: { secrets: string[]; injection: string[] };
  /** `POST /mcp/toolresult`: the output with its secrets redacted, when scanning redacted any. */
  output?: unknown;
}

/** Builds the `Response` for a reason code, with `Retry-After` and `WWW-Authenticate` as due. */
export function answer(
  reasonCode: ReasonCode,
  reason: string,
  extra: {
    eventId?: string | null;
    retryAfterMs?: number;
    result?: unknown;
    /** The audited status when it is not the code's own: a result redacted or flagged by
     * scanning (§15) is `allowed` (HTTP 200) under a code that otherwise blocks. */
    status?: Status;
    scan?: { readonly secrets: readonly string[]; readonly injection: readonly string[] };
    output?: unknown;
  } = {},
): Response {
  const own = REASONS[reasonCode];
  const status = extra.status ?? own.status;
  const http = status === "allowed" ? 200 : own.http;
  const body: AnswerBody = {
    allowed: status === "allowed",
    status,
    reason_code: reasonCode,
    reason,
    event_id: extra.eventId ?? null,
  };
  if (extra.result !== undefined) body.result = extra.result;
  if (extra.scan !== undefined) {
    body.scan = { secrets: [...extra.scan.secrets], injection: [...extra.scan.injection] };
  }
  if (extra.output !== undefined) body.output = extra.output;
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  if (extra.retryAfterMs !== undefined) {
    body.retry_after_ms = extra.retryAfterMs;
    headers["retry-after"] = String(Math.max(1, Math.ceil(extra.retryAfterMs / 1000)));
  }
  if (http === 401) headers["www-authenticate"] = 'Bearer realm="mcp-sec-gateway"';
  return securedResponse(JSON.stringify(body), { status: http, headers });
}

/** The 202 answer of a call held for a person's approval (§15), with its `approval_id`. */
export function pendingAnswer(
  options: { approvalId: string; reason: string; eventId: string },
): Response {
  const body = {
    allowed: false,
    status: APPROVAL_PENDING.status,
    reason_code: APPROVAL_PENDING.reasonCode,
    reason: options.reason,
    event_id: options.eventId,
    approval_id: options.approvalId,
  };
  return securedResponse(JSON.stringify(body), {
    status: APPROVAL_PENDING.http,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}
