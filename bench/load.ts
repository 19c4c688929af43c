/** Runs one load against a server with `wrk`, or with the Deno fallback generator (effects). */
import type { OpenLoopResult } from "./open_loop_core.ts";
import {
  type LoadResult,
  type LoadShape,
  parseWrkOutput,
  type RequestSpec,
  RESULT_MARKER,
  wrkScript,
} from "./load_spec.ts";

/** Which load generator runs: `wrk`, or the Deno fallback in a separate process. */
export type Generator = "wrk" | "deno";

/** A measured run plus every request sent (warm-up included), for the audit cross-check. */
export interface LoadRun extends LoadResult {
  /** Requests sent in warm-up and measurement together. */
  readonly sent: number;
}

/** Picks the generator: `wrk` when it runs, else `deno`; the second value says why. */
export async function pickGenerator(
  forced?: Generator,
): Promise<{ generator: Generator; why: string }> {
  if (forced === "deno") return { generator: "deno", why: "forced with --loadgen deno" };
  try {
    await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return { generator: "wrk", why: "wrk found on PATH" };
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "wrk is not installed (apt-get install -y wrk); using the Deno fallback generator"
      : `wrk cannot run (${(error as Error).name}); using the Deno fallback generator`;
    if (forced === "wrk") throw new Error(`Cannot run wrk: ${why}`);
    return { generator: "deno", why };
  }
}

/** Sends `spec` for `warmupS` (not measured), then for `shape.durationS` (measured). */
export async function runLoad(
  generator: Generator,
  spec: RequestSpec,
  shape: LoadShape & { warmupS: number; dir: string },
): Promise<LoadRun> {
  return generator === "wrk" ? await runWrk(spec, shape) : await runFallback(spec, shape);
}

async function runWrk(
  spec: RequestSpec,
  shape: LoadShape & { warmupS: number; dir: string },
): Promise<LoadRun> {
  const script = `${shape.dir}/load-${crypto.randomUUID()}.lua`;
  await Deno.writeTextFile(script, wrkScript(spec));
  const run = async (seconds: number): Promise<LoadResult> => {
    const args = [
      "-t1",
      `-c${shape.connections}`,
      `-d${Math.max(1, Math.ceil(seconds))}s`, // wrk takes whole seconds
      "--timeout",
      "5s",
      "-s",
      script,
      spec.url,
    ];
    const output = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(output.stdout);
    if (!output.success || !text.includes(RESULT_MARKER)) {
      const err = new TextDecoder().decode(output.stderr).slice(0, 500);
      throw new Error(`Cannot run wrk: exit ${output.code}: ${err || text.slice(0, 500)}`);
    }
    return parseWrkOutput(text);
  };
  try {
    const warm = shape.warmupS > 0 ? await run(shape.warmupS) : undefined;
    const measured = await run(shape.durationS);
    return { ...measured, sent: measured.requests + (warm?.requests ?? 0) };
  } finally {
    await Deno.remove(script).catch(() => {});
  }
}

async function runFallback(
  spec: RequestSpec,
  shape: LoadShape & { warmupS: number; dir: string },
): Promise<LoadRun> {
  const job = {
    spec,
    connections: shape.connections,
    durationS: shape.durationS,
    warmupS: shape.warmupS,
  };
  return await spawnGenerator<LoadRun>("load_generator.ts", job, shape.dir);
}

/** Runs a generator script of this folder in its own process with `job` as its JSON job file and
 * returns what it printed after the result marker. */
async function spawnGenerator<T>(script: string, job: unknown, dir: string): Promise<T> {
  const jobPath = `${dir}/job-${crypto.randomUUID()}.json`;
  await Deno.writeTextFile(jobPath, JSON.stringify(job));
  try {
    const generator = decodeURIComponent(new URL(`./${script}`, import.meta.url).pathname);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-read", generator, jobPath],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    const line = text.split("\n").find((candidate) => candidate.startsWith(RESULT_MARKER));
    if (!output.success || line === undefined) {
      const err = new TextDecoder().decode(output.stderr).slice(0, 500);
      throw new Error(`Cannot run the load generator ${script}: exit ${output.code}: ${err}`);
    }
    return JSON.parse(line.slice(RESULT_MARKER.length)) as T;
  } finally {
    await Deno.remove(jobPath).catch(() => {});
  }
}

/** One open-loop run: `rate` requests per second for `warmupS` + `durationS`, latencies from the
 * intended send time (bench/open_loop.ts in its own process). */
export interface OpenLoopRun extends OpenLoopResult {
  /** Requests sent in warm-up and measurement together. */
  readonly sent: number;
}

/** Runs the open-loop generator against `spec` at a fixed rate. */
export async function runOpenLoop(
  spec: RequestSpec,
  shape: { rate: number; durationS: number; warmupS: number; connections: number; dir: string },
): Promise<OpenLoopRun> {
  const { dir, ...job } = shape;
  return await spawnGenerator<OpenLoopRun>("open_loop.ts", { spec, ...job }, dir);
}
