import { createHash } from "node:crypto";
import { expect } from "expect";
import { parsePolicy } from "./parse.ts";
import { parseHourRange, parseRate } from "./parse_rules.ts";
import type { Policy } from "../types.ts";

const SEED = `rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*"]
    deny_tools: ["db.write*"]
    max_calls_per_session: 5
    active_hours: "08:00-18:00"
`;

function load(text: string, vars: Record<string, string> = {}): Policy {
  const result = parsePolicy(text, { env: vars });
  if (!result.ok) throw new Error(`expected a valid policy, got:\n${result.errors.join("\n")}`);
  return result.policy;
}

function errorsOf(text: string, vars: Record<string, string> = {}): string[] {
  const result = parsePolicy(text, { env: vars });
  if (result.ok) throw new Error("expected the policy to be rejected");
  return result.errors;
}

function rule(body: string): string {
  return `rules:\n  - model: "m"\n${body.replace(/^/gm, "    ")}\n`;
}

Deno.test("parsePolicy: the seed's starter format loads unchanged", () => {
  const policy = load(SEED);
  expect(policy.rules).toHaveLength(1);
  const [r] = policy.rules;
  expect(r.index).toBe(0);
  expect(r.model.source).toBe("gpt-4*");
  expect(r.allowTools.map((g) => g.source)).toEqual(["calendar.*", "search.*"]);
  expect(r.denyTools.map((g) => g.source)).toEqual(["db.write*"]);
  expect(r.maxCallsPerSession).toBe(5);
  expect(r.activeHours).toEqual([{ start: 480, end: 1080, text: "08:00-18:00" }]);
  expect(r.activeDays).toBeUndefined();
  expect(r.timezone).toBeUndefined();
  expect(r.rateLimit).toEqual({});
  expect(policy.agents).toBeNull();
  expect(policy.upstreams).toEqual({});
  expect(policy.defaults).toEqual({ unknownSchema: "allow" });
  expect(policy.pinning).toEqual({ mode: "block" });
});

Deno.test("parsePolicy: version is the first 12 hex of the sha256 of the UTF-8 text", () => {
  const text = `${SEED}# café ☕\n`;
  const expected = createHash("sha256").update(new TextEncoder().encode(text)).digest("hex");
  expect(load(text).version).toBe(expected.slice(0, 12));
  expect(load(text).version).toMatch(/^[0-9a-f]{12}$/);
  expect(load(`${SEED}\n`).version).not.toBe(load(SEED).version);
});

Deno.test("parsePolicy: every rule key is compiled", () => {
  const policy = load(`defaults: { unknown_schema: deny, timezone: UTC }
pinning: { mode: warn }
rules:
  - model: "claude-?"
    allow_tools: ["*"]
    max_calls_per_session: 0
    active_hours: ["22:00-06:00", "12:00-12:00", "20:00-24:00"]
    active_days: ["sat", "mon"]
    timezone: "Europe/Paris"
    rate_limit: { per_model: "600/minute", per_session: "2/second" }
`);
  expect(policy.defaults).toEqual({ unknownSchema: "deny", timezone: "UTC" });
  expect(policy.pinning).toEqual({ mode: "warn" });
  const [r] = policy.rules;
  expect(r.allowTools.map((g) => g.source)).toEqual(["*"]);
  expect(r.denyTools).toEqual([]);
  expect(r.maxCallsPerSession).toBe(0);
  expect(r.activeHours?.map((h) => [h.start, h.end])).toEqual([[1320, 360], [720, 720], [1200, 0]]);
  expect([...(r.activeDays ?? [])].sort()).toEqual([1, 6]);
  expect(r.timezone).toBe("Europe/Paris");
  expect(r.rateLimit.perModel).toEqual({ text: "600/minute", limit: 600, windowMs: 60_000 });
  expect(r.rateLimit.perSession).toEqual({ text: "2/second", limit: 2, windowMs: 1_000 });
});

Deno.test("parsePolicy: absent allow_tools means nothing allowed", () => {
  expect(load(`rules:\n  - model: "x"\n`).rules[0].allowTools).toEqual([]);
});

