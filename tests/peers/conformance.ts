/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode)
 * against a URL as a Deno subprocess in a temporary directory, and reads back its per-scenario
 * `checks.json` files.
 *
 * ```ts
 * const report = await runConformance("http://127.0.0.1:8080/mcp", { suite: "all" });
 * console.log(formatConformanceTable(report));
 * ```
 *
 * When the package cannot be fetched (no npm registry) it throws an Error whose message starts
 * with `conformance unavailable:` so callers can skip with a printed reason.
 */
import { join } from "node:path";

/** The pinned conformance package. */
export const CONFORMANCE_PACKAGE = "npm:@modelcontextprotocol/conformance@0.1.16";

/** Prefix of the error message thrown when the suite cannot be fetched. */
export const CONFORMANCE_UNAVAILABLE = "conformance unavailable:";

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** Scenario set when `scenarios` is not given: `all` (default) or `active` (no pending ones). */
  readonly suite?: "all" | "active";
  /** Run exactly these scenarios (one subprocess each), instead of a suite. */
  readonly scenarios?: readonly string[];
  /** Overall time limit in milliseconds (default 300 000); the subprocess is killed past it. */
  readonly timeoutMs?: number;
  /** Extra environment variables for the subprocess (e.g. `DENO_DIR`, `NPM_CONFIG_REGISTRY`). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Outcome of one scenario. */
export interface ConformanceScenario {
  /** Scenario name, e.g. `tools-call-simple-text`. */
  readonly name: string;
  /** True when none of its checks has status FAILURE. */
  readonly passed: boolean;
  /** `checkId: message` of every FAILURE check. */
  readonly failures: string[];
  /** `checkId: message` of every WARNING check (do not fail the scenario). */
  readonly warnings: string[];
  /** How many checks of each status the scenario wrote (all zero when it crashed). */
  readonly counts?: ConformanceCounts;
}

/** Checks of one scenario by status (`passed` in the suite's summary is `success`). */
export interface ConformanceCounts {
  readonly success: number;
  readonly failure: number;
  readonly warning: number;
  readonly info: number;
}

/** Outcome of a run. */
export interface ConformanceReport {
  /** Every scenario run, in the suite's order. */
  readonly scenarios: ConformanceScenario[];
  /** The suite's stdout (all runs, concatenated). */
  readonly raw: string;
}

interface Check {
  readonly id?: unknown;
  readonly status?: unknown;
  readonly description?: unknown;
  readonly errorMessage?: unknown;
}

const SCENARIO_NAME = /^[a-z0-9][a-z0-9/_-]{0,99}$/;
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
const SUMMARY_LINE = /^[✓✗] (\S+): \d+ passed, \d+ failed$/gmu;
const FETCH_FAILURE =
  /Failed (?:loading|caching|downloading)|Could not find npm package|error sending request|npm package|registry/i;

