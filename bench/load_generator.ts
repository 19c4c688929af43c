// The fallback load generator of `deno task bench` when `wrk` is not installed. Runs in its own
// process (never in the process being measured): a closed loop of N concurrent keep-alive
// requests for a fixed time after a warm-up, then prints `BENCH_RESULT {json}` on stdout.
//   deno run --allow-net --allow-read bench/load_generator.ts <job.json>
// job.json: { spec: RequestSpec, connections, durationS, warmupS }

import {
  bodyFor,
  type LoadResult,
  quantile,
  type RequestSpec,
  RESULT_MARKER,
} from "./load_spec.ts";

interface Job {
  readonly spec: RequestSpec;
  readonly connections: number;
  readonly durationS: number;
  readonly warmupS: number;
}

interface Tally {
  latencies: number[];
  errors: number;
  non2xx: number;
}

async function loop(job: Job, until: number, next: () => number, tally: Tally): Promise<void> {
  while (performance.now() < until) {
    const body = bodyFor(job.spec, next());
    const started = performance.now();
    try {
      const response = await fetch(job.spec.url, {
        method: "POST",
        headers: job.spec.headers as Record<string, string>,
        body,
      });
      await response.arrayBuffer();
      if (response.status >= 400) tally.non2xx++;
      tally.latencies.push(performance.now() - started);
    } catch {
      tally.errors++;
    }
  }
}

async function phase(job: Job, seconds: number, next: () => number): Promise<Tally> {
  const tally: Tally = { latencies: [], errors: 0, non2xx: 0 };
  const until = performance.now() + seconds * 1000;
  const loops = Array.from({ length: job.connections }, () => loop(job, until, next, tally));
  await Promise.all(loops);
  return tally;
}

const job = JSON.parse(await Deno.readTextFile(Deno.args[0])) as Job;
let counter = 0;
const next = () => ++counter;
if (job.warmupS > 0) await phase(job, job.warmupS, next);
const started = performance.now();
const tally = await phase(job, job.durationS, next);
const seconds = (performance.now() - started) / 1000;
const sorted = Float64Array.from(tally.latencies).sort();
const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
const result: LoadResult = {
  generator: "deno",
  requests: sorted.length,
  seconds,
  rps: sorted.length / seconds,
  p50Ms: quantile(sorted, 0.5),
  p90Ms: quantile(sorted, 0.9),
  p99Ms: quantile(sorted, 0.99),
  meanMs: mean,
  errors: tally.errors,
  non2xx: tally.non2xx,
};
console.log(`${RESULT_MARKER}${JSON.stringify({ ...result, sent: counter })}`);