Deno.test("parsePolicy: empty, half-written or wrongly shaped files are never an empty policy", () => {
  const table: Array<[string, string]> = [
    ["", "policy: must be a mapping"],
    ["# only a comment\n", "policy: must be a mapping"],
    ["---\n", "policy: must be a mapping"],
    ["- model: x\n", 'policy: must be a mapping with at least "rules", got a list'],
    ["hello\n", "got a string"],
    ["defaults: { unknown_schema: allow }\n", "rules: is required"],
    ["rules:\n", "rules: must be a list of rules, got nothing"],
    ["rules: []\n", "rules: must contain at least one rule"],
    ["rules: { model: x }\n", "rules: must be a list of rules, got a mapping"],
    ['rules:\n  - model: "gpt\n', "invalid YAML"],
    [
      "rules:\n  - model: a\n    model: b\n",
      "line 3, column 5: invalid YAML: Map keys must be unique",
    ],
    ["rules:\n  - model: a\n---\nrules: []\n", "invalid YAML"],
    ["rules:\n  - model: !custom a\n", "invalid YAML: Unresolved tag"],
  ];
  for (const [text, expected] of table) {
    const errors = errorsOf(text);
    expect([text, errors.some((e) => e.includes(expected))]).toEqual([text, true]);
  }
});

Deno.test("parsePolicy: alias bombs are refused", () => {
  const bomb = [
    'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]",
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]",
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]",
    "rules: [{ model: m, allow_tools: *d }]",
  ].join("\n");
  expect(errorsOf(bomb)).toEqual(["policy: invalid YAML: too many alias expansions"]);
});

Deno.test("parsePolicy: collects every problem, each with its path", () => {
  const errors = errorsOf(`rulez: 1
defaults: { unknown_schema: maybe, timezone: "Mars/Olympus", extra: 1 }
pinning: { mode: loud }
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", 7]
  - allow_tools: []
  - "not a rule"
  - model: "m"
    alow_tools: ["x"]
    deny_tools: "db.*"
    max_calls_per_session: -1
    active_hours: "8-18"
    active_days: ["Mon", "tue", "tue"]
    timezone: "Nowhere/Land"
    rate_limit: { per_model: "0/minute", per_session: "5/week", per_agent: "1/second" }
`);
  expect(errors).toEqual([
    'policy: unknown key "rulez"',
    'defaults: unknown key "extra"',
    'defaults.unknown_schema: must be "allow" or "deny"',
    'defaults.timezone: is not a known IANA time zone (e.g. "UTC", "Europe/Paris")',
    "rules[0].allow_tools[1]: must be a string, got an integer",
    'rules[1]: missing required key "model"',
    "rules[2]: must be a mapping, got a string",
    'rules[3]: unknown key "alow_tools"',
    "rules[3].deny_tools: must be a list of strings, got a string",
    "rules[3].max_calls_per_session: must be a whole number ≥ 0, got an integer",
    'rules[3].active_hours: must be "HH:MM-HH:MM" with times 00:00..23:59 (end may be 24:00)',
    "rules[3].active_days[0]: must be one of sun, mon, tue, wed, thu, fri, sat",
    'rules[3].active_days[2]: repeats "tue"',
    'rules[3].timezone: is not a known IANA time zone (e.g. "UTC", "Europe/Paris")',
    'rules[3].rate_limit: unknown key "per_agent"',
    'rules[3].rate_limit.per_model: must be "N/second", "N/minute", "N/hour" or "N/day" with N ≥ 1',
    'rules[3].rate_limit.per_session: must be "N/second", "N/minute", "N/hour" or "N/day" with N ≥ 1',
    'pinning.mode: must be "off", "warn" or "block"',
  ]);
});

Deno.test("parsePolicy: rule value checks", () => {
  const table: Array<[string, string]> = [
    ['model: ""', "rules[0].model: must not be empty"],
    ['allow_tools: [""]', "rules[0].allow_tools[0]: must not be empty"],
    ['deny_tools: ["db/write*"]', "rules[0].deny_tools[0]: can never match a tool name"],
    ['allow_tools: ["calendar:*"]', "rules[0].allow_tools[0]: can never match a tool name"],
    ["max_calls_per_session: 1.5", "got a number"],
    ['max_calls_per_session: "5"', "got a string"],
    ["max_calls_per_session: true", "got a boolean"],
    ["active_hours: []", "rules[0].active_hours: must not be an empty list"],
    ['active_hours: ["08:00-18:00", 9]', "rules[0].active_hours[1]: must be a string"],
    ["active_hours: 8", 'rules[0].active_hours: must be "HH:MM-HH:MM" or a list of them'],
    ["active_days: []", "rules[0].active_days: must not be an empty list"],
    ['active_days: "mon"', "rules[0].active_days: must be a list of day names"],
    ["timezone: 1", "rules[0].timezone: must be a string"],
    ['rate_limit: "10/minute"', "rules[0].rate_limit: must be a mapping"],
    ["scan_results: block", "rules[0].scan_results: must be a mapping"],
    [
      "model: m\npinning: { scan_descriptions: warn }",
      'pinning.scan_descriptions: must be "off", "flag" or "block"',
    ],
    [
      "scan_results: {secrets: flag}",
      'rules[0].scan_results.secrets: must be "redact", "block", "off", got "flag"',
    ],
    [
      "scan_results: {injection: redact}",
      'rules[0].scan_results.injection: must be "flag", "block", "off", got "redact"',
    ],
    [
      "scan_results: {injection: false}",
      'rules[0].scan_results.injection: must be "flag", "block", "off", got a boolean',
    ],
    ["scan_results: {secret: block}", 'rules[0].scan_results: unknown key "secret"'],
  ];
  for (const [body, expected] of table) {
    const text = body.startsWith("model") ? `rules:\n  - ${body}\n` : rule(body);
    const errors = errorsOf(text);
    expect([body, errors.some((e) => e.startsWith(expected) || e.includes(expected))])
      .toEqual([body, true]);
  }
});

