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
  const normalized = key.toLowerCase().replaceAll("-", "_");
  return SECRET_KEY_SUFFIXES.some((suffix) => normalized.endsWith(suffix));
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
