import { createHash } from "node:crypto";
import { LineCounter, parseDocument } from "yaml";
import { parseAgents } from "./parse_agents.ts";
import { parseOAuth } from "./parse_oauth.ts";
import { parseRules, parseTimeZone } from "./parse_rules.ts";
import { parseUpstreams } from "./parse_upstreams.ts";
import {
  checkKeys,
  createProblems,
  expectMapping,
  isMapping,
  kindOf,
  type PolicyEnv,
  type Problems,
} from "./parse_util.ts";
import type { Policy } from "../types.ts";

export { describePolicy } from "../describe.ts";

const TOP_KEYS = ["defaults", "agents", "oauth", "rules", "upstreams", "pinning"] as const;

/** Options for {@link parsePolicy}. */
export interface ParsePolicyOptions {
  /** Environment for `key_env` and `${VAR}` expansion (values are never copied into messages). */
  readonly env: PolicyEnv;
}

/** The outcome of loading a policy: a complete compiled policy, or every problem found. */
export type ParsePolicyResult =
  | { readonly ok: true; readonly policy: Policy }
  | { readonly ok: false; readonly errors: string[] };

/** Parses and checks policy YAML text into a compiled {@link Policy}, collecting every problem. */
export function parsePolicy(text: string, options: ParsePolicyOptions): ParsePolicyResult {
  const problems = createProblems();
  const raw = readYaml(text, problems);
  if (raw === undefined) return { ok: false, errors: problems.list };
  if (!isMapping(raw)) {
    const got = raw === null ? "an empty file" : kindOf(raw);
    problems.add("policy", `must be a mapping with at least "rules", got ${got}`);
    return { ok: false, errors: problems.list };
  }
  checkKeys(raw, TOP_KEYS, "", problems);
  const defaults = parseDefaults(raw.defaults, problems);
  const oauth = parseOAuth(raw.oauth, problems);
  const agents = parseAgents(raw.agents, options.env, problems, raw.oauth !== undefined);
  const rules = parseRules(raw.rules, problems);
  const upstreams = parseUpstreams(raw.upstreams, options.env, problems);
  const pinning = parsePinning(raw.pinning, problems);
  if (problems.list.length > 0) return { ok: false, errors: problems.list };
  const version = createHash("sha256").update(text, "utf8").digest("hex").slice(0, 12);
  const policy: Policy = Object.freeze({
    version,
    defaults,
    agents: agents === null ? null : Object.freeze(agents),
    ...(oauth !== undefined ? { oauth } : {}),
    rules: Object.freeze(rules),
    upstreams,
    pinning,
    ...(rules.some((rule) => rule.requireApproval !== undefined) ? { anyApproval: true } : {}),
  });
  return { ok: true, policy };
}

/** The YAML as plain data, or undefined after recording syntax problems (with line numbers). */
function readYaml(text: string, problems: Problems): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  const issues = [...doc.errors, ...doc.warnings];
  for (const issue of issues) {
    const { line, col } = lineCounter.linePos(issue.pos[0]);
    const message = issue.message.split("\n")[0];
    problems.add(`line ${line}, column ${col}`, `invalid YAML: ${message}`);
  }
  if (issues.length > 0) return undefined;
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch {
    problems.add("policy", "invalid YAML: too many alias expansions");
    return undefined;
  }
}

function parseDefaults(value: unknown, problems: Problems): Policy["defaults"] {
  if (value === undefined) return Object.freeze({ unknownSchema: "allow" });
  const map = expectMapping(value, "defaults", problems);
  if (map === undefined) return { unknownSchema: "allow" };
  checkKeys(map, ["unknown_schema", "timezone"], "defaults", problems);
  let unknownSchema: "allow" | "deny" = "allow";
  if (map.unknown_schema === "deny") unknownSchema = "deny";
  else if (map.unknown_schema !== undefined && map.unknown_schema !== "allow") {
    problems.add("defaults.unknown_schema", 'must be "allow" or "deny"');
  }
  const timezone = map.timezone === undefined
    ? undefined
    : parseTimeZone(map.timezone, "defaults.timezone", problems);
  return Object.freeze(timezone === undefined ? { unknownSchema } : { unknownSchema, timezone });
}

function parsePinning(value: unknown, problems: Problems): Policy["pinning"] {
  if (value === undefined) return Object.freeze({ mode: "block" });
  const map = expectMapping(value, "pinning", problems);
  if (map === undefined) return { mode: "block" };
  checkKeys(map, ["mode", "scan_descriptions"], "pinning", problems);
  const mode = map.mode === undefined ? "block" : map.mode;
  const scan = map.scan_descriptions;
  if (scan !== undefined && scan !== "off" && scan !== "flag" && scan !== "block") {
    problems.add("pinning.scan_descriptions", 'must be "off", "flag" or "block"');
  }
  const scanDescriptions = scan === "off" || scan === "flag" || scan === "block" ? scan : undefined;
  if (mode === "off" || mode === "warn" || mode === "block") {
    return Object.freeze(scanDescriptions === undefined ? { mode } : { mode, scanDescriptions });
  }
  problems.add("pinning.mode", 'must be "off", "warn" or "block"');
  return { mode: "block" };
}
