/**
 * Result scanning (SPEC §15), pure: finds secrets and text aimed at the model in what an upstream
 * sends back, and redacts the secrets. The detectors are data (detectors.ts), compiled once when
 * this module loads; the configured upstream credentials come from the policy's scrubber
 * (src/audit/event/scrub.ts, compiled once per policy). What to do with the findings (redact, flag,
 * block) is the caller's choice, per rule (`scan_results`).
 */
import { isSecretKey } from "../audit/event/redact.ts";
import { SCRUBBED, type Scrubber, SHAPE_SCRUBBER } from "../audit/event/scrub.ts";
import { DETECTORS, type DetectorSpec } from "./detectors.ts";

/** `scan_results.secrets`: replace secrets with `[REDACTED]`, refuse the result, or neither. */
export type SecretsMode = "redact" | "block" | "off";
/** `scan_results.injection`: pass the result with a flag, refuse it, or neither. */
export type InjectionMode = "flag" | "block" | "off";

/** A rule's `scan_results`. */
export interface ScanSettings {
  /** What to do with credential-shaped text and configured credentials. */
  readonly secrets: SecretsMode;
  /** What to do with text aimed at the model. */
  readonly injection: InjectionMode;
}

/** The settings of a rule without `scan_results` (see docs/POLICY_SCHEMA.md for why). */
export const DEFAULT_SCAN_SETTINGS: ScanSettings = Object.freeze({
  secrets: "redact",
  injection: "flag",
});

/** What one scan found: detector names (sorted, unique) and the value with secrets redacted. */
export interface ScanOutcome<T> {
  /** The value, secrets replaced when asked to redact; the same reference when nothing changed. */
  readonly value: T;
  /** Secret detectors that matched. */
  readonly secrets: readonly string[];
  /** Injection detectors that matched. */
  readonly injection: readonly string[];
}

/** What to look for in one scan. */
export interface ScanOptions {
  /** Look for secrets (and redact them when `redact`). */
  readonly secrets: boolean;
  /** Replace the secrets found with `[REDACTED]`. */
  readonly redact?: boolean;
  /** Look for text aimed at the model. */
  readonly injection: boolean;
  /** A tool description: only the detectors meant for descriptions (tool poisoning). */
  readonly description?: boolean;
}

interface Compiled {
  readonly name: string;
  readonly regexp: RegExp;
}

function compile(spec: DetectorSpec, global: boolean): Compiled {
  const flags = `${spec.flags ?? ""}${global ? "g" : ""}`;
  return { name: spec.name, regexp: new RegExp(spec.pattern, flags) };
}

// Compiled once, when the module loads (never per request).
const SECRET_PATTERNS: readonly Compiled[] = DETECTORS
  .filter((d) => d.kind === "secret")
  .map((d) => compile(d, true));
const INJECTION_PATTERNS: readonly Compiled[] = DETECTORS
  .filter((d) => d.kind === "injection")
  .map((d) => compile(d, false));
const DESCRIPTION_PATTERNS: readonly Compiled[] = DETECTORS
  .filter((d) => d.kind === "injection" && d.inDescriptions !== false)
  .map((d) => compile(d, false));

/** Name of the §12 key rule applied to structured results (`{"password": "…"}`). */
const SECRET_KEY_VALUE = "secret_key_value";
const MAX_DEPTH = 64;
/** Values under a secret-named key shorter than this are left (flags, "yes", ids). */
const MIN_KEYED_SECRET = 6;

/** Scans texts and JSON values; one per policy (it holds the configured credentials). */
export interface ResultScanner {
  /** Scans every string of `value` (object keys included) at any depth. */
  scan<T>(value: T, options: ScanOptions): ScanOutcome<T>;
  /** The injection detectors that match `text` (description detectors when asked). */
  injectionIn(text: string, description?: boolean): string[];
  /** `text` with every secret replaced, and the names of the detectors that matched. */
  secretsIn(text: string): { text: string; names: string[] };
}

