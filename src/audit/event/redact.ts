import type { Scrubber } from "./scrub.ts";

/**
 * Words that make a key secret wherever they stand in it (§6 as amended by §12): `client_secret`,
 * `SecretAccessKey`, `db_password`, `Set-Cookie`, `passphrase`.
 */
export const SECRET_WORDS: readonly string[] = [
  "password",
  "passwords",
  "passwd",
  "passphrase",
  "pwd",
  "secret",
  "secrets",
  "credential",
  "credentials",
  "authorization",
  "cookie",
  "cookies",
  "apikey",
  "apikeys",
  "privatekey",
  "bearer",
];

/** Words that make a key secret when they are its last word: `access_token`, `token`, `id_jwt`. */
export const SECRET_LAST_WORDS: readonly string[] = ["token", "jwt"];

/** Words that make a key secret when followed by `key`/`keys`: `x-api-key`, `ssh_key`,
 * `private_key_pem`, `aws_access_key_id`. */
export const KEY_QUALIFIERS: readonly string[] = [
  "api",
  "private",
  "secret",
  "access",
  "ssh",
  "signing",
  "encryption",
  "master",
  "session",
  "auth",
];

/** Endings of a key's last word that make it secret even glued to other words (`accesstoken`,
 * `dbpassword`, `myapikey`). */
export const SECRET_GLUED_ENDINGS: readonly string[] = [
  "password",
  "passwd",
  "secret",
  "token",
  "apikey",
  "privatekey",
  "passphrase",
  "credentials",
];

// camelCase and acronym boundaries, then separators.
const CAMEL = /([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])/g;
const SEPARATORS = /[^A-Za-z0-9]+/;

/** The lowercase words of a key: camelCase split, `-`, `_`, `.` and other separators. */
export function keyWords(key: string): string[] {
  return key.replace(CAMEL, "$1$3 $2$4").split(SEPARATORS).filter((word) => word !== "")
    .map((word) => word.toLowerCase());
}

function secretByWords(key: string): boolean {
  const words = keyWords(key);
  if (words.length === 0) return false;
  const last = words[words.length - 1];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (SECRET_WORDS.includes(word)) return true;
    const next = words[i + 1];
    if (
      (next === "key" || next === "keys") && KEY_QUALIFIERS.includes(word)
    ) return true;
    if (word === "auth" && (next === undefined || AUTH_FOLLOWERS.includes(next))) return true;
  }
  if (SECRET_LAST_WORDS.includes(last)) return true;
  return SECRET_GLUED_ENDINGS.some((ending) => last.endsWith(ending));
}

const AUTH_FOLLOWERS = ["header", "headers", "token", "value", "string", "code", "cookie"];

/** The value written in place of a secret. */
export const REDACTED = "[REDACTED]";

/** The value written in place of anything nested deeper than `MAX_REDACT_DEPTH`. */
export const TOO_DEEP = "[TOO_DEEP]";

/** The value written in place of a reference back to one of its own ancestors. */
export const CIRCULAR = "[CIRCULAR]";

/** Deepest nesting level copied; anything below is replaced by `TOO_DEEP`. */
export const MAX_REDACT_DEPTH = 64;

/**
 * True when a value stored under `key` must be redacted. The key is split into lowercase words
 * (camelCase, `-`, `_`, `.`): it is secret when a word is in `SECRET_WORDS`, when a
 * `KEY_QUALIFIERS` word is followed by `key`/`keys`, when `auth` stands alone or before
 * `header`/`token`/`value`/…, when its last word is in `SECRET_LAST_WORDS` or ends with one of
 * `SECRET_GLUED_ENDINGS`. So `aws_secret_access_key`, `SecretAccessKey`, `client_secret`,
 * `passphrase`, `private_key_pem`, `ssh_key`, `x-api-key`, `auth_header`, `access_token` are
 * secret; `max_tokens`, `token_count`, `keyboard`, `author`, `key` are not.
 */
