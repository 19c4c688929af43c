import { expect } from "expect";
import {
  evaluatePolicy,
  evaluatePrompt,
  evaluateResource,
  findRule,
  isActiveAt,
  isToolVisible,
  mayListAny,
  needsApproval,
} from "./evaluate.ts";
import { parsePolicy } from "./parse/parse.ts";
import type { Policy } from "./types.ts";

function load(text: string): Policy {
  const result = parsePolicy(text, { env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.policy;
}

const at = (iso: string): number => Date.parse(iso);
const MONDAY_NOON = at("2024-01-15T12:00:00Z");

const POLICY = load(`defaults: { timezone: UTC }
rules:
  - model: "gpt-4o"
    allow_tools: ["search.web"]
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*", "db.*"]
    deny_tools: ["db.write*"]
    active_hours: "08:00-18:00"
  - model: "claude-?"
    allow_tools: ["*"]
    deny_tools: ["*.delete", "admin.*"]
  - model: "mistral-*"
`);

function outcome(modelId: string, toolName: string, now = MONDAY_NOON): [string, number?] {
  const decision = evaluatePolicy(POLICY, { modelId, toolName }, now);
  if (decision.kind === "allow") return ["allow", decision.rule.index];
  return [decision.denial.reasonCode, decision.rule?.index];
}

Deno.test("evaluatePolicy: §3 order and first matching rule", () => {
  const evening = at("2024-01-15T19:00:00Z");
  const table: Array<[string, string, number, [string, number?]]> = [
    ["llama-3", "search.web", MONDAY_NOON, ["no_matching_rule", undefined]],
    ["GPT-4o", "search.web", MONDAY_NOON, ["no_matching_rule", undefined]],
    ["gpt-4o", "search.web", MONDAY_NOON, ["allow", 0]],
    ["gpt-4o", "calendar.list", MONDAY_NOON, ["tool_not_allowed", 0]],
    ["gpt-4-turbo", "calendar.create_event", MONDAY_NOON, ["allow", 1]],
    ["gpt-4-turbo", "db.read", MONDAY_NOON, ["allow", 1]],
    ["gpt-4-turbo", "db.write_row", MONDAY_NOON, ["tool_denied", 1]],
    ["gpt-4-turbo", "db.write_row", evening, ["tool_denied", 1]],
    ["gpt-4-turbo", "files.read", evening, ["tool_not_allowed", 1]],
    ["gpt-4-turbo", "calendar.create_event", evening, ["outside_active_hours", 1]],
    ["claude-3", "anything.at.all", evening, ["allow", 2]],
    ["claude-3", "files.delete", MONDAY_NOON, ["tool_denied", 2]],
    ["claude-3", "admin.reset", MONDAY_NOON, ["tool_denied", 2]],
    ["claude-35", "files.read", MONDAY_NOON, ["no_matching_rule", undefined]],
    ["mistral-large", "search.web", MONDAY_NOON, ["tool_not_allowed", 3]],
  ];
  for (const [model, tool, now, expected] of table) {
    expect([model, tool, outcome(model, tool, now)]).toEqual([model, tool, expected]);
  }
});

Deno.test("evaluatePolicy: reasons name the model, tool and rule", () => {
  const reason = (modelId: string, toolName: string, now = MONDAY_NOON): string => {
    const decision = evaluatePolicy(POLICY, { modelId, toolName }, now);
    return decision.kind === "deny" ? decision.denial.reason : "allowed";
  };
  expect(reason("gpt-4-turbo", "db.write_row")).toBe(
    'tool "db.write_row" is denied by rule 1 (model "gpt-4*")',
  );
  expect(reason("gpt-4o", "calendar.list")).toBe(
    'tool "calendar.list" is not allowed by rule 0 (model "gpt-4o")',
  );
  expect(reason("llama-3", "x")).toBe('no rule matches model "llama-3"');
  expect(reason('evil"\nmodel', "x")).toBe('no rule matches model "evil\\"\\nmodel"');
  expect(reason("gpt-4-turbo", "search.web", at("2024-01-15T06:00:00Z"))).toBe(
    'tool "search.web" is outside the active time of rule 1 (model "gpt-4*"): ' +
      "08:00-18:00 on every day, UTC",
  );
  const denial = evaluatePolicy(POLICY, { modelId: "x", toolName: "y" }, MONDAY_NOON);
  expect(denial).toEqual({
    kind: "deny",
    denial: { reasonCode: "no_matching_rule", reason: 'no rule matches model "x"' },
  });
});

Deno.test("findRule: first rule whose model glob matches", () => {
  expect(findRule(POLICY, "gpt-4o")?.index).toBe(0);
  expect(findRule(POLICY, "gpt-4o-mini")?.index).toBe(1);
  expect(findRule(POLICY, "gpt-3.5")).toBeUndefined();
});

function hoursRule(hours: string, extra = ""): Policy {
  return load(`rules:\n  - model: m\n    allow_tools: ["*"]\n    active_hours: ${hours}
    timezone: UTC\n${extra}`);
}

function activeAt(policy: Policy, iso: string): boolean {
  return isActiveAt(policy.rules[0], policy.defaults, at(iso));
}

Deno.test("isActiveAt: start inclusive, end exclusive, wrap-around, all day, lists", () => {
  const table: Array<[string, string, boolean]> = [
    ['"08:00-18:00"', "2024-01-15T07:59:59Z", false],
    ['"08:00-18:00"', "2024-01-15T08:00:00Z", true],
    ['"08:00-18:00"', "2024-01-15T17:59:59Z", true],
    ['"08:00-18:00"', "2024-01-15T18:00:00Z", false],
    ['"22:00-06:00"', "2024-01-15T21:59:00Z", false],
    ['"22:00-06:00"', "2024-01-15T22:00:00Z", true],
    ['"22:00-06:00"', "2024-01-15T00:00:00Z", true],
    ['"22:00-06:00"', "2024-01-15T05:59:00Z", true],
    ['"22:00-06:00"', "2024-01-15T06:00:00Z", false],
    ['"22:00-06:00"', "2024-01-15T12:00:00Z", false],
    ['"09:00-09:00"', "2024-01-15T00:00:00Z", true],
    ['"09:00-09:00"', "2024-01-15T08:59:00Z", true],
    ['"09:00-09:00"', "2024-01-15T23:59:00Z", true],
    ['"00:00-24:00"', "2024-01-15T23:59:00Z", true],
    ['"20:00-24:00"', "2024-01-15T23:59:00Z", true],
    ['"20:00-24:00"', "2024-01-15T00:00:00Z", false],
    ['["08:00-10:00", "14:00-16:00"]', "2024-01-15T09:00:00Z", true],
    ['["08:00-10:00", "14:00-16:00"]', "2024-01-15T12:00:00Z", false],
    ['["08:00-10:00", "14:00-16:00"]', "2024-01-15T15:59:00Z", true],
    ['["08:00-10:00", "14:00-16:00"]', "2024-01-15T16:00:00Z", false],
  ];
  for (const [hours, iso, expected] of table) {
    expect([hours, iso, activeAt(hoursRule(hours), iso)]).toEqual([hours, iso, expected]);
  }
});

Deno.test("isActiveAt: active_days AND-ed with hours, by the current day in the rule's zone", () => {
  const satNights = hoursRule('"22:00-06:00"', '    active_days: ["sat"]\n');
  expect(activeAt(satNights, "2024-01-19T23:00:00Z")).toBe(false); // Friday 23:00
  expect(activeAt(satNights, "2024-01-20T02:00:00Z")).toBe(true); // Saturday 02:00
  expect(activeAt(satNights, "2024-01-20T12:00:00Z")).toBe(false); // Saturday noon
  expect(activeAt(satNights, "2024-01-20T23:00:00Z")).toBe(true); // Saturday 23:00
  expect(activeAt(satNights, "2024-01-21T02:00:00Z")).toBe(false); // Sunday 02:00
  const weekdays = load(`rules:
  - model: m
    active_days: [mon, tue, wed, thu, fri]
    timezone: UTC
`);
  expect(activeAt(weekdays, "2024-01-15T00:00:00Z")).toBe(true);
  expect(activeAt(weekdays, "2024-01-19T23:59:59Z")).toBe(true);
  expect(activeAt(weekdays, "2024-01-20T00:00:00Z")).toBe(false);
  expect(activeAt(weekdays, "2024-01-21T23:59:59Z")).toBe(false);
});

Deno.test("isActiveAt: Europe/Paris vs UTC at fixed instants, DST included", () => {
  const paris = load(`defaults: { timezone: "Europe/Paris" }
rules:
  - model: paris
    active_hours: "08:00-18:00"
  - model: utc
    active_hours: "08:00-18:00"
    timezone: UTC
  - model: monday
    active_days: [mon]
  - model: dst
    active_hours: "02:00-03:00"
`);
  const active = (index: number, iso: string) =>
    isActiveAt(paris.rules[index], paris.defaults, at(iso));
  // Winter (CET, UTC+1): 07:30Z is 08:30 in Paris.
  expect(active(0, "2024-01-15T07:30:00Z")).toBe(true);
  expect(active(1, "2024-01-15T07:30:00Z")).toBe(false);
  expect(active(0, "2024-01-15T16:59:00Z")).toBe(true);
  expect(active(0, "2024-01-15T17:00:00Z")).toBe(false);
  expect(active(1, "2024-01-15T17:00:00Z")).toBe(true);
  // Summer (CEST, UTC+2): 06:00Z is 08:00 in Paris, 05:59Z is 07:59.
  expect(active(0, "2024-07-15T06:00:00Z")).toBe(true);
  expect(active(0, "2024-07-15T05:59:59Z")).toBe(false);
  expect(active(0, "2024-07-15T15:59:00Z")).toBe(true);
  expect(active(0, "2024-07-15T16:00:00Z")).toBe(false);
  // The day is Paris's: 23:30Z on Sunday is already Monday 00:30 in Paris.
  expect(active(2, "2024-01-14T23:30:00Z")).toBe(true);
  expect(active(2, "2024-01-14T22:30:00Z")).toBe(false);
  // Spring-forward night 2024-03-31: 02:00-03:00 Paris time does not exist.
  expect(active(3, "2024-03-31T00:59:59Z")).toBe(false); // 01:59:59 CET
  expect(active(3, "2024-03-31T01:00:00Z")).toBe(false); // 03:00 CEST
  expect(active(3, "2024-03-30T01:30:00Z")).toBe(true); // 02:30 CET the day before
  // Fall-back night 2024-10-27: 02:00-03:00 happens twice.
  expect(active(3, "2024-10-27T00:30:00Z")).toBe(true); // 02:30 CEST
  expect(active(3, "2024-10-27T01:30:00Z")).toBe(true); // 02:30 CET
  expect(active(3, "2024-10-27T02:00:00Z")).toBe(false); // 03:00 CET
});

Deno.test("isActiveAt: without any zone, server local time is used", () => {
  const local = load(`rules:\n  - model: m\n    active_hours: "08:00-18:00"\n`);
  const rule = local.rules[0];
  expect(isActiveAt(rule, local.defaults, new Date(2024, 0, 15, 7, 59).getTime())).toBe(false);
  expect(isActiveAt(rule, local.defaults, new Date(2024, 0, 15, 8, 0).getTime())).toBe(true);
  expect(isActiveAt(rule, local.defaults, new Date(2024, 0, 15, 18, 0).getTime())).toBe(false);
  const always = load(`rules:\n  - model: m\n`);
  expect(isActiveAt(always.rules[0], always.defaults, 0)).toBe(true);
});

Deno.test("isToolVisible: exactly when the policy would allow the call now", () => {
  const evening = at("2024-01-15T19:00:00Z");
  expect(isToolVisible(POLICY, "gpt-4-turbo", "calendar.create_event", MONDAY_NOON)).toBe(true);
  expect(isToolVisible(POLICY, "gpt-4-turbo", "calendar.create_event", evening)).toBe(false);
  expect(isToolVisible(POLICY, "gpt-4-turbo", "db.write_row", MONDAY_NOON)).toBe(false);
  expect(isToolVisible(POLICY, "gpt-4-turbo", "files.read", MONDAY_NOON)).toBe(false);
  expect(isToolVisible(POLICY, "nobody", "search.web", MONDAY_NOON)).toBe(false);
  expect(isToolVisible(POLICY, "claude-3", "files.read", evening)).toBe(true);
});

Deno.test("evaluatePrompt: none by default, deny wins, hours apply", () => {
  const policy = load(`defaults: { timezone: UTC }
rules:
  - model: "gpt-*"
    allow_tools: ["*"]
    allow_prompts: ["docs.*"]
    deny_prompts: ["docs.secret_*"]
    active_hours: "08:00-18:00"
  - model: "claude-*"
    allow_tools: ["*"]
`);
  const prompt = (modelId: string, promptName: string, now = MONDAY_NOON) => {
    const decision = evaluatePrompt(policy, { modelId, promptName }, now);
    return decision.kind === "allow" ? "allow" : decision.denial.reasonCode;
  };
  expect(prompt("gpt-4o", "docs.summary")).toBe("allow");
  expect(prompt("gpt-4o", "docs.secret_plan")).toBe("prompt_denied");
  expect(prompt("gpt-4o", "other.summary")).toBe("prompt_not_allowed");
  expect(prompt("claude-3", "docs.summary")).toBe("prompt_not_allowed");
  expect(prompt("mistral", "docs.summary")).toBe("no_matching_rule");
  expect(prompt("gpt-4o", "docs.summary", at("2024-01-15T19:00:00Z"))).toBe(
    "outside_active_hours",
  );
  // tools and prompts keep their own globs
  expect(
    evaluatePolicy(policy, { modelId: "claude-3", toolName: "docs.summary" }, MONDAY_NOON).kind,
  )
    .toBe("allow");
});

Deno.test("evaluateResource: zero trust by default, deny wins, hours and days apply", () => {
  const policy = load(`defaults: { timezone: UTC }
rules:
  - model: "gpt-*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
    allow_resources: ["file:///srv/*", "test://template/{id}/data"]
    deny_resources: ["file:///srv/secret*"]
    active_hours: "08:00-18:00"
    active_days: [mon, tue, wed, thu, fri]
  - model: "claude-*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
`);
  const resource = (modelId: string, uri: string, now = MONDAY_NOON) => {
    const decision = evaluateResource(policy, { modelId, uri }, now);
    return decision.kind === "allow" ? "allow" : decision.denial.reasonCode;
  };
  expect(resource("gpt-4o", "file:///srv/report.txt")).toBe("allow");
  expect(resource("gpt-4o", "file:///srv/secrets/key.pem")).toBe("resource_denied");
  expect(resource("gpt-4o", "file:///etc/passwd")).toBe("resource_not_allowed");
  // a template's uriTemplate text is matched as written
  expect(resource("gpt-4o", "test://template/{id}/data")).toBe("allow");
  // no allow_resources at all: nothing, even with every tool and prompt allowed
  expect(resource("claude-3", "file:///srv/report.txt")).toBe("resource_not_allowed");
  expect(resource("mistral", "file:///srv/report.txt")).toBe("no_matching_rule");
  expect(resource("gpt-4o", "file:///srv/report.txt", at("2024-01-15T19:00:00Z"))).toBe(
    "outside_active_hours",
  );
  // Saturday noon: inside the hours, outside the days
  expect(resource("gpt-4o", "file:///srv/report.txt", at("2024-01-20T12:00:00Z"))).toBe(
    "outside_active_hours",
  );
  // deny wins even outside the hours; the reason never carries more than 200 characters of URI
  const long = evaluateResource(
    policy,
    { modelId: "gpt-4o", uri: "file:///etc/" + "x".repeat(5000) },
    MONDAY_NOON,
  );
  expect(long.kind === "deny" && long.denial.reason.length < 400).toBe(true);
  // resources and tools keep their own globs
  expect(evaluatePolicy(policy, { modelId: "gpt-4o", toolName: "file.x" }, MONDAY_NOON).kind)
    .toBe("allow");
});

Deno.test("mayListAny: a rule with allow globs, active now", () => {
  const policy = load(`defaults: { timezone: UTC }
rules:
  - model: "gpt-*"
    allow_prompts: ["docs.*"]
    allow_resources: ["file:///*"]
    active_hours: "08:00-18:00"
  - model: "claude-*"
    allow_tools: ["*"]
`);
  const may = (modelId: string, kind: "prompt" | "resource", now = MONDAY_NOON) =>
    mayListAny(policy, { modelId, kind }, now);
  expect([may("gpt-4o", "prompt"), may("gpt-4o", "resource")]).toEqual([true, true]);
  expect(may("gpt-4o", "resource", at("2024-01-15T19:00:00Z"))).toBe(false);
  expect([may("claude-3", "prompt"), may("claude-3", "resource")]).toEqual([false, false]);
  expect(may("mistral", "resource")).toBe(false);
});

Deno.test("needsApproval: the model's rule's require_approval globs, nothing without them (§15)", () => {
  const policy = load(`rules:
  - model: "gpt-*"
    allow_tools: ["*"]
    require_approval: ["db.delete*"]
  - model: "*"
    allow_tools: ["*"]
`);
  expect(needsApproval(policy, "gpt-4o", "db.delete_row")).toBe(true);
  expect(needsApproval(policy, "gpt-4o", "db.read")).toBe(false);
  expect(needsApproval(policy, "claude-3", "db.delete_row")).toBe(false);
  expect(needsApproval(POLICY, "gpt-4o", "search.web")).toBe(false);
});