/** A scanner whose secret detectors include `scrubber`'s configured credentials. */
export function compileResultScanner(scrubber: Scrubber): ResultScanner {
  function secretsIn(text: string): { text: string; names: string[] } {
    const names: string[] = [];
    let out = text;
    if (scrubber.size > 0) {
      const cleaned = scrubber.values(out);
      if (cleaned !== out) {
        names.push("configured_credential");
        out = cleaned;
      }
    }
    if (SHAPE_SCRUBBER.mayHold(out)) {
      const cleaned = SHAPE_SCRUBBER.text(out);
      if (cleaned !== out) {
        names.push("credential_shape");
        out = cleaned;
      }
    }
    for (const detector of SECRET_PATTERNS) {
      detector.regexp.lastIndex = 0;
      const cleaned = out.replace(detector.regexp, SCRUBBED);
      if (cleaned !== out) {
        names.push(detector.name);
        out = cleaned;
      }
    }
    return { text: out, names };
  }

  function injectionIn(text: string, description = false): string[] {
    const found: string[] = [];
    for (const detector of description ? DESCRIPTION_PATTERNS : INJECTION_PATTERNS) {
      if (detector.regexp.test(text)) found.push(detector.name);
    }
    return found;
  }

  function scan<T>(value: T, options: ScanOptions): ScanOutcome<T> {
    // One pass over all the strings joined (keys included): detection needs no per-string work,
    // and the separator stops every pattern's gaps (each excludes a newline or `>`), so no match
    // spans two strings. Only when a secret is there does a second walk redact string by string.
    const collected = collect(value);
    const joined = collected.texts.join(SEPARATOR);
    const injection = options.injection ? injectionIn(joined, options.description) : [];
    if (!options.secrets) return { value, secrets: [], injection };
    if (!collected.keyedSecret && secretsIn(joined).names.length === 0) {
      return { value, secrets: [], injection };
    }
    const secrets = new Set<string>();
    const text = (s: string, secretKey: boolean): string => {
      if (secretKey && s.length >= MIN_KEYED_SECRET && s !== SCRUBBED) {
        secrets.add(SECRET_KEY_VALUE);
        return options.redact ? SCRUBBED : s;
      }
      const found = secretsIn(s);
      for (const name of found.names) secrets.add(name);
      return options.redact ? found.text : s;
    };
    const scanned = walk(value, text) as T;
    return {
      value: options.redact ? scanned : value,
      secrets: [...secrets].sort(),
      injection,
    };
  }

  return { scan, injectionIn, secretsIn };
}

/** Joins the strings of one value for detection (see `scan`). */
const SEPARATOR = "\n>\n";

/** Every string of `value` (keys included, binary payloads left out), and whether a string sits
 * under a secret-named key (`{"password": "…"}`). */
function collect(value: unknown): { texts: string[]; keyedSecret: boolean } {
  const texts: string[] = [];
  let keyedSecret = false;
  walk(value, (s, secretKey) => {
    texts.push(s);
    if (secretKey && s.length >= MIN_KEYED_SECRET && s !== SCRUBBED) keyedSecret = true;
    return s;
  });
  return { texts, keyedSecret };
}

/** `value` with `text` applied to every string (object keys included) at any depth up to 64;
 * base64 payloads (image/audio `data`, resource `blob`) are binary, never read as text. The same
 * reference when nothing changed. */
function walk(value: unknown, text: (s: string, secretKey: boolean) => string): unknown {
  const visit = (item: unknown, depth: number, secretKey: boolean): unknown => {
    if (typeof item === "string") return text(item, secretKey);
    if (typeof item !== "object" || item === null || depth >= MAX_DEPTH) return item;
    if (Array.isArray(item)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < item.length; i++) {
        const next = visit(item[i], depth + 1, false);
        if (next !== item[i]) (copy ??= item.slice())[i] = next;
      }
      return copy ?? item;
    }
    const record = item as Record<string, unknown>;
    const binary = isBinaryContent(record);
    let changed = false;
    const entries: [string, unknown][] = [];
    for (const [key, child] of Object.entries(record)) {
      const skip = typeof child === "string" && (key === "blob" || (key === "data" && binary));
      const cleanKey = text(key, false);
      const cleanChild = skip ? child : visit(child, depth + 1, isSecretKey(key));
      if (cleanKey !== key || cleanChild !== child) changed = true;
      entries.push([cleanKey, cleanChild]);
    }
    // Object.fromEntries defines own data properties: a "__proto__" key stays plain data.
    return changed ? Object.fromEntries(entries) : item;
  };
  return visit(value, 0, false);
}

function isBinaryContent(record: Record<string, unknown>): boolean {
  return record.type === "image" || record.type === "audio";
}

const perScrubber = new WeakMap<Scrubber, ResultScanner>();

/** The scanner of a policy's scrubber (`scrubberFor(policy)`), compiled once per scrubber. */
export function resultScannerFor(scrubber: Scrubber): ResultScanner {
  let found = perScrubber.get(scrubber);
  if (found === undefined) {
    found = compileResultScanner(scrubber);
    perScrubber.set(scrubber, found);
  }
  return found;
}
