/**
 * The secrets scrubber (§12 "Secrets never echoed"), pure. Removes from a text, or from every
 * string inside a JSON value: the exact values of configured credentials (upstream `headers` and
 * `env` values), extra exact values (a call's redacted arguments), and text shaped like a
 * credential (bearer tokens, JWTs, AWS access key ids, private key blocks, `password=`-style
 * pairs). Compiled once per policy (`scrubberFor`); a text with no credential-shaped hint costs
 * one literal scan plus one `includes` per configured value.
 *
 * Linear time, on V8's usual engine: the PEM detector is `indexOf` only; every pattern is built
 * so that no run it scans can be scanned again from another start (a match starts at a keyword
 * or after a non-credential character, its runs stop at characters the next part cannot match,
 * bounded repeats elsewhere), so a hostile text costs O(length). V8's linear-time engine (flag
 * `l`, `src/schema/regexp.ts`) would guarantee that too, but it was measured ~100× slower on
 * these patterns (≈13 MB/s): a 1 MiB payload would cost the gateway most of a second. Adversarial
 * inputs are timed in `scrub_test.ts`. Texts without a cheap hint skip the detectors entirely.
 */
import type { Policy } from "../../policy/types.ts";

/** What replaces a scrubbed secret. */
export const SCRUBBED = "[REDACTED]";

/** Configured values shorter than this are not scrubbed (they would match ordinary text). */
export const MIN_SECRET_LENGTH = 8;

/** Scrubs texts and JSON values; compiled once. */
export interface Scrubber {
  /** `text` with every secret replaced by `[REDACTED]`; the same string when it holds none. */
  text(text: string): string;
  /** True when `text` holds something `text()` would replace. */
  test(text: string): boolean;
  /** A cheap pre-check, also valid on JSON text: false means neither `text` nor any string
   * inside it (when it is JSON) holds anything to replace; true means look closer. */
  mayHold(text: string): boolean;
  /** Only the exact configured and extra values replaced (no shape detectors): for tool results,
   * whose own credential-looking text is §15's business. */
  values(text: string): string;
  /** `value` with `values()` applied to every string (object keys included) at any depth; the
   * same reference when nothing changed. */
  valuesDeep<T>(value: T): T;
  /** How many exact values it removes (0: only the shape detectors). */
  readonly size: number;
  /** A scrubber that also removes `extra` exact values (those shorter than 4 are ignored). */
  with(extra: readonly string[]): Scrubber;
}

interface Detector {
  readonly pattern: RegExp;
  readonly replace: (match: string, ...groups: string[]) => string;
}

