import type { Denial } from "../reasons.ts";
import { DAY_NAMES, localClock } from "./time.ts";
import type { Glob, HourRange, Policy, Rule } from "./types.ts";

/** Facts the policy decides on: who (model) wants what (tool). */
export interface PolicyFacts {
  /** The caller's model id (already validated by the transport). */
  readonly modelId: string;
  /** The requested tool name (already validated against the tool-name pattern). */
  readonly toolName: string;
}

/** The policy's verdict; limits, caps and schemas are decided later by other modules. */
export type PolicyDecision =
  | { readonly kind: "allow"; readonly rule: Rule }
  | { readonly kind: "deny"; readonly denial: Denial; readonly rule?: Rule };

/** The first rule whose model glob matches `modelId`, if any. */
export function findRule(policy: Policy, modelId: string): Rule | undefined {
  for (const rule of policy.rules) {
    if (rule.model.test(modelId)) return rule;
  }
  return undefined;
}

/**
 * Applies §3 in order: no rule → `no_matching_rule`; deny glob → `tool_denied`; no allow glob →
 * `tool_not_allowed`; outside hours/days → `outside_active_hours`. `now` is epoch milliseconds.
 */
export function evaluatePolicy(policy: Policy, facts: PolicyFacts, now: number): PolicyDecision {
  return evaluateName(policy, { modelId: facts.modelId, name: facts.toolName, kind: "tool" }, now);
}

const NONE: readonly Glob[] = Object.freeze([]);

/** The reason code of a deny glob match, and of no allow glob matching, per kind of name. */
const DENIED = {
  tool: "tool_denied",
  prompt: "prompt_denied",
  resource: "resource_denied",
} as const;
const NOT_ALLOWED = {
  tool: "tool_not_allowed",
  prompt: "prompt_not_allowed",
  resource: "resource_not_allowed",
} as const;

/** The shared order of §3 for a tool or prompt name or a resource URI (their own allow/deny globs). */
function evaluateName(
  policy: Policy,
  facts: { modelId: string; name: string; kind: "tool" | "prompt" | "resource" },
  now: number,
): PolicyDecision {
  const { modelId, name, kind } = facts;
  const rule = findRule(policy, modelId);
  if (rule === undefined) {
    return deny("no_matching_rule", `no rule matches model ${JSON.stringify(modelId)}`);
  }
  const [allowGlobs, denyGlobs] = kind === "tool"
    ? [rule.allowTools, rule.denyTools]
    : kind === "prompt"
    ? [rule.allowPrompts, rule.denyPrompts]
    : [rule.allowResources ?? NONE, rule.denyResources ?? NONE];
  const what = `${kind} ${JSON.stringify(kind === "resource" ? name.slice(0, 200) : name)}`;
  if (anyMatch(denyGlobs, name)) {
    const code = DENIED[kind];
    return deny(code, `${what} is denied by ${ruleLabel(rule)}`, rule);
  }
  if (!anyMatch(allowGlobs, name)) {
    const code = NOT_ALLOWED[kind];
    return deny(code, `${what} is not allowed by ${ruleLabel(rule)}`, rule);
  }
  if (!isActiveAt(rule, policy.defaults, now)) {
    const zone = rule.timezone ?? policy.defaults.timezone ?? "server local time";
    return deny(
      "outside_active_hours",
      `${what} is outside the active time of ${ruleLabel(rule)}: ${activeText(rule)}, ${zone}`,
      rule,
    );
  }
  return { kind: "allow", rule };
}

/**
 * True when an allowed call of `toolName` by `modelId` must wait for a person's approval (§15):
 * its rule lists a matching `require_approval` glob. A policy with no such glob answers at once.
 */
export function needsApproval(policy: Policy, modelId: string, toolName: string): boolean {
  if (policy.anyApproval !== true) return false;
  const globs = findRule(policy, modelId)?.requireApproval;
  return globs !== undefined && anyMatch(globs, toolName);
}