/** Runs the conformance suite against `url` and returns one row per scenario. */
export async function runConformance(
  url: string,
  options: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new Error(`Cannot run conformance against "${target.protocol}": not an http(s) URL`);
  }
  const selectors = options.scenarios === undefined
    ? [["--suite", options.suite ?? "all"]]
    : options.scenarios.map((name) => {
      if (!SCENARIO_NAME.test(name)) {
        throw new Error("Cannot run conformance: invalid scenario name");
      }
      return ["--scenario", name];
    });
  const timeoutMs = options.timeoutMs ?? 300_000;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-conformance-" });
  try {
    let raw = "";
    const names: string[] = [];
    for (const selector of selectors) {
      const run = await runCli({
        dir,
        url: target.href,
        selector,
        signal: controller.signal,
        env: options.env,
      });
      if (controller.signal.aborted) {
        throw new Error(`Cannot run conformance: timed out after ${timeoutMs} ms`);
      }
      raw += run.stdout;
      if (!run.stdout.includes("Running ")) throw startFailure(run.stderr);
      if (selector[0] === "--scenario") names.push(selector[1]);
      else names.push(...[...run.stdout.matchAll(SUMMARY_LINE)].map((match) => match[1]));
      if (names.length === 0) {
        throw new Error(`Cannot run conformance: no summary (exit ${run.code})`);
      }
    }
    const checks = await readChecks(join(dir, "results"));
    return { scenarios: names.map((name) => toScenario(name, checks.get(name))), raw };
  } finally {
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Renders a report as an aligned `name  PASS|FAIL  reasons` table. */
export function formatConformanceTable(report: ConformanceReport): string {
  const width = Math.max(8, ...report.scenarios.map((scenario) => scenario.name.length));
  const rows = report.scenarios.map((scenario) => {
    const notes = [...scenario.failures, ...scenario.warnings.map((w) => `(warning) ${w}`)];
    const verdict = scenario.passed ? "PASS" : "FAIL";
    return `${scenario.name.padEnd(width)}  ${verdict}${
      notes.length ? `  ${notes.join("; ")}` : ""
    }`;
  });
  const passed = report.scenarios.filter((scenario) => scenario.passed).length;
  return [...rows, `${passed}/${report.scenarios.length} scenarios passed`].join("\n");
}

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function runCli(input: {
  dir: string;
  url: string;
  selector: string[];
  signal: AbortSignal;
  env?: Readonly<Record<string, string>>;
}): Promise<CliRun> {
  const args = ["run", "-A", "--no-lock", CONFORMANCE_PACKAGE, "server", "--url", input.url];
  const command = new Deno.Command(Deno.execPath(), {
    args: [...args, ...input.selector, "-o", "results"],
    cwd: input.dir,
    env: { NO_COLOR: "1", ...input.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: input.signal,
  });
  const output = await command.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The error for a CLI that never started: unavailable package, or another reason. */
function startFailure(stderr: string): Error {
  // deno-lint-ignore no-control-regex
  const plain = stderr.replace(/\x1b\[[0-9;]*m/g, "");
  const lines = plain.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const reason = lines.find((line) => line.startsWith("error:")) ??
    (lines.slice(0, 2).join(" ") || "no output");
  if (FETCH_FAILURE.test(plain)) {
    return new Error(`${CONFORMANCE_UNAVAILABLE} cannot fetch ${CONFORMANCE_PACKAGE} (${reason})`);
  }
  return new Error(`Cannot run conformance: ${reason}`);
}

async function readChecks(resultsDir: string): Promise<Map<string, Check[]>> {
  const found = new Map<string, Check[]>();
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(resultsDir));
  } catch {
    return found;
  }
  for (const entry of entries) {
    const match = RESULT_DIR.exec(entry.name);
    if (!entry.isDirectory || match === null) continue;
    try {
      const parsed: unknown = JSON.parse(
        await Deno.readTextFile(join(resultsDir, entry.name, "checks.json")),
      );
      if (Array.isArray(parsed)) found.set(match[1], parsed as Check[]);
    } catch {
      // no checks.json (the scenario crashed): reported as a failure by toScenario
    }
  }
  return found;
}

function toScenario(name: string, checks: Check[] | undefined): ConformanceScenario {
  if (checks === undefined) {
    return {
      name,
      passed: false,
      failures: ["no checks.json written (scenario crashed; see raw output)"],
      warnings: [],
      counts: { success: 0, failure: 1, warning: 0, info: 0 },
    };
  }
  const describe = (check: Check) =>
    `${String(check.id)}: ${String(check.errorMessage ?? check.description ?? "")}`;
  const failures = checks.filter((check) => check.status === "FAILURE").map(describe);
  const warnings = checks.filter((check) => check.status === "WARNING").map(describe);
  const count = (status: string) => checks.filter((check) => check.status === status).length;
  const counts = {
    success: count("SUCCESS"),
    failure: count("FAILURE"),
    warning: count("WARNING"),
    info: count("INFO"),
  };
  return { name, passed: failures.length === 0, failures, warnings, counts };
}
