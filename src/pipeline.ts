/** The one decision pipeline both front doors share (§1): policy → limits → schema → audit. */
import type { AuditEvent, AuditInput, AuditPayload } from "./audit/event/event.ts";
import { buildAuditRecord } from "./audit/event/event.ts";
import type { Scrubber } from "./audit/event/scrub.ts";
import type { Limiter } from "./limits/limiter.ts";
import { evaluatePolicy } from "./policy/evaluate.ts";
import type { Policy } from "./policy/types.ts";
import { type Denial, type ReasonCode, REASONS, type Status } from "./reasons.ts";
import type { CompileResult, SchemaValidator } from "./schema/compile.ts";
import type { SchemaRegistry } from "./schema/registry.ts";

/** A checked tool call or tool result, after identity is established. */
export interface ToolRequest {
  /** Which endpoint: a call before it runs, or a result after. */
  readonly kind: "toolcall" | "toolresult";
  /** The authenticated agent, or null in open identity mode. */
  readonly agentId: string | null;
  /** The model acting. */
  readonly modelId: string;
  /** The session (scoped by agent in agents mode through `agentId`). */
  readonly sessionId: string;
  /** A tool name that passed `isValidToolName`. */
  readonly toolName: string;
  /** The call's input or the result's output. */
  readonly payload: Record<string, unknown>;
}

/** What the pipeline decided, before any upstream runs. */
export interface Verdict {
  /** `allowed`, `blocked` or `error`. */
  readonly status: Status;
  /** Machine-readable code. */
  readonly reasonCode: ReasonCode;
  /** Human-readable reason, never containing input values. */
  readonly reason: string;
  /** Exact wait before a retry can succeed (429s). */
  readonly retryAfterMs?: number;
}

/** The policy and schemas in force; swapped whole on reload. */
export interface GatewayState {
  /** The compiled policy. */
  readonly policy: Policy;
  /** Local tool schemas. */
  readonly schemas: SchemaRegistry;
}

/** What the gateway knows of an upstream tool (MCP proxy, decision API execution). */
export interface UpstreamToolFacts {
  /** True when pinning blocks the tool because its definition changed (§5.6). */
  readonly definitionChanged?: boolean;
  /** Set when the federation refuses the tool (listed twice, offered by two upstreams). */
  readonly refusal?: Denial;
  /** The upstream's own `inputSchema`, compiled; used when no local schema exists. */
  readonly inputSchema?: CompileResult;
  /** The upstream's own `outputSchema`, compiled; used when no local output schema exists. */
  readonly outputSchema?: CompileResult;
}

/** Turns a denial into a verdict with the status its reason code carries. */
export function denialVerdict(denial: Denial): Verdict {
  return {
    status: REASONS[denial.reasonCode].status,
    reasonCode: denial.reasonCode,
    reason: denial.reason,
    ...(denial.retryAfterMs !== undefined ? { retryAfterMs: denial.retryAfterMs } : {}),
  };
}

/**
 * Decides a tool call or result: policy, then (calls only) caps and rate windows, then the
 * input or output schema. Pure apart from the limiter's counters; `now` is passed in. Answers at
 * once with the in-memory limiter, later (a promise) with a shared store's (§13).
 */
export function decide(
  request: ToolRequest,
  state: GatewayState,
  options: { limiter: Limiter; now: number; upstream?: UpstreamToolFacts },
): Verdict | Promise<Verdict> {
  const { policy } = state;
  const outcome = evaluatePolicy(
    policy,
    { modelId: request.modelId, toolName: request.toolName },
    options.now,
  );
  if (outcome.kind === "deny") return denialVerdict(outcome.denial);
  if (options.upstream?.definitionChanged) {
    return {
      status: "blocked",
      reasonCode: "tool_definition_changed",
      reason:
        `the definition of "${request.toolName}" changed since it was pinned; an admin must approve it`,
    };
  }
  if (options.upstream?.refusal) return denialVerdict(options.upstream.refusal);
  const ruleText = `rule ${outcome.rule.index} (model "${outcome.rule.model.source}")`;
  if (request.kind === "toolcall") {
    const taken = options.limiter.take({
      rule: outcome.rule,
      agentId: request.agentId,
      modelId: request.modelId,
      sessionId: request.sessionId,
      now: options.now,
    });
    if (taken instanceof Promise) {
      return taken.then((result) =>
        result.ok
          ? checkSchemas(request, state, { upstream: options.upstream, ruleText })
          : denialVerdict(result.denial)
      );
    }
    if (!taken.ok) return denialVerdict(taken.denial);
  }
  return checkSchemas(request, state, { upstream: options.upstream, ruleText });
}

/** The schema step of `decide`, after policy and limits admitted the request. */
function checkSchemas(
  request: ToolRequest,
  state: GatewayState,
  options: { upstream?: UpstreamToolFacts; ruleText: string },
): Verdict {
  const { policy, schemas } = state;
  const { ruleText } = options;
  const local = request.kind === "toolcall"
    ? schemas.input(request.toolName)
    : schemas.output(request.toolName);
  const fromUpstream = request.kind === "toolcall"
    ? options.upstream?.inputSchema
    : options.upstream?.outputSchema;
  const schema = pickSchema(request.toolName, local, fromUpstream);
  if (schema.kind === "invalid") return schema.verdict;
  const what = request.kind === "toolcall" ? "input" : "output";
  if (schema.kind === "none") {
    if (request.kind === "toolcall" && policy.defaults.unknownSchema === "deny") {
      return {
        status: "blocked",
        reasonCode: "schema_missing",
        reason:
          `tool "${request.toolName}" has no input schema and defaults.unknown_schema is deny`,
      };
    }
    return allowed(`allowed by ${ruleText}; no ${what} schema, ${what} unchecked`);
  }
  const failure = checkAgainst(schema.validator, request.payload, request.toolName, what);
  return failure ?? allowed(`allowed by ${ruleText}; ${what} matches its ${schema.source} schema`);
}

