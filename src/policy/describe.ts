import { DAY_NAMES } from "./time.ts";
import type { Policy, Rule, UpstreamConfig } from "./types.ts";

/** A rule as shown on `GET /policy` and the dashboard. */
export interface RuleDescription {
  index: number;
  model: string;
  allow_tools: string[];
  deny_tools: string[];
  allow_prompts: string[];
  deny_prompts: string[];
  allow_resources: string[];
  deny_resources: string[];
  max_calls_per_session: number | null;
  active_hours: string[] | null;
  active_days: string[] | null;
  timezone: string | null;
  rate_limit: { per_model: string | null; per_session: string | null };
  /** Result scanning in force (§15): the rule's, or the defaults. */
  scan_results: { secrets: "redact" | "block" | "off"; injection: "flag" | "block" | "off" };
  require_approval: string[];
}

/** An upstream as shown on `GET /policy`: never header or env values. */
export type UpstreamDescription =
  & { name: string; prefix: string }
  & ({ kind: "http"; url: string } | { kind: "stdio"; command: string[] });

/** The JSON-safe view of a policy for `GET /policy` (no key hashes, no secrets). */
export interface PolicyDescription {
  policy_version: string;
  identity_mode: "agents" | "open";
  defaults: { unknown_schema: "allow" | "deny"; timezone: string | null };
  agents: Array<{ id: string; models: string[]; oauth_client_id?: string }> | null;
  oauth?: {
    issuer: string;
    audience: string;
    jwks_uri: string | null;
    required_scopes: string[];
    agent_claim: string;
    models_claim: string | null;
  };
  rules: RuleDescription[];
  upstreams: UpstreamDescription[];
  pinning: { mode: "off" | "warn" | "block"; scan_descriptions: "off" | "flag" | "block" };
}

/** Describes a policy as plain JSON for `GET /policy`: agents by id and models only, no secrets. */
export function describePolicy(policy: Policy): PolicyDescription {
  return {
    policy_version: policy.version,
    identity_mode: policy.agents === null ? "open" : "agents",
    defaults: {
      unknown_schema: policy.defaults.unknownSchema,
      timezone: policy.defaults.timezone ?? null,
    },
    agents: policy.agents === null ? null : policy.agents.map((agent) => ({
      id: agent.id,
      models: agent.models.map((glob) => glob.source),
      ...(agent.oauthClientId !== undefined ? { oauth_client_id: agent.oauthClientId } : {}),
    })),
    ...(policy.oauth !== undefined
      ? {
        oauth: {
          issuer: policy.oauth.issuer,
          audience: policy.oauth.audience,
          jwks_uri: policy.oauth.jwksUri ?? null,
          required_scopes: [...policy.oauth.requiredScopes],
          agent_claim: policy.oauth.agentClaim,
          models_claim: policy.oauth.modelsClaim ?? null,
        },
      }
      : {}),
    rules: policy.rules.map(describeRule),
    upstreams: Object.entries(policy.upstreams).map(([name, upstream]) =>
      describeUpstream(name, upstream)
    ),
    pinning: {
      mode: policy.pinning.mode,
      scan_descriptions: policy.pinning.scanDescriptions ?? "block",
    },
  };
}

function describeRule(rule: Rule): RuleDescription {
  return {
    index: rule.index,
    model: rule.model.source,
    allow_tools: rule.allowTools.map((glob) => glob.source),
    deny_tools: rule.denyTools.map((glob) => glob.source),
    allow_prompts: rule.allowPrompts.map((glob) => glob.source),
    deny_prompts: rule.denyPrompts.map((glob) => glob.source),
    allow_resources: (rule.allowResources ?? []).map((glob) => glob.source),
    deny_resources: (rule.denyResources ?? []).map((glob) => glob.source),
    max_calls_per_session: rule.maxCallsPerSession ?? null,
    active_hours: rule.activeHours ? rule.activeHours.map((range) => range.text) : null,
    active_days: rule.activeDays
      ? [...rule.activeDays].sort(mondayFirst).map((day) => DAY_NAMES[day])
      : null,
    timezone: rule.timezone ?? null,
    rate_limit: {
      per_model: rule.rateLimit.perModel?.text ?? null,
      per_session: rule.rateLimit.perSession?.text ?? null,
    },
    scan_results: {
      secrets: rule.scanResults?.secrets ?? "redact",
      injection: rule.scanResults?.injection ?? "flag",
    },
    require_approval: (rule.requireApproval ?? []).map((glob) => glob.source),
  };
}

function mondayFirst(a: number, b: number): number {
  return ((a + 6) % 7) - ((b + 6) % 7);
}

function describeUpstream(name: string, upstream: UpstreamConfig): UpstreamDescription {
  if (upstream.kind === "http") {
    return { name, kind: "http", prefix: upstream.prefix, url: upstream.url };
  }
  return { name, kind: "stdio", prefix: upstream.prefix, command: [...upstream.command] };
}