/** True when `now` falls on one of the rule's days AND in one of its hour ranges (in its zone). */
export function isActiveAt(rule: Rule, defaults: Policy["defaults"], now: number): boolean {
  const { activeHours, activeDays } = rule;
  if (activeHours === undefined && activeDays === undefined) return true;
  const clock = localClock(rule.timezone ?? defaults.timezone, now);
  if (activeDays !== undefined && !activeDays.has(clock.day)) return false;
  return activeHours === undefined ||
    activeHours.some((range) => inRange(range, clock.minuteOfDay));
}

/** True when the proxy may list `toolName` for `modelId` now (the policy would allow the call). */
export function isToolVisible(
  policy: Policy,
  modelId: string,
  toolName: string,
  now: number,
): boolean {
  return evaluatePolicy(policy, { modelId, toolName }, now).kind === "allow";
}

/**
 * Whether the MCP proxy may relay prompt `promptName` to `modelId` now: the model's rule, its
 * `deny_prompts` (deny wins → `prompt_denied`), `allow_prompts` (none match →
 * `prompt_not_allowed`), then its active hours and days.
 */
export function evaluatePrompt(
  policy: Policy,
  facts: { modelId: string; promptName: string },
  now: number,
): PolicyDecision {
  return evaluateName(
    policy,
    { modelId: facts.modelId, name: facts.promptName, kind: "prompt" },
    now,
  );
}

/**
 * Whether the MCP proxy may relay resource `uri` (a URI, or a template's `uriTemplate` text) to
 * `modelId` now: the model's rule, its `deny_resources` (deny wins → `resource_denied`),
 * `allow_resources` (none match or none written → `resource_not_allowed`: zero trust), then its
 * active hours and days (`outside_active_hours`).
 */
export function evaluateResource(
  policy: Policy,
  facts: { modelId: string; uri: string },
  now: number,
): PolicyDecision {
  return evaluateName(policy, { modelId: facts.modelId, name: facts.uri, kind: "resource" }, now);
}

/**
 * Whether `modelId` could be allowed any prompt or resource now: its rule exists, has at least one
 * `allow_prompts` / `allow_resources` glob, and is active. False means a list need not even be
 * asked of the upstreams.
 */
export function mayListAny(
  policy: Policy,
  facts: { modelId: string; kind: "prompt" | "resource" },
  now: number,
): boolean {
  const rule = findRule(policy, facts.modelId);
  if (rule === undefined) return false;
  const allow = facts.kind === "prompt" ? rule.allowPrompts : rule.allowResources ?? NONE;
  return allow.length > 0 && isActiveAt(rule, policy.defaults, now);
}

/** Start minute included, end minute excluded; start = end is all day; end < start wraps midnight. */
function inRange(range: HourRange, minute: number): boolean {
  if (range.start === range.end) return true;
  if (range.start < range.end) return minute >= range.start && minute < range.end;
  return minute >= range.start || minute < range.end;
}

function anyMatch(globs: readonly Glob[], value: string): boolean {
  for (const glob of globs) {
    if (glob.test(value)) return true;
  }
  return false;
}

function ruleLabel(rule: Rule): string {
  return `rule ${rule.index} (model ${JSON.stringify(rule.model.source)})`;
}

function activeText(rule: Rule): string {
  const hours = rule.activeHours ? rule.activeHours.map((r) => r.text).join(", ") : "any hour";
  const days = rule.activeDays
    ? [1, 2, 3, 4, 5, 6, 0].filter((day) => rule.activeDays?.has(day)).map((d) => DAY_NAMES[d])
      .join(", ")
    : "every day";
  return `${hours} on ${days}`;
}

function deny(reasonCode: Denial["reasonCode"], reason: string, rule?: Rule): PolicyDecision {
  const denial: Denial = { reasonCode, reason };
  return rule === undefined ? { kind: "deny", denial } : { kind: "deny", denial, rule };
}
