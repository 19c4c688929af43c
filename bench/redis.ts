/**
 * §13 benchmark: the decision API with the Redis store against the in-memory one (target: at least
 * 50 % of in-memory throughput, p99 ≤ 5 ms), and two replicas on one Redis against one, behind the
 * same load (split over both). Run: `deno run --allow-all bench/redis.ts [--seconds N]
 * [--connections N]`; needs /usr/bin/redis-server. Prints one JSON report.
 */
import { join, resolve } from "node:path";
import { pickGenerator, runLoad } from "./load.ts";
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
  const measure = async (urls: (string | undefined)[]) => {
    const started: ServerProcess[] = [];
    try {
      for (const [i, url] of urls.entries()) started.push(await gateway(dir, i, url));
      return await load(started.map((s) => s.port));
    } finally {
      for (const s of started) await s.stop(5_000);
    }
  };
  try {
    const memory = await measure([undefined]);
    const onRedis = await measure([redis.url]);
    const twoReplicas = await measure([redis.url, redis.url]);
    console.log(JSON.stringify(
      {
        generator,
        why,
        seconds,
        connections,
        cpus: navigator.hardwareConcurrency,
        decision_api: {
          memory,
          redis: onRedis,
          redis_vs_memory: Number((onRedis.rps / memory.rps).toFixed(2)),
          targets: { min_ratio: 0.5, max_p99_ms: 5 },
        },
        replicas: {
          one: onRedis,
          two: twoReplicas,
          two_vs_one: Number((twoReplicas.rps / onRedis.rps).toFixed(2)),
        },
      },
      null,
      2,
    ));
    return 0;
  } finally {
    await redis.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
