/**
 * §13 benchmark: the decision API with the Redis store against the in-memory one (target: at least
 * 50 % of in-memory throughput, p99 ≤ 5 ms), and two replicas on one Redis against one, behind the
 * same load (split over both). Saturated loads (closed loop, `--connections`) give throughput; the
 * p99 target is read at a fixed rate (`--rate`, default 500/s, open loop: latency from the intended
 * send time) on one gateway per store. Run: `deno run --allow-all bench/redis.ts [--seconds N]
 * [--connections N] [--rate N] [--rounds N]` (interleaved rounds, medians reported, default 3);
 * needs /usr/bin/redis-server. Prints one JSON report.
 */
import { join, resolve } from "node:path";
import { Redis } from "ioredis";
import { type OpenLoopRun, pickGenerator, runLoad, runOpenLoop } from "./load.ts";
import type { LoadResult } from "./load_spec.ts";
import { type ServerProcess, startServer } from "./processes.ts";
import { decisionSpec } from "./scenarios.ts";
import { redisSkipReason, startRedis } from "../tests/redis_server.ts";

const ROOT = resolve(new URL("..", import.meta.url).pathname);
const READY = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

/** The bench policy's rule without its upstream: every decision runs cap and both windows. */
const POLICY = `defaults:
  unknown_schema: allow
  timezone: "UTC"
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*"]
    max_calls_per_session: 100000000
    rate_limit:
      per_session: "100000000/minute"
      per_model: "1000000000/minute"
`;

function flag(name: string, fallback: number): number {
  const at = Deno.args.indexOf(name);
  const value = at < 0 ? NaN : Number(Deno.args[at + 1]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

async function gateway(dir: string, i: number, redisUrl?: string): Promise<ServerProcess> {
  return await startServer({
    name: `gateway-${i}`,
    cwd: dir,
    args: [
      "run",
      "--config",
      join(ROOT, "deno.json"),
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      "--v8-flags=--enable-experimental-regexp-engine",
      join(ROOT, "main.ts"),
      "serve",
    ],
    env: {
      PORT: "0",
      POLICY_PATH: join(dir, "policies.yaml"),
      SCHEMA_DIR: join(dir, "schemas"),
      AUDIT_LOG_PATH: join(dir, `audit-${i}`, "audit.log"),
      AUDIT_STDOUT: "false",
      ADMIN_TOKEN: "bench-admin-token-0123456789abcdef",
      PINS_PATH: join(dir, `pins-${i}.json`),
      LOG_LEVEL: "info",
      ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_PREFIX: `bench${crypto.randomUUID()}:` } : {}),
    },
    ready: READY,
  });
}

function summary(runs: LoadResult[]) {
  const rps = runs.reduce((sum, r) => sum + r.rps, 0);
  return {
    rps: Math.round(rps),
    p50_ms: Math.max(...runs.map((r) => r.p50Ms)),
    p99_ms: Math.max(...runs.map((r) => r.p99Ms)),
  };
}

/** User + system CPU seconds of a process so far, all threads (/proc; 0 where absent). */
async function processCpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return 0;
  }
}

/** redis-server's user + system CPU seconds so far (INFO cpu). */
async function redisCpuSeconds(client: Redis): Promise<number> {
  const info = await client.info("cpu");
  const read = (key: string) => Number(info.match(new RegExp(`^${key}:([0-9.]+)`, "m"))?.[1] ?? 0);
  return read("used_cpu_user") + read("used_cpu_sys");
}

/** The 1, 5 and 15 minute load averages (/proc/loadavg), to say how busy the machine was. */
async function loadAverage(): Promise<string> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

function openLoopSummary(run: OpenLoopRun) {
  const ms = (x: number) => Number(x.toFixed(3));
  return {
    achieved_rps: Math.round(run.achievedRps),
    p50_ms: ms(run.p50Ms),
    p99_ms: ms(run.p99Ms),
    p999_ms: ms(run.p999Ms),
    errors: run.errors,
    non2xx: run.non2xx,
  };
}

