import { compileGlob } from "../glob.ts";
import type { Glob } from "../types.ts";

/** Environment variables visible to the policy loader (`key_env`, `${VAR}` expansion). */
export type PolicyEnv = Readonly<Record<string, string | undefined>>;

/** Collects every problem found while checking a policy, each prefixed by its path. */
export interface Problems {
  /** Records `message` at `path` (e.g. `rules[0].allow_tools[1]`). */
  add(path: string, message: string): void;
  /** Everything recorded so far, in order. */
  readonly list: string[];
}

/** A fresh, empty problem collector. */
export function createProblems(): Problems {
  const list: string[] = [];
  return { list, add: (path, message) => list.push(`${path || "policy"}: ${message}`) };
}

/** A plain mapping as produced by the YAML parser (never an array or null). */
export type Mapping = Record<string, unknown>;

/** True for a YAML mapping (a plain object, not an array, not null). */
export function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `base.key`, or `base["odd key"]` when the key is not a plain identifier. */
export function childPath(base: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${quoteKey(key)}]`;
}

/** A key quoted for a message: JSON-escaped and cut to 64 characters. */
export function quoteKey(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

/** Describes a YAML value's kind for "must be X, got Y" messages (never the value itself). */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a number";
  return `a ${typeof value}`;
}

/** Records an `unknown key` problem for every key of `map` not in `allowed`. */
export function checkKeys(
  map: Mapping,
  allowed: readonly string[],
  path: string,
  problems: Problems,
): void {
  for (const key of Object.keys(map)) {
    if (!allowed.includes(key)) problems.add(path, `unknown key ${quoteKey(key)}`);
  }
}

/** The value as a mapping, or undefined after recording a problem. */
export function expectMapping(
  value: unknown,
  path: string,
  problems: Problems,
): Mapping | undefined {
  if (isMapping(value)) return value;
  problems.add(path, `must be a mapping, got ${kindOf(value)}`);
  return undefined;
}

/** The value as a non-empty string, or undefined after recording a problem. */
export function expectString(value: unknown, path: string, problems: Problems): string | undefined {
  if (typeof value === "string" && value.length > 0) return value;
  problems.add(
    path,
    typeof value === "string" ? "must not be empty" : `must be a string, got ${kindOf(value)}`,
  );
  return undefined;
}

/** The characters a tool-name glob may hold: tool-name characters plus `*` and `?`. */
const TOOL_GLOB_PATTERN = /^[A-Za-z0-9_.*?-]+$/;

/** Options for {@link globList}. */
export interface GlobListOptions {
  /** Reject characters that can never occur in a tool name (a typo must not weaken a rule). */
  readonly toolNames: boolean;
  /** An empty list is a problem. */
  readonly nonEmpty: boolean;
}

/** Compiles a list of glob strings; every bad item is recorded and left out. */
export function globList(
  value: unknown,
  path: string,
  problems: Problems,
  options: GlobListOptions,
): Glob[] {
  if (!Array.isArray(value)) {
    problems.add(path, `must be a list of strings, got ${kindOf(value)}`);
    return [];
  }
  if (options.nonEmpty && value.length === 0) problems.add(path, "must not be empty");
  const globs: Glob[] = [];
  value.forEach((item, i) => {
    const itemPath = `${path}[${i}]`;
    const text = expectString(item, itemPath, problems);
    if (text === undefined) return;
    if (options.toolNames && !TOOL_GLOB_PATTERN.test(text)) {
      problems.add(itemPath, "can never match a tool name (allowed: A-Z a-z 0-9 _ . - * ?)");
      return;
    }
    globs.push(compileGlob(text));
  });
  return Object.freeze(globs) as Glob[];
}

/** Environment variable names accepted in `key_env`, `${VAR}` and stdio `env` keys. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Expands every `${VAR}` in `template` from `env`; a missing or empty variable is a problem. */
export function expandEnv(
  template: string,
  env: PolicyEnv,
  path: string,
  problems: Problems,
): string | undefined {
  let out = "";
  let from = 0;
  let ok = true;
  while (true) {
    const open = template.indexOf("${", from);
    if (open < 0) break;
    const close = template.indexOf("}", open + 2);
    const name = close < 0 ? "" : template.slice(open + 2, close);
    if (close < 0 || !ENV_NAME_PATTERN.test(name)) {
      problems.add(path, "has a malformed ${...} reference (expected ${NAME})");
      return undefined;
    }
    const value = env[name];
    if (value === undefined || value === "") {
      problems.add(path, `environment variable "${name}" is not set or is empty`);
      ok = false;
    } else {
      out += template.slice(from, open) + value;
    }
    from = close + 1;
  }
  return ok ? out + template.slice(from) : undefined;
}

/** A string map (`headers`, `env`) with `${VAR}` expanded; bad entries are recorded. */
export function expandedStringMap(
  value: unknown,
  path: string,
  problems: Problems,
  options: { env: PolicyEnv; keyPattern: RegExp; keyHint: string },
): Record<string, string> {
  const map = expectMapping(value, path, problems);
  const entries: Array<[string, string]> = [];
  if (map === undefined) return {};
  for (const [key, raw] of Object.entries(map)) {
    const itemPath = childPath(path, key);
    if (!options.keyPattern.test(key)) {
      problems.add(path, `key ${quoteKey(key)} is not ${options.keyHint}`);
      continue;
    }
    if (typeof raw !== "string") {
      problems.add(itemPath, `must be a string, got ${kindOf(raw)}`);
      continue;
    }
    const expanded = expandEnv(raw, options.env, itemPath, problems);
    if (expanded === undefined) continue;
    if (/[\0\r\n]/.test(expanded)) {
      problems.add(itemPath, "must not contain NUL, CR or LF (after ${VAR} expansion)");
      continue;
    }
    entries.push([key, expanded]);
  }
  return Object.freeze(nullPrototype(entries));
}

/** A prototype-less record, so a lookup of `__proto__` or `constructor` finds nothing inherited. */
export function nullPrototype<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const record: Record<string, T> = Object.create(null);
  for (const [key, value] of entries) record[key] = value;
  return record;
}

/** A string that parses as a URL: the text and its parts, or undefined (problem added). */
export function expectUrl(
  value: unknown,
  path: string,
  problems: Problems,
): { text: string; url: URL } | undefined {
  const text = expectString(value, path, problems);
  if (text === undefined) return undefined;
  try {
    return { text, url: new URL(text) };
  } catch {
    problems.add(path, "is not a valid URL");
    return undefined;
  }
}