Deno.test("parseHourRange: format and bounds", () => {
  const table: Array<[string, [number, number] | undefined]> = [
    ["08:00-18:00", [480, 1080]],
    ["22:00-06:00", [1320, 360]],
    ["00:00-00:00", [0, 0]],
    ["00:00-24:00", [0, 0]],
    ["23:59-00:00", [1439, 0]],
    ["24:00-01:00", undefined],
    ["08:00-24:01", undefined],
    ["8:00-18:00", undefined],
    ["08:60-09:00", undefined],
    ["08:00 - 18:00", undefined],
    ["08:00-18:00\n", undefined],
    ["25:00-01:00", undefined],
  ];
  for (const [text, expected] of table) {
    const range = parseHourRange(text);
    expect([text, range ? [range.start, range.end] : undefined]).toEqual([text, expected]);
  }
});

Deno.test("parseRate: format and windows", () => {
  expect(parseRate("1/second")).toEqual({ text: "1/second", limit: 1, windowMs: 1000 });
  expect(parseRate("60/hour")?.windowMs).toBe(3_600_000);
  expect(parseRate("1000/day")).toEqual({ text: "1000/day", limit: 1000, windowMs: 86_400_000 });
  for (const bad of ["0/minute", "-1/minute", "1.5/second", "10/week", "10 / minute", "/minute"]) {
    expect([bad, parseRate(bad)]).toEqual([bad, undefined]);
  }
  expect(parseRate("99999999999999999/second")).toBeUndefined();
});

Deno.test("parsePolicy: allow_resources / deny_resources are URI globs, none by default", () => {
  const policy = load(
    rule('allow_resources: ["file:///srv/*", "test://{id}"]\ndeny_resources: []'),
  );
  expect(policy.rules[0].allowResources?.map((glob) => glob.source)).toEqual([
    "file:///srv/*",
    "test://{id}",
  ]);
  expect(policy.rules[0].allowResources?.[0].test("file:///srv/a/b.txt")).toBe(true);
  expect(load(SEED).rules[0].allowResources).toEqual([]);
  expect(errorsOf(rule('allow_resource: ["x"]'))).toEqual([
    'rules[0]: unknown key "allow_resource"',
  ]);
  expect(errorsOf(rule('deny_resources: "file:///*"\nallow_resources: [1]'))).toEqual([
    "rules[0].allow_resources[0]: must be a string, got an integer",
    "rules[0].deny_resources: must be a list of strings, got a string",
  ]);
});

Deno.test("parsePolicy: require_approval is a list of tool globs, compiled once (§15)", () => {
  const policy = load(rule('allow_tools: ["*"]\nrequire_approval: ["db.delete*", "mail.send"]'));
  expect(policy.rules[0].requireApproval?.map((glob) => glob.source)).toEqual([
    "db.delete*",
    "mail.send",
  ]);
  expect(policy.anyApproval).toBe(true);
  expect(load(SEED).rules[0].requireApproval).toBeUndefined();
  expect(load(SEED).anyApproval).toBeUndefined();
  expect(errorsOf(rule('require_approval: "db.*"'))).toEqual([
    "rules[0].require_approval: must be a list of strings, got a string",
  ]);
  expect(errorsOf(rule('require_approval: ["db/delete", 3]'))).toEqual([
    "rules[0].require_approval[0]: can never match a tool name (allowed: A-Z a-z 0-9 _ . - * ?)",
    "rules[0].require_approval[1]: must be a string, got an integer",
  ]);
  expect(errorsOf(rule('require_approvals: ["x"]'))[0]).toContain(
    'rules[0]: unknown key "require_approvals"',
  );
});
