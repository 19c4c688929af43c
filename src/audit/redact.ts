/** Key endings whose values are secrets (§6), compared after lowercasing and reading `-` as `_`. */
export const SECRET_KEY_SUFFIXES: readonly string[] = [
  "password",
  "passwd",
  "secret",
  "token",
  "api_key",
  "apikey",
  "authorization",
  "cookie",
  "private_key",
  "credentials",
];

/** The value written in place of a secret. */
export const REDACTED = "[REDACTED]";

/** The value written in place of anything nested deeper than `MAX_REDACT_DEPTH`. */
export const TOO_DEEP = "[TOO_DEEP]";

/** The value written in place of a reference back to one of its own ancestors. */
export const CIRCULAR = "[CIRCULAR]";

/** Deepest nesting level copied; anything below is replaced by `TOO_DEEP`. */
export const MAX_REDACT_DEPTH = 64;

/** True when a value stored under `key` must be redacted (§6 rule). */
export function isSecretKey(key: string): boolean {
  const known = secretKeys.get(key);
  if (known !== undefined) return known;
  const normalized = key.toLowerCase().replaceAll("-", "_");
  const secret = SECRET_KEY_SUFFIXES.some((suffix) => normalized.endsWith(suffix));
  // Payload keys repeat (the same tools, the same fields): remember the answer, within bounds.
  if (secretKeys.size < MAX_REMEMBERED_KEYS && key.length <= 64) secretKeys.set(key, secret);
  return secret;
}

const MAX_REMEMBERED_KEYS = 4096;
const secretKeys = new Map<string, boolean>();

/**
 * `redact(value)` without the copy when none is needed: a value that is already JSON-safe
 * (plain objects, arrays, strings, finite numbers, booleans, null; no secret key, nothing deeper
 * than 64 levels, no `toJSON`, no getter that throws) is returned as it is; anything else is
 * `redact(value)`. The result may therefore share objects with `value`: do not mutate either.
 */
export function redactShared(value: unknown): unknown {
  return isClean(value, 0) ? value : redact(value);
}

function isClean(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  // Past the depth limit (which a cycle also reaches) the copy decides what to write.
  if (depth >= MAX_REDACT_DEPTH - 1) return false;
  try {
    if (Array.isArray(value)) {
      if (Object.getPrototypeOf(value) !== Array.prototype || "toJSON" in value) return false;
      for (let i = 0; i < value.length; i++) if (!isClean(value[i], depth + 1)) return false;
      return true;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    const object = value as Record<string, unknown>;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) return false;
      if (isSecretKey(key) || !isClean(object[key], depth + 1)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * A redacted, JSON-safe deep copy of `value`: secret keys at any depth hold `"[REDACTED]"`,
 * nesting past 64 levels becomes `"[TOO_DEEP]"`, cycles become `"[CIRCULAR]"`, bigints become
 * strings, and functions/symbols/undefined are dropped as `JSON.stringify` would drop them.
 */
export function redact(value: unknown): unknown {
  return copy(value, 0, new Set());
}

function copy(value: unknown, depth: number, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : null;
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (value === null) return null;
  if (depth >= MAX_REDACT_DEPTH) return TOO_DEEP;
  const object = value as object;
  if (ancestors.has(object)) return CIRCULAR;
  ancestors.add(object);
  try {
    return copyObject(object, depth, ancestors);
  } finally {
    ancestors.delete(object);
  }
}

function copyObject(object: object, depth: number, ancestors: Set<object>): unknown {
  if (Array.isArray(object)) {
    return object.map((item) => {
      const copied = copy(item, depth + 1, ancestors);
      return copied === undefined ? null : copied;
    });
  }
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") {
    let converted: unknown;
    try {
      converted = toJSON.call(object);
    } catch {
      return null;
    }
    return converted === object ? {} : copy(converted, depth + 1, ancestors);
  }
  const entries: [string, unknown][] = [];
  for (const key of Object.keys(object)) {
    if (isSecretKey(key)) {
      entries.push([key, REDACTED]);
      continue;
    }
    let item: unknown;
    try {
      item = (object as Record<string, unknown>)[key];
    } catch {
      item = null;
    }
    const copied = copy(item, depth + 1, ancestors);
    if (copied !== undefined) entries.push([key, copied]);
  }
  // Object.fromEntries defines own data properties, so a "__proto__" key stays plain data.
  return Object.fromEntries(entries);
}
