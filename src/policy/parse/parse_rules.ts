import { compileGlob } from "../glob.ts";
import {
  checkKeys,
  expectMapping,
  expectString,
  globList,
  kindOf,
  type Problems,
} from "./parse_util.ts";
import { DAY_NAMES, isValidTimeZone } from "../time.ts";
import type { HourRange, RateSpec, Rule, ScanResults } from "../types.ts";

const RULE_KEYS = [
  "model",
  "allow_tools",
  "deny_tools",
  "allow_prompts",
  "deny_prompts",
  "allow_resources",
  "deny_resources",
  "max_calls_per_session",
  "active_hours",
  "active_days",
  "timezone",
  "rate_limit",
  "scan_results",
  "require_approval",
] as const;

const WINDOWS: Readonly<Record<string, number>> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** Checks and compiles the `rules` list; every problem is recorded with its path. */
export function parseRules(value: unknown, problems: Problems): Rule[] {
  if (value === undefined) {
    problems.add("rules", "is required (a list with at least one rule)");
    return [];
  }
  if (!Array.isArray(value)) {
    problems.add("rules", `must be a list of rules, got ${kindOf(value)}`);
    return [];
  }
  if (value.length === 0) problems.add("rules", "must contain at least one rule");
  const rules: Rule[] = [];
  value.forEach((raw, index) => {
    const rule = parseRule(raw, index, problems);
    if (rule) rules.push(rule);
  });
  return rules;
}

function parseRule(raw: unknown, index: number, problems: Problems): Rule | undefined {
  const path = `rules[${index}]`;
  const map = expectMapping(raw, path, problems);
  if (map === undefined) return undefined;
  checkKeys(map, RULE_KEYS, path, problems);
  let model: string | undefined;
  if (map.model === undefined) problems.add(path, 'missing required key "model"');
  else model = expectString(map.model, `${path}.model`, problems);
  const globOptions = { toolNames: true, nonEmpty: false };
  const allowTools = map.allow_tools === undefined
    ? []
    : globList(map.allow_tools, `${path}.allow_tools`, problems, globOptions);
  const denyTools = map.deny_tools === undefined
    ? []
    : globList(map.deny_tools, `${path}.deny_tools`, problems, globOptions);
  const allowPrompts = map.allow_prompts === undefined
    ? []
    : globList(map.allow_prompts, `${path}.allow_prompts`, problems, globOptions);
  const denyPrompts = map.deny_prompts === undefined
    ? []
    : globList(map.deny_prompts, `${path}.deny_prompts`, problems, globOptions);
  const uriOptions = { toolNames: false, nonEmpty: false };
  const allowResources = map.allow_resources === undefined
    ? []
    : globList(map.allow_resources, `${path}.allow_resources`, problems, uriOptions);
  const denyResources = map.deny_resources === undefined
    ? []
    : globList(map.deny_resources, `${path}.deny_resources`, problems, uriOptions);
  const maxCalls = map.max_calls_per_session === undefined
    ? undefined
    : parseCount(map.max_calls_per_session, `${path}.max_calls_per_session`, problems);
  const activeHours = map.active_hours === undefined
    ? undefined
    : parseActiveHours(map.active_hours, `${path}.active_hours`, problems);
  const activeDays = map.active_days === undefined
    ? undefined
    : parseActiveDays(map.active_days, `${path}.active_days`, problems);
  const timezone = map.timezone === undefined
    ? undefined
    : parseTimeZone(map.timezone, `${path}.timezone`, problems);
  const rateLimit = map.rate_limit === undefined
    ? {}
    : parseRateLimit(map.rate_limit, `${path}.rate_limit`, problems);
  const scanResults = map.scan_results === undefined
    ? undefined
    : parseScanResults(map.scan_results, `${path}.scan_results`, problems);
  const requireApproval = map.require_approval === undefined
    ? []
    : globList(map.require_approval, `${path}.require_approval`, problems, globOptions);
  if (model === undefined) return undefined;
  return Object.freeze({
    index,
    model: compileGlob(model),
    allowTools,
    denyTools,
    allowPrompts,
    denyPrompts,
    allowResources,
    denyResources,
    ...(maxCalls === undefined ? {} : { maxCallsPerSession: maxCalls }),
    ...(activeHours === undefined ? {} : { activeHours }),
    ...(activeDays === undefined ? {} : { activeDays }),
    ...(timezone === undefined ? {} : { timezone }),
    rateLimit: Object.freeze(rateLimit),
    ...(scanResults === undefined ? {} : { scanResults }),
    ...(requireApproval.length === 0 ? {} : { requireApproval }),
  });
}

const SECRETS_MODES = ["redact", "block", "off"] as const;
const INJECTION_MODES = ["flag", "block", "off"] as const;

