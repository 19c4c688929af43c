/** Checks the JSON body of the decision API (§4) before anything else happens. Pure. */
import { isValidToolName } from "../tool_name.ts";
import { isApprovalId } from "../approvals/approval.ts";

/** A well-formed decision API body. */
export interface DecisionBody {
  /** The model acting. */
  readonly modelId: string;
  /** The agent framework's session id. */
  readonly sessionId: string;
  /** A tool name that passed `isValidToolName`. */
  readonly toolName: string;
  /** `input` (toolcall) or `output` (toolresult); `{}` when absent. */
  readonly payload: Record<string, unknown>;
  /** `approval_id` of an approved held call, re-POSTed to run it (toolcall only, §15). */
  readonly approvalId?: string;
}

/** The fields of a refused body that were themselves well-formed, for the audit event. */
export interface PartialFacts {
  /** `model_id` when it was a valid string, else null. */
  readonly modelId: string | null;
  /** `session_id` when it was a valid string, else null. */
  readonly sessionId: string | null;
  /** `tool_name` when it was valid, else null. */
  readonly toolName: string | null;
}

const MAX_ID_LENGTH = 256;

/** The fields of a tool call body (`approval_id`: the re-POST of an approved held call, §15). */
const CALL_KEYS: ReadonlySet<string> = new Set([
  "model_id",
  "session_id",
  "tool_name",
  "input",
  "approval_id",
]);

/** The fields of a tool result body. */
const RESULT_KEYS: ReadonlySet<string> = new Set(["model_id", "session_id", "tool_name", "output"]);

function isId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Validates a decision API body; `payloadKey` is `input` or `output`. */
export function checkDecisionBody(
  value: unknown,
  payloadKey: "input" | "output",
):
  | { ok: true; body: DecisionBody }
  | { ok: false; reason: string; facts: PartialFacts } {
  if (!isPlainObject(value)) {
    return {
      ok: false,
      reason: "request body must be a JSON object",
      facts: { modelId: null, sessionId: null, toolName: null },
    };
  }
  const facts: PartialFacts = {
    modelId: isId(value.model_id) ? value.model_id : null,
    sessionId: isId(value.session_id) ? value.session_id : null,
    toolName: isValidToolName(value.tool_name) ? value.tool_name : null,
  };
  const problems: string[] = [];
  const allowedKeys = payloadKey === "input" ? CALL_KEYS : RESULT_KEYS;
  for (const key of Object.keys(value)) {
    if (!allowedKeys.has(key)) problems.push(`unknown field "${key.slice(0, 64)}"`);
  }
  for (const key of ["model_id", "session_id"] as const) {
    if (value[key] === undefined) problems.push(`${key} is required`);
    else if (!isId(value[key])) {
      problems.push(`${key} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
    }
  }
  if (value.tool_name === undefined) problems.push("tool_name is required");
  else if (facts.toolName === null) {
    problems.push(
      "tool_name must match [A-Za-z0-9_.-]{1,128} and must not end in .output",
    );
  }
  const payload = value[payloadKey] === undefined ? {} : value[payloadKey];
  if (!isPlainObject(payload)) problems.push(`${payloadKey} must be a JSON object`);
  const approvalId = value.approval_id;
  if (approvalId !== undefined && !isApprovalId(approvalId)) {
    problems.push("approval_id must be 32 lowercase hex characters");
  }
  if (problems.length > 0) return { ok: false, reason: problems.join("; "), facts };
  return {
    ok: true,
    body: {
      modelId: facts.modelId!,
      sessionId: facts.sessionId!,
      toolName: facts.toolName!,
      payload: payload as Record<string, unknown>,
      ...(approvalId === undefined ? {} : { approvalId: approvalId as string }),
    },
  };
}
