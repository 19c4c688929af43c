/** Every `reason_code` the gateway answers with, and the HTTP status and `status` field of each. */
export const REASONS = {
  ok: { http: 200, status: "allowed" },
  /** Allowed and executed, but the tool answered `isError: true` (audited so the failure shows). */
  tool_error: { http: 200, status: "allowed" },
  bad_request: { http: 400, status: "error" },
  unauthenticated: { http: 401, status: "blocked" },
  /** An OAuth access token refused (§14): bad signature, unknown key, expired, wrong audience… */
  invalid_token: { http: 401, status: "blocked" },
  /** A valid OAuth token without a scope `oauth.required_scopes` asks for. */
  insufficient_scope: { http: 403, status: "blocked" },
  /** A valid OAuth token whose client is no agent of this gateway. */
  forbidden_client: { http: 403, status: "blocked" },
  forbidden_model: { http: 403, status: "blocked" },
  no_matching_rule: { http: 403, status: "blocked" },
  tool_denied: { http: 403, status: "blocked" },
  tool_not_allowed: { http: 403, status: "blocked" },
  prompt_denied: { http: 403, status: "blocked" },
  prompt_not_allowed: { http: 403, status: "blocked" },
  resource_denied: { http: 403, status: "blocked" },
  resource_not_allowed: { http: 403, status: "blocked" },
  outside_active_hours: { http: 403, status: "blocked" },
  schema_missing: { http: 403, status: "blocked" },
  schema_invalid: { http: 403, status: "blocked" },
  tool_definition_changed: { http: 403, status: "blocked" },
  forbidden_host: { http: 403, status: "blocked" },
  forbidden_origin: { http: 403, status: "blocked" },
  tool_ambiguous: { http: 409, status: "blocked" },
  tool_name_clash: { http: 409, status: "blocked" },
  unauthorized: { http: 401, status: "error" },
  not_found: { http: 404, status: "error" },
  unknown_tool: { http: 404, status: "error" },
  unknown_resource: { http: 404, status: "error" },
  method_not_allowed: { http: 405, status: "error" },
  request_timeout: { http: 408, status: "error" },
  payload_too_large: { http: 413, status: "error" },
  unsupported_media_type: { http: 415, status: "error" },
  /** A held call that an admin denied (§15). */
  approval_denied: { http: 403, status: "blocked" },
  /** A held call that nobody decided within APPROVAL_TIMEOUT_MS (§15). */
  approval_timeout: { http: 403, status: "blocked" },
  /** A second decision, or an approval replayed, used up, expired or bound to another call. */
  approval_conflict: { http: 409, status: "error" },
  /** The client cancelled a held call (or its session ended) before anyone decided. */
  approval_withdrawn: { http: 409, status: "error" },
  /** Too many calls of one agent wait for approval at once. */
  approval_limit: { http: 429, status: "blocked" },
  input_invalid: { http: 422, status: "blocked" },
  /**
   * Result scanning (§15): a secret in what the upstream sent back. Blocked (422) with
   * `scan_results.secrets: block`; with `redact` the result goes out redacted and the line is
   * `allowed` with this code (HTTP 200 on the decision API).
   */
  result_secret: { http: 422, status: "blocked" },
  /**
   * Result scanning (§15): text aimed at the model in what the upstream sent back. Blocked (422)
   * with `scan_results.injection: block`; with `flag` the result goes out flagged and the line is
   * `allowed` with this code (HTTP 200 on the decision API).
   */
  result_injection: { http: 422, status: "blocked" },
  /** A tool description that reads like an injection (§15), hidden until an admin approves it. */
  tool_poisoning: { http: 403, status: "blocked" },
  output_invalid: { http: 422, status: "blocked" },
  session_call_cap: { http: 429, status: "blocked" },
  rate_limited: { http: 429, status: "blocked" },
  subscription_limit: { http: 429, status: "blocked" },
  internal_error: { http: 500, status: "error" },
  upstream_error: { http: 502, status: "error" },
  audit_unavailable: { http: 503, status: "error" },
  /** The shared state store (Redis, §13) did not answer in time: refused, never allowed. */
  state_unavailable: { http: 503, status: "error" },
  /** The issuer's keys cannot be had (§14): OAuth tokens refused, agent keys unaffected. */
  oauth_unavailable: { http: 503, status: "error" },
  upstream_timeout: { http: 504, status: "error" },
  policy_invalid: { http: 400, status: "error" },
} as const;

/**
 * The answer to a call held for approval (§15): HTTP 202, `status: "pending"`, with the
 * `approval_id`; in the audit, the line written before the call waits.
 */
export const APPROVAL_PENDING = { reasonCode: "approval_pending", http: 202, status: "pending" };

/** A machine-readable reason code (`reason_code` in answers and audit events). */
export type ReasonCode = keyof typeof REASONS;

/** The `status` field of answers and audit events. */
export type Status = "allowed" | "blocked" | "error";

/** A refusal: the reason code, a human-readable reason, and the wait for 429s. */
export interface Denial {
  /** Machine-readable code. */
  reasonCode: ReasonCode;
  /** Human-readable reason; never contains offending input values. */
  reason: string;
  /** Exact wait in milliseconds before a retry can succeed (429 only). */
  retryAfterMs?: number;
}