/** Checks `scan_results: {secrets, injection}` (§15); a key left out keeps its default. */
function parseScanResults(
  value: unknown,
  path: string,
  problems: Problems,
): ScanResults | undefined {
  const map = expectMapping(value, path, problems);
  if (map === undefined) return undefined;
  checkKeys(map, ["secrets", "injection"], path, problems);
  const pick = <T extends string>(key: string, modes: readonly T[], fallback: T): T => {
    const mode = map[key];
    if (mode === undefined) return fallback;
    if (typeof mode === "string" && (modes as readonly string[]).includes(mode)) return mode as T;
    // YAML reads a bare `off` as the string "off", but `no`/`false` as a boolean: say so.
    const got = typeof mode === "string" ? JSON.stringify(mode.slice(0, 40)) : kindOf(mode);
    problems.add(`${path}.${key}`, `must be ${modes.map((m) => `"${m}"`).join(", ")}, got ${got}`);
    return fallback;
  };
  return Object.freeze({
    secrets: pick("secrets", SECRETS_MODES, "redact"),
    injection: pick("injection", INJECTION_MODES, "flag"),
  });
}

function parseCount(value: unknown, path: string, problems: Problems): number | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  problems.add(path, `must be a whole number ≥ 0, got ${kindOf(value)}`);
  return undefined;
}

/** Checks an IANA time zone name with `Intl.DateTimeFormat`. */
export function parseTimeZone(
  value: unknown,
  path: string,
  problems: Problems,
): string | undefined {
  const zone = expectString(value, path, problems);
  if (zone === undefined) return undefined;
  if (isValidTimeZone(zone)) return zone;
  problems.add(path, 'is not a known IANA time zone (e.g. "UTC", "Europe/Paris")');
  return undefined;
}

const HOURS_PATTERN = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;

/** Parses one `"HH:MM-HH:MM"` range; `24:00` is accepted as an end (midnight). */
export function parseHourRange(text: string): HourRange | undefined {
  const m = HOURS_PATTERN.exec(text);
  if (m === null) return undefined;
  const [sh, sm, eh, em] = [m[1], m[2], m[3], m[4]].map(Number);
  if (sh > 23 || sm > 59 || em > 59) return undefined;
  if (eh > 24 || (eh === 24 && em !== 0)) return undefined;
  return Object.freeze({ start: sh * 60 + sm, end: (eh * 60 + em) % 1440, text });
}

function parseActiveHours(
  value: unknown,
  path: string,
  problems: Problems,
): HourRange[] | undefined {
  const items = typeof value === "string" ? [value] : value;
  if (!Array.isArray(items)) {
    problems.add(path, `must be "HH:MM-HH:MM" or a list of them, got ${kindOf(value)}`);
    return undefined;
  }
  if (items.length === 0) {
    problems.add(path, "must not be an empty list (leave it out to mean always)");
    return undefined;
  }
  const ranges: HourRange[] = [];
  items.forEach((item, i) => {
    const itemPath = Array.isArray(value) ? `${path}[${i}]` : path;
    const text = expectString(item, itemPath, problems);
    if (text === undefined) return;
    const range = parseHourRange(text);
    if (range) ranges.push(range);
    else problems.add(itemPath, 'must be "HH:MM-HH:MM" with times 00:00..23:59 (end may be 24:00)');
  });
  return ranges.length === items.length ? Object.freeze(ranges) as HourRange[] : undefined;
}

function parseActiveDays(
  value: unknown,
  path: string,
  problems: Problems,
): ReadonlySet<number> | undefined {
  if (!Array.isArray(value)) {
    problems.add(path, `must be a list of day names, got ${kindOf(value)}`);
    return undefined;
  }
  if (value.length === 0) {
    problems.add(path, "must not be an empty list (leave it out to mean every day)");
    return undefined;
  }
  const days = new Set<number>();
  let ok = true;
  value.forEach((item, i) => {
    const day = typeof item === "string" ? DAY_NAMES.indexOf(item as never) : -1;
    if (day < 0) {
      problems.add(`${path}[${i}]`, `must be one of ${DAY_NAMES.join(", ")}`);
      ok = false;
    } else if (days.has(day)) {
      problems.add(`${path}[${i}]`, `repeats "${DAY_NAMES[day]}"`);
      ok = false;
    } else {
      days.add(day);
    }
  });
  return ok ? days : undefined;
}

/** Parses `"N/second|minute|hour|day"` with N a positive whole number. */
export function parseRate(text: string): RateSpec | undefined {
  const m = /^([1-9][0-9]{0,14})\/(second|minute|hour|day)$/.exec(text);
  if (m === null) return undefined;
  const limit = Number(m[1]);
  if (!Number.isSafeInteger(limit)) return undefined;
  return Object.freeze({ text, limit, windowMs: WINDOWS[m[2]] });
}

function parseRateLimit(
  value: unknown,
  path: string,
  problems: Problems,
): { perModel?: RateSpec; perSession?: RateSpec } {
  const map = expectMapping(value, path, problems);
  if (map === undefined) return {};
  checkKeys(map, ["per_model", "per_session"], path, problems);
  const out: { perModel?: RateSpec; perSession?: RateSpec } = {};
  for (const [key, field] of [["per_model", "perModel"], ["per_session", "perSession"]] as const) {
    if (map[key] === undefined) continue;
    const itemPath = `${path}.${key}`;
    const text = expectString(map[key], itemPath, problems);
    if (text === undefined) continue;
    const rate = parseRate(text);
    if (rate) out[field] = rate;
    else problems.add(itemPath, 'must be "N/second", "N/minute", "N/hour" or "N/day" with N ≥ 1');
  }
  return out;
}
