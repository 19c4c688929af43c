/** Reads the environment, with `.env` in the working directory as a fallback (effect). */
import { parseEnv } from "node:util";
import { type Config, CONFIG_KEYS } from "./config.ts";

/** What `.env` held (empty when there is no such file). */
export interface EnvFile {
  /** The file's path. */
  readonly path: string;
  /** Its variables. */
  readonly values: Readonly<Record<string, string>>;
}

/** Variables the gateway (or its runtime) honours besides `CONFIG_KEYS`: not typos. */
const OTHER_KNOWN_KEYS = new Set([
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "all_proxy",
  "no_proxy",
  "NO_COLOR",
]);

/** Reads `envFile`; empty values when the file does not exist. */
export async function readEnvFile(envFile = ".env"): Promise<EnvFile> {
  try {
    const text = await Deno.readTextFile(envFile);
    return { path: envFile, values: parseEnv(text) as Record<string, string> };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { path: envFile, values: {} };
    throw new Error(`Cannot load env file "${envFile}": ${(error as Error).message}`);
  }
}

/**
 * The process environment over the values of `.env` (if the file exists): a variable set in
 * the environment always wins over the file.
 */
export async function readEnvironment(envFile = ".env"): Promise<Record<string, string>> {
  return mergeEnvironment(await readEnvFile(envFile), Deno.env.toObject());
}

/** `file`'s values under the process environment's (which win). */
export function mergeEnvironment(
  file: EnvFile,
  processEnv: Readonly<Record<string, string>>,
): Record<string, string> {
  return { ...file.values, ...processEnv };
}

/**
 * One warning per key of `.env` that the gateway does not read and the policy does not mention
 * (as `${KEY}` or `key_env: KEY`), with the nearest configuration key when one is close: a typo
 * such as `PROT=18021` must not pass in silence. Pure.
 */
export function envFileWarnings(file: EnvFile, options: { policyText: string }): string[] {
  const warnings: string[] = [];
  for (const key of Object.keys(file.values)) {
    if (key in CONFIG_KEYS || OTHER_KNOWN_KEYS.has(key)) continue;
    if (mentions(options.policyText, key)) continue;
    const near = nearestConfigKey(key);
    warnings.push(
      `${file.path}: unknown key "${key}" is ignored: ${
        near === null ? "not a gateway setting and not used by the policy" : `did you mean ${near}?`
      }`,
    );
  }
  return warnings;
}

/** The configuration key closest to `key` (case-insensitive edit distance), when close enough. */
export function nearestConfigKey(key: string): string | null {
  const wanted = key.toUpperCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const known of Object.keys(CONFIG_KEYS)) {
    const distance = editDistance(wanted, known);
    if (distance < bestDistance) {
      best = known;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(wanted.length / 3)));
  return bestDistance <= allowed ? best : null;
}

/**
 * The effective configuration, one `KEY=value (source)` entry per key, for the debug log.
 * `ADMIN_TOKEN` shows only whether it is set. Pure.
 */
export function describeConfig(
  config: Config,
  sources: { file: EnvFile; processEnv: Readonly<Record<string, string>> },
): string[] {
  return Object.entries(CONFIG_KEYS).map(([key, field]) => {
    const source = nonEmpty(sources.processEnv[key])
      ? "environment"
      : nonEmpty(sources.file.values[key])
      ? sources.file.path
      : "default";
    const value = config[field];
    const shown = key === "ADMIN_TOKEN"
      ? (value === undefined ? "unset (random per run)" : "set")
      : value === undefined
      ? "auto"
      : Array.isArray(value)
      ? (value.length === 0 ? "(none)" : value.join(","))
      : String(value);
    // A secret is shown as "KEY is set", never as a KEY=value pair (which the log scrubber would
    // rightly read as a credential).
    return key === "ADMIN_TOKEN" ? `${key} is ${shown} (${source})` : `${key}=${shown} (${source})`;
  });
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value !== "";
}

function mentions(text: string, key: string): boolean {
  let from = 0;
  while (true) {
    const at = text.indexOf(key, from);
    if (at < 0) return false;
    const before = at === 0 ? "" : text[at - 1];
    const after = text[at + key.length] ?? "";
    if (!/[A-Za-z0-9_]/.test(before) && !/[A-Za-z0-9_]/.test(after)) return true;
    from = at + 1;
  }
}

/** Optimal string alignment distance: insertions, deletions, substitutions, transpositions. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2][j - 2] + 1);
      }
      rows[i][j] = best;
    }
  }
  return rows[a.length][b.length];
}