export function isSecretKey(key: string): boolean {
  const known = secretKeys.get(key);
  if (known !== undefined) return known;
  const secret = secretByWords(key);
  // Payload keys repeat (the same tools, the same fields): remember the answer, within bounds.
  if (secretKeys.size < MAX_REMEMBERED_KEYS && key.length <= 64) secretKeys.set(key, secret);
  return secret;
}

const MAX_REMEMBERED_KEYS = 4096;
const secretKeys = new Map<string, boolean>();

/**
 * `redact(value, scrubber)` without the copy when none is needed: a value that is already
 * JSON-safe (plain objects, arrays, strings, finite numbers, booleans, null; no secret key, no
 * string the scrubber would change, nothing deeper than 64 levels, no `toJSON`, no getter that
 * throws) is returned as it is; anything else is `redact(value, scrubber)`. The result may
 * therefore share objects with `value`: do not mutate either.
 */
export function redactShared(value: unknown, scrubber?: Scrubber): unknown {
  return isClean(value, 0, scrubber) ? value : redact(value, scrubber);
}

function isClean(value: unknown, depth: number, scrubber: Scrubber | undefined): boolean {
  switch (typeof value) {
    case "string":
      return scrubber === undefined || !scrubber.test(value);
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
      for (let i = 0; i < value.length; i++) {
        if (!isClean(value[i], depth + 1, scrubber)) return false;
      }
      return true;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    const object = value as Record<string, unknown>;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) return false;
      if (isSecretKey(key) || !isClean(object[key], depth + 1, scrubber)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * A redacted, JSON-safe deep copy of `value`: secret keys at any depth hold `"[REDACTED]"`,
 * strings pass through `scrubber` (secret values and credential shapes, §12) when one is given,
 * nesting past 64 levels becomes `"[TOO_DEEP]"`, cycles become `"[CIRCULAR]"`, bigints become
 * strings, and functions/symbols/undefined are dropped as `JSON.stringify` would drop them.
 */
export function redact(value: unknown, scrubber?: Scrubber): unknown {
  return copy(value, 0, new Set(), scrubber);
}

/**
 * The string and number values stored under secret keys anywhere in `value` (what `redact`
 * replaces): a call's own secrets, to be scrubbed from the upstream's texts about it (§12).
 */
export function secretValues(value: unknown): string[] {
  const found: string[] = [];
  collect(value, 0, false, found);
  return found;
}

function collect(value: unknown, depth: number, secret: boolean, found: string[]): void {
  if (typeof value === "string" || typeof value === "number") {
    if (secret) found.push(String(value));
    return;
  }
  if (typeof value !== "object" || value === null || depth >= MAX_REDACT_DEPTH) return;
  if (Array.isArray(value)) {
    for (const item of value) collect(item, depth + 1, secret, found);
    return;
  }
  for (const key of Object.keys(value)) {
    collect((value as Record<string, unknown>)[key], depth + 1, secret || isSecretKey(key), found);
  }
}

function copy(
  value: unknown,
  depth: number,
  ancestors: Set<object>,
  scrubber: Scrubber | undefined,
): unknown {
  switch (typeof value) {
    case "string":
      return scrubber === undefined ? value : scrubber.text(value);
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
    return copyObject(object, depth, ancestors, scrubber);
  } finally {
    ancestors.delete(object);
  }
}

function copyObject(
  object: object,
  depth: number,
  ancestors: Set<object>,
  scrubber: Scrubber | undefined,
): unknown {
  if (Array.isArray(object)) {
    return object.map((item) => {
      const copied = copy(item, depth + 1, ancestors, scrubber);
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
    return converted === object ? {} : copy(converted, depth + 1, ancestors, scrubber);
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
    const copied = copy(item, depth + 1, ancestors, scrubber);
    if (copied !== undefined) entries.push([key, copied]);
  }
  // Object.fromEntries defines own data properties, so a "__proto__" key stays plain data.
  return Object.fromEntries(entries);
}