/** The schema that applies: the local one, else the upstream's, else none (§8). */
export function pickSchema(
  toolName: string,
  local: SchemaValidator | undefined,
  fromUpstream: CompileResult | undefined,
):
  | { kind: "none" }
  | { kind: "invalid"; verdict: Verdict }
  | { kind: "schema"; validator: SchemaValidator; source: "local" | "upstream" } {
  if (local) return { kind: "schema", validator: local, source: "local" };
  if (!fromUpstream) return { kind: "none" };
  if (!fromUpstream.ok) {
    return {
      kind: "invalid",
      verdict: {
        status: "blocked",
        reasonCode: "schema_invalid",
        reason: `the upstream schema of "${toolName}" cannot be used: ${fromUpstream.error}`,
      },
    };
  }
  return { kind: "schema", validator: fromUpstream.validator, source: "upstream" };
}

/** Validates `value`; a blocked verdict naming the failing paths, or undefined when it matches. */
export function checkAgainst(
  validator: SchemaValidator,
  value: unknown,
  toolName: string,
  what: "input" | "output",
): Verdict | undefined {
  const checked = validator.validate(value);
  if (checked.ok) return undefined;
  return {
    status: "blocked",
    reasonCode: what === "input" ? "input_invalid" : "output_invalid",
    reason: `${what} does not match the ${
      what === "input" ? "" : "output "
    }schema of "${toolName}": ${checked.errors.join("; ")}`,
  };
}

function allowed(reason: string): Verdict {
  return { status: "allowed", reasonCode: "ok", reason };
}

/** Where audit events go: the sink's append, health flag and the policy version in force. */
export interface AuditRecorder {
  /** Appends one event (synchronous, no I/O on the request path); `payloadJson` is its
   * payload's JSON text, reused for the line. */
  append(event: AuditEvent, payloadJson?: string | null): void;
  /** Appends one event and resolves once its line is in the file (write-ahead, §12); rejects
   * when it cannot be written. */
  appendDurable(event: AuditEvent, payloadJson?: string | null): Promise<void>;
  /** False while the audit cannot be written: the gateway then fails closed. */
  readonly healthy: boolean;
}

/** What `recordAudit` needs besides the event: the clock, and an id (given, or made fresh). */
export interface RecordContext {
  /** Epoch ms of the event. */
  readonly now: number;
  /** New event ids. */
  readonly newId: () => string;
  /** Use this id instead of a fresh one (the closing line of a forwarded call, §12). */
  readonly eventId?: string;
  /** Scrubs `reason` and payload strings (default: credential shapes only); `scrubberFor(policy)`
   * adds the configured upstream credentials (§12). */
  readonly scrubber?: Scrubber;
  /** The payload already prepared with `scrubber` (the closing line of a forwarded call). */
  readonly prepared?: AuditPayload;
}

/** Builds an audit event with a fresh id and appends it; returns the event id. */
export function recordAudit(
  recorder: AuditRecorder,
  input: AuditInput,
  context: RecordContext,
): string {
  const eventId = context.eventId ?? context.newId();
  // payload_sha256 now, so /logs shows it at once; the line hash waits for the chainer.
  const { event, payloadJson } = buildAuditRecord(input, {
    now: context.now,
    eventId,
    scrubber: context.scrubber,
    prepared: context.prepared,
  });
  recorder.append(event, payloadJson);
  return eventId;
}

/**
 * The write-ahead line of a call about to be forwarded (§12): `status: "forwarded"`, no
 * `upstream_ms`, written to the file before this resolves. Rejects when the audit cannot be
 * written: the call must then not be forwarded.
 */
export function recordForwarded(
  recorder: AuditRecorder,
  input: Omit<AuditInput, "status" | "reasonCode" | "upstreamMs">,
  context: { now: number; eventId: string; scrubber?: Scrubber; prepared?: AuditPayload },
): Promise<void> {
  const { event, payloadJson } = buildAuditRecord({
    ...input,
    status: "forwarded",
    reasonCode: "ok",
    upstreamMs: null,
  }, context);
  return recorder.appendDurable(event, payloadJson);
}

/** Audits an event that is not a tool decision (reloads, pins, sessions, auth failures): ids the
 * event lacks are null and its latency is 0. Returns the event id. */
export function recordEvent(
  recorder: AuditRecorder,
  input:
    & Pick<AuditInput, "event" | "status" | "reasonCode" | "reason" | "policyVersion">
    & Partial<AuditInput>,
  context: { now: number; newId: () => string },
): string {
  return recordAudit(recorder, {
    agentId: null,
    modelId: null,
    sessionId: null,
    toolName: null,
    latencyMs: 0,
    ...input,
  }, context);
}
