import { createHash } from "node:crypto";
import { expect } from "expect";
import { describePolicy, parsePolicy } from "./parse/parse.ts";

const KEY = "a-very-secret-agent-key-42";
const KEY_HASH = createHash("sha256").update(KEY).digest("hex");

const TEXT = `defaults: { unknown_schema: deny, timezone: UTC }
agents:
  - { id: planner, key_env: PLANNER_KEY, models: ["gpt-4o", "gpt-4o-mini"] }
  - { id: ops, key_sha256: "${"b".repeat(64)}", models: ["claude-*"] }
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*"]
    deny_tools: ["db.write*"]
    allow_resources: ["file:///srv/*"]
    deny_resources: ["file:///srv/secret*"]
    max_calls_per_session: 5
    active_hours: ["22:00-06:00", "12:00-13:00"]
    active_days: [sun, fri, mon]
    timezone: "Europe/Paris"
    rate_limit: { per_model: "600/minute", per_session: "60/minute" }
    scan_results: { secrets: block, injection: off }
  - model: "claude-*"
upstreams:
  calendar:
    url: "http://127.0.0.1:9001/mcp"
    headers: { Authorization: "Bearer \${CAL_TOKEN}" }
  files:
    command: ["mcp-files", "/srv"]
    env: { FILES_TOKEN: "\${FILES_TOKEN}" }
    prefix: ""
pinning: { mode: warn }
`;

Deno.test("describePolicy: JSON-safe view with globs, hours, days and rates as text", () => {
  const result = parsePolicy(TEXT, {
    env: { PLANNER_KEY: KEY, CAL_TOKEN: "cal-secret-1", FILES_TOKEN: "files-secret-2" },
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const description = describePolicy(result.policy);
  expect(JSON.parse(JSON.stringify(description))).toEqual(description);
  expect(description).toEqual({
    policy_version: result.policy.version,
    identity_mode: "agents",
    defaults: { unknown_schema: "deny", timezone: "UTC" },
    agents: [
      { id: "planner", models: ["gpt-4o", "gpt-4o-mini"] },
      { id: "ops", models: ["claude-*"] },
    ],
    rules: [
      {
        index: 0,
        model: "gpt-4*",
        allow_tools: ["calendar.*"],
        deny_tools: ["db.write*"],
        allow_prompts: [],
        deny_prompts: [],
        allow_resources: ["file:///srv/*"],
        deny_resources: ["file:///srv/secret*"],
        max_calls_per_session: 5,
        active_hours: ["22:00-06:00", "12:00-13:00"],
        active_days: ["mon", "fri", "sun"],
        timezone: "Europe/Paris",
        rate_limit: { per_model: "600/minute", per_session: "60/minute" },
        scan_results: { secrets: "block", injection: "off" },
        require_approval: [],
      },
      {
        index: 1,
        model: "claude-*",
        allow_tools: [],
        deny_tools: [],
        allow_prompts: [],
        deny_prompts: [],
        allow_resources: [],
        deny_resources: [],
        max_calls_per_session: null,
        active_hours: null,
        active_days: null,
        timezone: null,
        rate_limit: { per_model: null, per_session: null },
        scan_results: { secrets: "redact", injection: "flag" },
        require_approval: [],
      },
    ],
    upstreams: [
      { name: "calendar", kind: "http", prefix: "calendar", url: "http://127.0.0.1:9001/mcp" },
      { name: "files", kind: "stdio", prefix: "", command: ["mcp-files", "/srv"] },
    ],
    pinning: { mode: "warn", scan_descriptions: "block" },
  });
  const json = JSON.stringify(description);
  for (const secret of [KEY, KEY_HASH, "b".repeat(64), "cal-secret-1", "files-secret-2"]) {
    expect(json).not.toContain(secret);
  }
});

Deno.test("describePolicy: open identity mode", () => {
  const result = parsePolicy('rules:\n  - model: "*"\n', { env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const description = describePolicy(result.policy);
  expect(description.identity_mode).toBe("open");
  expect(description.agents).toBeNull();
  expect(description.upstreams).toEqual([]);
  expect(description.pinning).toEqual({ mode: "block", scan_descriptions: "block" });
  expect(description.defaults).toEqual({ unknown_schema: "allow", timezone: null });
});