/** `word` matching either case, as a character-class sequence. */
function anyCase(word: string): string {
  return [...word].map((c) => /[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c).join("");
}

const SCHEMES = ["bearer", "basic", "digest", "apikey"];
// Keywords before `=`/`:` whose value is a credential ("password=…", "api-key: …", "secret": "…").
const PAIR_WORDS = [
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "secret",
  "token",
  "api[_-]?key",
  "access[_-]?key",
  "private[_-]?key",
  "credentials?",
  "authorization",
];

const flags = "g";

const PEM_HEADER = /^[A-Z0-9 ]{0,40}PRIVATE KEY$/;

/** PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to the end of its `-----END …-----`
 * line, or to the end of the text when it has none), with `indexOf` only. */
function scrubPem(text: string): string {
  let out = "";
  let copied = 0;
  let from = 0;
  while (true) {
    const begin = text.indexOf("-----BEGIN", from);
    if (begin < 0) break;
    const headerEnd = text.indexOf("-----", begin + 10);
    if (headerEnd < 0) break;
    if (headerEnd - begin > 64 || !PEM_HEADER.test(text.slice(begin + 10, headerEnd).trim())) {
      from = begin + 10;
      continue;
    }
    const end = text.indexOf("-----END", headerEnd + 5);
    const close = end < 0 ? -1 : text.indexOf("-----", end + 8);
    const stop = close < 0 ? text.length : close + 5;
    out += text.slice(copied, begin) + SCRUBBED;
    copied = from = stop;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const DETECTORS: readonly Detector[] = [
  {
    pattern: new RegExp(String.raw`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`, flags),
    replace: () => SCRUBBED,
  },
  {
    // Starts only where no base64url character precedes, so no start lies inside another's run.
    pattern: new RegExp(
      String.raw`(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`,
      flags,
    ),
    replace: () => SCRUBBED,
  },
  {
    // "Bearer abc…": the scheme stays, the credential goes.
    pattern: new RegExp(
      String.raw`\b(${SCHEMES.map(anyCase).join("|")})([ \t]+)[A-Za-z0-9._~+/=-]{6,}`,
      flags,
    ),
    replace: (_match, scheme, space) => `${scheme}${space}${SCRUBBED}`,
  },
  {
    // "token ghp_1a2b…" (a scheme some APIs use): only with a digit in it, so that prose such as
    // "the token bucket" stays.
    pattern: new RegExp(
      String.raw`\b(${anyCase("token")})([ \t]+)[A-Za-z._~+/=-]*[0-9][A-Za-z0-9._~+/=-]*`,
      flags,
    ),
    replace: (_match, scheme, space) => `${scheme}${space}${SCRUBBED}`,
  },
  {
    // "password=…", "secret: …", "\"api_key\": \"…\"": the key stays, the value goes.
    pattern: new RegExp(
      // An optional scheme ("Authorization: Bearer x") belongs to the separator, not the value.
      `(${PAIR_WORDS.map(anyCase).join("|")})(["']?[ \\t]*[:=][ \\t]*["']?(?:(?:${
        SCHEMES.map(anyCase).join("|")
      })[ \\t]+)?)([^\\s"'&,;}<>]+)`,
      flags,
    ),
    replace: (_match, key, separator) => `${key}${separator}${SCRUBBED}`,
  },
];

// A hint that some detector may match (literals, bounded repeats, runs stopped by what follows):
// texts without it skip the detectors.
const HINT = new RegExp(
  String.raw`-----BEGIN|A[KS]IA[A-Z0-9]{16}|eyJ[A-Za-z0-9_-]|\b(?:${
    SCHEMES.join("|")
  }|token)[ \t]+[A-Za-z0-9._~+/=-]{6}|(?:${PAIR_WORDS.join("|")})["']?[ \t]*[:=]`,
  "i",
);

function scrubShapes(text: string): string {
  if (!HINT.test(text)) return text;
  let out = scrubPem(text);
  for (const detector of DETECTORS) {
    detector.pattern.lastIndex = 0;
    out = out.replace(detector.pattern, detector.replace as (m: string) => string);
  }
  return out;
}

function hasShape(text: string): boolean {
  if (!HINT.test(text)) return false;
  return scrubShapes(text) !== text;
}

/** Compiles a scrubber for these exact secret values (plus the credential-shape detectors). */
export function compileScrubber(exact: Iterable<string> = []): Scrubber {
  const unique = new Set<string>();
  for (const value of exact) {
    if (typeof value === "string" && value.length >= 4) unique.add(value);
  }
  // Longest first, so "Bearer abc…" goes whole before its "abc…" part is looked for.
  const secrets = [...unique].sort((a, b) => b.length - a.length);
  // How each secret reads inside JSON text (quotes, backslashes, control characters escaped).
  const inJson = secrets.map((secret) => JSON.stringify(secret).slice(1, -1));

  function values(text: string): string {
    let out = text;
    for (const secret of secrets) {
      if (out.includes(secret)) out = out.replaceAll(secret, SCRUBBED);
    }
    return out;
  }

  function valuesDeep<T>(value: T): T {
    if (secrets.length === 0) return value;
    return deep(value, values, 0) as T;
  }

  const self: Scrubber = {
    text: (text) => scrubShapes(values(text)),
    test: (text) => values(text) !== text || hasShape(text),
    mayHold: (text) =>
      HINT.test(text) ||
      secrets.some((secret, i) => text.includes(secret) || text.includes(inJson[i])),
    values,
    valuesDeep,
    size: secrets.length,
    with: (extra) => extra.length === 0 ? self : compileScrubber([...secrets, ...extra]),
  };
  return self;
}

const MAX_DEPTH = 64;

function deep(value: unknown, scrub: (text: string) => string, depth: number): unknown {
  if (typeof value === "string") return scrub(value);
  if (typeof value !== "object" || value === null || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = deep(value[i], scrub, depth + 1);
      if (item !== value[i]) {
        copy ??= value.slice();
        copy[i] = item;
      }
    }
    return copy ?? value;
  }
  let changed = false;
  const entries: [string, unknown][] = [];
  for (const [key, item] of Object.entries(value)) {
    const cleanKey = scrub(key);
    const cleanItem = deep(item, scrub, depth + 1);
    if (cleanKey !== key || cleanItem !== item) changed = true;
    entries.push([cleanKey, cleanItem]);
  }
  // Object.fromEntries defines own data properties, so a "__proto__" key stays plain data.
  return changed ? Object.fromEntries(entries) : value;
}

/** The scrubber with only the credential-shape detectors (no configured values). */
export const SHAPE_SCRUBBER: Scrubber = compileScrubber();

// Header names whose values are protocol plumbing, never credentials.
const PLAIN_HEADERS = new Set([
  "accept",
  "accept-encoding",
  "accept-language",
  "content-type",
  "user-agent",
  "mcp-protocol-version",
]);

/**
 * The credential values a policy configures (§12): every `upstreams.*.headers` value (after
 * `${VAR}` expansion; standard plumbing headers such as `Accept` excepted) and every
 * `upstreams.*.env` value, each with its last space-separated part too ("Bearer abc…" → "abc…");
 * values shorter than `MIN_SECRET_LENGTH` characters are left out.
 */
export function configuredSecrets(policy: Pick<Policy, "upstreams">): string[] {
  const found: string[] = [];
  const add = (value: string) => {
    const trimmed = value.trim();
    if (trimmed.length >= MIN_SECRET_LENGTH) found.push(trimmed);
    const last = trimmed.split(/[ \t]+/).at(-1) ?? "";
    if (last !== trimmed && last.length >= MIN_SECRET_LENGTH) found.push(last);
  };
  for (const upstream of Object.values(policy.upstreams)) {
    if (upstream.kind === "http") {
      for (const [name, value] of Object.entries(upstream.headers)) {
        if (!PLAIN_HEADERS.has(name.toLowerCase())) add(value);
      }
      if (upstream.clientCredentials !== undefined) add(upstream.clientCredentials.clientSecret);
    } else {
      for (const value of Object.values(upstream.env)) add(value);
    }
  }
  return found;
}

const perPolicy = new WeakMap<object, Scrubber>();

/** The scrubber of `policy`'s configured credentials plus the shape detectors; compiled once per
 * loaded policy (cached by object identity: a reload makes a new policy). */
export function scrubberFor(policy: Pick<Policy, "upstreams">): Scrubber {
  let found = perPolicy.get(policy);
  if (found === undefined) {
    found = compileScrubber(configuredSecrets(policy));
    perPolicy.set(policy, found);
  }
  return found;
}