async function main(): Promise<number> {
  const skip = redisSkipReason();
  if (skip) {
    console.error(`bench/redis.ts: ${skip}`);
    return 1;
  }
  const seconds = flag("--seconds", 10);
  const connections = flag("--connections", 64);
  const { generator, why } = await pickGenerator();
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-bench-redis-" });
  await Deno.writeTextFile(join(dir, "policies.yaml"), POLICY);
  await Deno.mkdir(join(dir, "schemas"));
  const redis = await startRedis();
  const loadBefore = await loadAverage();
  const load = async (ports: number[]) =>
    summary(
      await Promise.all(ports.map((port) =>
        runLoad(generator, decisionSpec(`http://127.0.0.1:${port}/mcp/toolcall`), {
          connections: Math.max(1, Math.floor(connections / ports.length)),
          durationS: seconds,
          warmupS: Math.min(3, seconds),
          dir,
        })
      )),
    );
  const rate = flag("--rate", 500);
  const probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  probe.on("error", () => {});
  await probe.connect();
  // CPU time per decision (gateway process, all its threads; and redis-server): what a decision
  // costs whatever else the machine runs, unlike latency and throughput on a shared machine.
  const fixedRate = async (server: ServerProcess) => {
    const gatewayBefore = await processCpuSeconds(server.pid);
    const redisBefore = await redisCpuSeconds(probe);
    const run = await runOpenLoop(decisionSpec(`http://127.0.0.1:${server.port}/mcp/toolcall`), {
      rate,
      durationS: seconds,
      warmupS: Math.min(2, seconds),
      connections: 64,
      dir,
    });
    const gatewayCpu = (await processCpuSeconds(server.pid)) - gatewayBefore;
    const redisCpu = (await redisCpuSeconds(probe)) - redisBefore;
    const perCall = (cpu: number) => Number((cpu / Math.max(1, run.sent) * 1e6).toFixed(1));
    return {
      ...openLoopSummary(run),
      gateway_cpu_us_per_call: perCall(gatewayCpu),
      redis_cpu_us_per_call: perCall(redisCpu),
    };
  };
  const measure = async (urls: (string | undefined)[]) => {
    const started: ServerProcess[] = [];
    try {
      for (const [i, url] of urls.entries()) started.push(await gateway(dir, i, url));
      const saturated = await load(started.map((s) => s.port));
      const atRate = started.length === 1 ? await fixedRate(started[0]) : undefined;
      return { saturated, atRate };
    } finally {
      for (const s of started) await s.stop(5_000);
    }
  };
  // Interleaved rounds (memory, Redis, two replicas, then again): on a shared machine the noise
  // between runs is larger than the effect; medians of rounds taken side by side are comparable.
  const rounds = flag("--rounds", 3);
  const taken: {
    memory: Awaited<ReturnType<typeof measure>>;
    redis: Awaited<ReturnType<typeof measure>>;
    two: Awaited<ReturnType<typeof measure>>;
  }[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const memory = await measure([undefined]);
      const redisOne = await measure([redis.url]);
      const two = await measure([redis.url, redis.url]);
      taken.push({ memory, redis: redisOne, two });
      console.error(
        `round ${
          round + 1
        }: memory ${memory.saturated.rps}/s, redis ${redisOne.saturated.rps}/s, ` +
          `two replicas ${two.saturated.rps}/s; at ${rate}/s p99 memory ` +
          `${memory.atRate?.p99_ms} ms, redis ${redisOne.atRate?.p99_ms} ms`,
      );
    }
    const median = <T>(items: T[], key: (item: T) => number): T =>
      [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];
    const rps = (kind: "memory" | "redis" | "two") =>
      median(taken.map((t) => t[kind].saturated), (x) => x.rps);
    const atRate = (kind: "memory" | "redis") =>
      median(taken.map((t) => t[kind].atRate!), (x) => x.p99_ms);
    const memory = rps("memory");
    const onRedis = rps("redis");
    const twoReplicas = rps("two");
    console.log(JSON.stringify(
      {
        generator,
        why,
        seconds,
        connections,
        rounds,
        cpus: navigator.hardwareConcurrency,
        load_average: { before: loadBefore, after: await loadAverage() },
        decision_api: {
          memory,
          redis: onRedis,
          redis_vs_memory: Number((onRedis.rps / memory.rps).toFixed(2)),
          redis_vs_memory_by_round: taken.map((t) =>
            Number((t.redis.saturated.rps / t.memory.saturated.rps).toFixed(2))
          ),
          fixed_rate: { rate, memory: atRate("memory"), redis: atRate("redis") },
          fixed_rate_by_round: taken.map((t) => ({
            p99_ms: { memory: t.memory.atRate?.p99_ms, redis: t.redis.atRate?.p99_ms },
            gateway_cpu_us_per_call: {
              memory: t.memory.atRate?.gateway_cpu_us_per_call,
              redis: t.redis.atRate?.gateway_cpu_us_per_call,
            },
            redis_cpu_us_per_call: t.redis.atRate?.redis_cpu_us_per_call,
          })),
          targets: { min_ratio: 0.5, max_p99_ms: 5 },
        },
        replicas: {
          one: onRedis,
          two: twoReplicas,
          two_vs_one: Number((twoReplicas.rps / onRedis.rps).toFixed(2)),
          two_vs_one_by_round: taken.map((t) =>
            Number((t.two.saturated.rps / t.redis.saturated.rps).toFixed(2))
          ),
        },
      },
      null,
      2,
    ));
    return 0;
  } finally {
    probe.disconnect();
    await redis.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
