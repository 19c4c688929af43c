// A/B of the gateway between two checkouts, on this machine, in one process tree: the decision API
// (b) and the proxied tools/call (d) of each, against one upstream, in interleaved rounds (wrk,
// 32 connections), so that a change's cost is measured against the code before it rather than
// across runs of `deno task bench` whose noise on a shared 2-core VM is as large as the effect.
//   git archive <rev> | tar -x -C /tmp/old
//   deno run --allow-all bench/ab.ts /tmp/old [rounds=3] [seconds=5]
// AB_HTTP_SERVER_OLD / AB_HTTP_SERVER_NEW set each gateway's HTTP_SERVER, e.g. the two servers of
// one checkout: AB_HTTP_SERVER_NEW=builtin deno run --allow-all bench/ab.ts . 3 5
// Prints each round and the medians, then new/old ratios. Needs wrk.

import { join, resolve } from "node:path";
import { runLoad } from "./load.ts";
import { type ServerProcess, startServer } from "./processes.ts";
import {
  BENCH_SCHEMA,
  BENCH_TOOL,
  benchPolicy,
  decisionSpec,
  openMcpSession,
  toolsCallSpec,
} from "./scenarios.ts";

const NEW = resolve(decodeURIComponent(new URL("..", import.meta.url).pathname));
const [oldRoot, roundsText = "3", secondsText = "5"] = Deno.args;
if (oldRoot === undefined) {
  console.error("usage: deno run --allow-all bench/ab.ts <other checkout> [rounds] [seconds]");
  Deno.exit(2);
}
const rounds = Number(roundsText);
const seconds = Number(secondsText);
const dir = await Deno.makeTempDir({ prefix: "mcpsec-ab-" });
await Deno.mkdir(join(dir, "schemas"));
await Deno.writeTextFile(join(dir, "schemas", `${BENCH_TOOL}.json`), JSON.stringify(BENCH_SCHEMA));
const started: ServerProcess[] = [];

function serverOf(tag: string): Record<string, string> {
  const chosen = Deno.env.get(`AB_HTTP_SERVER_${tag.toUpperCase()}`);
  return chosen === undefined || chosen === "" ? {} : { HTTP_SERVER: chosen };
}

function gateway(root: string, tag: string): Promise<ServerProcess> {
  const home = join(dir, tag);
  return Deno.mkdir(home).then(() =>
    startServer({
      name: `gateway (${tag})`,
      cwd: home,
      args: [
        "run",
        "--config",
        join(root, "deno.json"),
        "--allow-all",
        "--v8-flags=--enable-experimental-regexp-engine,--no-memory-reducer",
        join(root, "main.ts"),
        "serve",
      ],
      env: {
        PORT: "0",
        HOST: "127.0.0.1",
        POLICY_PATH: join(dir, "policies.yaml"),
        SCHEMA_DIR: join(dir, "schemas"),
        AUDIT_LOG_PATH: join(home, "audit.log"),
        AUDIT_STDOUT: "false",
        ADMIN_TOKEN: "bench-admin-token-0123456789abcdef",
        PINS_PATH: join(home, "pins.json"),
        LOG_LEVEL: "info",
        ...serverOf(tag),
      },
      ready: /listening on http:\/\/127\.0\.0\.1:(\d+)/,
    })
  );
}

try {
  const upstream = await startServer({
    name: "upstream",
    cwd: dir,
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      join(NEW, "bench", "servers", "upstream_server.ts"),
    ],
    env: { PORT: "0" },
    ready: /listening (\d+)/,
  });
  started.push(upstream);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}/mcp`;
  await Deno.writeTextFile(join(dir, "policies.yaml"), benchPolicy(upstreamUrl));
  const old = await gateway(resolve(oldRoot), "old");
  started.push(old);
  const current = await gateway(NEW, "new");
  started.push(current);
  const base = (p: ServerProcess) => `http://127.0.0.1:${p.port}`;
  const specs = {
    "b old": decisionSpec(`${base(old)}/mcp/toolcall`),
    "b new": decisionSpec(`${base(current)}/mcp/toolcall`),
    "d old": toolsCallSpec(
      `${base(old)}/mcp`,
      await openMcpSession(`${base(old)}/mcp`),
      "bench.echo",
    ),
    "d new": toolsCallSpec(
      `${base(current)}/mcp`,
      await openMcpSession(`${base(current)}/mcp`),
      "bench.echo",
    ),
  };
  const rps: Record<string, number[]> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const [name, spec] of Object.entries(specs)) {
      const run = await runLoad("wrk", spec, {
        connections: 32,
        durationS: seconds,
        warmupS: 1,
        dir,
      });
      (rps[name] ??= []).push(run.rps);
      console.log(
        `round ${round} ${name}: ${Math.round(run.rps)} req/s, p50 ${run.p50Ms.toFixed(2)} ms, ` +
          `p99 ${run.p99Ms.toFixed(2)} ms, errors ${run.errors}, non-2xx ${run.non2xx}`,
      );
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
  for (const [name, values] of Object.entries(rps)) {
    console.log(`${name}: median ${Math.round(median(values))} req/s`);
  }
  for (const scenario of ["b", "d"]) {
    const ratio = median(rps[`${scenario} new`]) / median(rps[`${scenario} old`]);
    console.log(`(${scenario}) new/old: ${ratio.toFixed(3)}`);
  }
} finally {
  for (const process of started.reverse()) await process.stop().catch(() => {});
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
