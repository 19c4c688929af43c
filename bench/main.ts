// `deno task bench` (SPEC §11): four loads side by side in one run, (a) bare Deno.serve, (b) the
// decision API, (c) an MCP upstream called directly and (d) the same call through the
// gateway's /mcp, every server in its own process on 127.0.0.1, then the limiter memory probe.
// Writes <out>/latest.json and latest.md (smoke runs: smoke.*) and, for full runs, the table in
// docs/BENCHMARKS.md. `--smoke` (or BENCH_SMOKE=1) takes a few seconds; `--memory` runs only
// the memory probe. See bench/options.ts for every option. Runs with --allow-all: it starts
// servers and reads /proc, which Deno allows only with every permission.

import { join, resolve } from "node:path";
import { pickGenerator, runLoad, runOpenLoop } from "./load.ts";
import type { LoadRun, OpenLoopRun } from "./load.ts";
import { type BenchOptions, parseBenchOptions } from "./options.ts";
import { startServer } from "./processes.ts";
import type { ServerProcess } from "./processes.ts";
import {
  type AuditCheck,
  type BenchReport,
  computeRatios,
  type LoadReport,
  type MachineInfo,
  medianRound,
  OPEN_LOOP_KEYS,
  type OpenLoopReport,
  renderMarkdown,
  replaceGenerated,
  SCENARIO_KEYS,
  type ScenarioKey,
} from "./report.ts";
import {
  BENCH_SCHEMA,
  BENCH_TOOL,
  benchPolicy,
  decisionSpec,
  openMcpSession,
  probe,
  toolsCallSpec,
} from "./scenarios.ts";
import type { MemoryProbeResult } from "../src/limits/memory_probe.ts";

const ROOT = resolve(decodeURIComponent(new URL("..", import.meta.url).pathname));
const READY = /listening (\d+)/;
const GATEWAY_READY = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";

async function machineInfo(): Promise<MachineInfo> {
  let cpu = "unknown CPU";
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    cpu = /^model name\s*:\s*(.+)$/m.exec(text)?.[1].trim() ?? cpu;
  } catch {
    // not Linux
  }
  return {
    nproc: navigator.hardwareConcurrency,
    cpu,
    deno: `deno ${Deno.version.deno} (v8 ${Deno.version.v8})`,
    os: `${Deno.build.os}/${Deno.build.arch}`,
  };
}

async function startGatewayProcess(
  dir: string,
  options: BenchOptions,
): Promise<ServerProcess> {
  const prof = options.cpuProfDir === undefined
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${resolve(options.cpuProfDir)}`];
  return await startServer({
    name: "gateway",
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
      // As `deno task start` runs it (deno.json).
      "--v8-flags=--enable-experimental-regexp-engine,--no-memory-reducer" +
      (options.gatewayV8Flags ? "," + options.gatewayV8Flags : ""),
      ...prof,
      join(ROOT, "main.ts"),
      "serve",
    ],
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      POLICY_PATH: join(dir, "policies.yaml"),
      SCHEMA_DIR: join(dir, "schemas"),
      AUDIT_LOG_PATH: join(dir, "audit", "audit.log"),
      AUDIT_STDOUT: "false",
      ADMIN_TOKEN,
      PINS_PATH: join(dir, "pins.json"),
      LOG_LEVEL: "info",
      ...(options.httpServer === undefined ? {} : { HTTP_SERVER: options.httpServer }),
    },
    ready: GATEWAY_READY,
    logPath: options.gatewayLog === undefined ? undefined : resolve(options.gatewayLog),
  });
}

function startScript(
  name: string,
  script: string,
  options: { dir: string; env?: Record<string, string>; allowWrite?: boolean },
): Promise<ServerProcess> {
  return startServer({
    name,
    cwd: options.dir,
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      ...(options.allowWrite ? ["--allow-write"] : []),
      join(ROOT, "bench", "servers", script),
    ],
    env: { PORT: "0", ...options.env },
    ready: READY,
  });
}

async function checkAudit(dir: string, answered: number): Promise<AuditCheck> {
  const path = join(dir, "audit", "audit.log");
  let lines = 0;
  let toolcalls = 0;
  let rest = "";
  const decoder = new TextDecoder();
  using file = await Deno.open(path);
  for await (const chunk of file.readable) {
    const text = rest + decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) {
      if (line === "") continue;
      lines++;
      if (line.includes('"event":"toolcall"')) toolcalls++;
    }
  }
  const verify = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      join(ROOT, "deno.json"),
      "--allow-read",
      "--allow-env",
      join(ROOT, "main.ts"),
      "verify-log",
      path,
    ],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  const chainOk = verify.success && rest === "";
  return { lines, toolcalls, answered, chainOk, ok: chainOk && toolcalls >= answered };
}

/** Connections the open-loop generator keeps open: enough that queueing behind a busy
 * connection only happens when the server itself stalls. */
const OPEN_LOOP_CONNECTIONS = 64;

async function runOpenLoops(
  specs: Record<ScenarioKey, ReturnType<typeof decisionSpec>>,
  options: BenchOptions,
  dir: string,
): Promise<{ report: OpenLoopReport; answered: number }> {
  const runs: Record<string, Record<string, OpenLoopRun>> = {};
  let answered = 0;
  const durationS = options.smoke ? 1 : options.durationS;
  const warmupS = options.smoke ? 0 : Math.min(options.warmupS, 2);
  for (const rate of options.rates) {
    const byKey: Record<string, OpenLoopRun> = {};
    for (const key of OPEN_LOOP_KEYS) {
      const run = await runOpenLoop(specs[key], {
        rate,
        durationS,
        warmupS,
        connections: OPEN_LOOP_CONNECTIONS,
        dir,
      });
      byKey[key] = run;
      if (key === "b" || key === "d") answered += run.sent - run.errors;
      console.error(
        `open loop ${rate}/s (${key}): ${run.achievedRps.toFixed(0)} req/s, p50 ${
          run.p50Ms.toFixed(3)
        } ms, p99 ${run.p99Ms.toFixed(3)} ms, p99.9 ${
          run.p999Ms.toFixed(3)
        } ms, errors ${run.errors}`,
      );
    }
    runs[String(rate)] = byKey;
  }
  return {
    report: { connections: OPEN_LOOP_CONNECTIONS, durationS, warmupS, rates: options.rates, runs },
    answered,
  };
}

async function runLoads(
  options: BenchOptions,
  dir: string,
): Promise<{ load?: LoadReport; openLoop?: OpenLoopReport }> {
  const picked = await pickGenerator(options.loadgen);
  console.error(`load generator: ${picked.generator} (${picked.why})`);
  await Deno.mkdir(join(dir, "schemas"));
  await Deno.writeTextFile(
    join(dir, "schemas", `${BENCH_TOOL}.json`),
    JSON.stringify(BENCH_SCHEMA),
  );
  const started: ServerProcess[] = [];
  try {
    const bare = await startScript("bare server", "bare_server.ts", { dir });
    started.push(bare);
    const minimum = await startScript("audited minimum", "audited_minimum.ts", {
      dir,
      env: { AUDIT_FILE: join(dir, "audited_minimum.log") },
      allowWrite: true,
    });
    started.push(minimum);
    const upstream = await startScript("upstream", "upstream_server.ts", { dir });
    started.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.port}/mcp`;
    const plain = await startScript("plain proxy", "plain_proxy.ts", {
      dir,
      env: { UPSTREAM_URL: upstreamUrl },
    });
    started.push(plain);
    await Deno.writeTextFile(join(dir, "policies.yaml"), benchPolicy(upstreamUrl));
    const gateway = await startGatewayProcess(dir, options);
    started.push(gateway);
    const gatewayUrl = `http://127.0.0.1:${gateway.port}`;

    const directSession = await openMcpSession(upstreamUrl);
    const specs: Record<ScenarioKey, ReturnType<typeof decisionSpec>> = {
      a: decisionSpec(`http://127.0.0.1:${bare.port}/mcp/toolcall`),
      b: decisionSpec(`${gatewayUrl}/mcp/toolcall`),
      c: toolsCallSpec(upstreamUrl, directSession, "echo"),
      d: toolsCallSpec(
        `${gatewayUrl}/mcp`,
        await openMcpSession(`${gatewayUrl}/mcp`),
        "bench.echo",
      ),
      e: toolsCallSpec(`http://127.0.0.1:${plain.port}/mcp`, directSession, "echo"),
      f: decisionSpec(`http://127.0.0.1:${minimum.port}/mcp/toolcall`),
    };
    const allowed = (text: string) => text.includes('"allowed":true');
    const echoed = (text: string) =>
      text.includes("hello from the benchmark") && !text.includes("isError");
    await probe(specs.a, allowed);
    await probe(specs.b, allowed);
    await probe(specs.c, echoed);
    await probe(specs.d, echoed);
    await probe(specs.e, echoed);
    await probe(specs.f, allowed);

    const rounds: Record<ScenarioKey, LoadRun>[] = [];
    let answered = 2; // the two probes above
    const shape = {
      connections: options.connections,
      durationS: options.durationS,
      warmupS: options.warmupS,
      dir,
    };
    for (let round = 1; round <= (options.openLoopOnly ? 0 : options.rounds); round++) {
      const results = {} as Record<ScenarioKey, LoadRun>;
      for (const key of SCENARIO_KEYS) {
        const run = await runLoad(picked.generator, specs[key], shape);
        results[key] = run;
        if (key === "b" || key === "d") {
          answered += run.sent - (run.generator === "wrk" ? 0 : run.errors);
        }
        console.error(
          `round ${round} (${key}): ${run.rps.toFixed(0)} req/s, p50 ${run.p50Ms.toFixed(3)} ms, ` +
            `p99 ${run.p99Ms.toFixed(3)} ms, errors ${run.errors}, non-2xx ${run.non2xx}`,
        );
      }
      rounds.push(results);
    }
    const open = options.rates.length > 0 ? await runOpenLoops(specs, options, dir) : undefined;
    answered += open?.answered ?? 0;
    const gatewayMemory = await gateway.memory();
    for (const server of started.reverse()) {
      const code = await server.stop();
      if (server === gateway && code !== 0) {
        throw new Error(`Cannot finish: the gateway exited with ${code}\n${gateway.output()}`);
      }
    }
    started.length = 0;
    const audit = await checkAudit(dir, answered);
    if (rounds.length === 0) {
      if (!audit.ok) {
        throw new Error(`Cannot trust the run: audit check failed ${JSON.stringify(audit)}`);
      }
      return { openLoop: open?.report };
    }
    const scenarios = {} as Record<ScenarioKey, LoadRun>;
    for (const key of SCENARIO_KEYS) {
      scenarios[key] = medianRound(rounds.map((round) => round[key]));
    }
    const load: LoadReport = {
      generator: { name: picked.generator, why: picked.why },
      shape: {
        connections: options.connections,
        durationS: options.durationS,
        warmupS: options.warmupS,
        rounds: options.rounds,
      },
      scenarios,
      rounds,
      gatewayMemory,
      audit,
    };
    return { load, openLoop: open?.report };
  } finally {
    for (const server of started.reverse()) await server.stop(2000);
  }
}

async function runMemory(options: BenchOptions): Promise<MemoryProbeResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      join(ROOT, "src", "limits", "memory_probe.ts"),
      String(options.memorySessions),
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    const err = new TextDecoder().decode(output.stderr).slice(0, 500);
    throw new Error(`Cannot run the memory probe: exit ${output.code}: ${err}`);
  }
  return JSON.parse(text.split("\n").at(-1) ?? "") as MemoryProbeResult;
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(Deno.args, { BENCH_SMOKE: Deno.env.get("BENCH_SMOKE") });
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-bench-" });
  try {
    const { load, openLoop } = options.memoryOnly ? {} : await runLoads(options, dir);
    let memory: MemoryProbeResult | undefined;
    if (!options.openLoopOnly) {
      console.error(`memory: ${options.memorySessions} sessions through the limiter…`);
      memory = await runMemory(options);
    }
    const report: BenchReport = {
      date: new Date().toISOString(),
      smoke: options.smoke,
      machine: await machineInfo(),
      ...(load ? { load, ratios: computeRatios(load.scenarios) } : {}),
      ...(openLoop ? { openLoop } : {}),
      ...(memory ? { memory } : {}),
    };
    const markdown = renderMarkdown(report);
    const base = options.smoke ? "smoke" : options.openLoopOnly ? "open_loop" : "latest";
    await Deno.mkdir(options.outDir, { recursive: true });
    await Deno.writeTextFile(
      join(options.outDir, `${base}.json`),
      JSON.stringify(report, null, 2) + "\n",
    );
    await Deno.writeTextFile(join(options.outDir, `${base}.md`), markdown);
    if (options.writeDoc && load && openLoop) {
      const docPath = join(ROOT, "docs", "BENCHMARKS.md");
      let document = "# Benchmarks\n";
      try {
        document = await Deno.readTextFile(docPath);
      } catch {
        // first run writes a new document
      }
      await Deno.writeTextFile(docPath, replaceGenerated(document, markdown));
    }
    console.log(markdown);
    return 0;
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.exit(await main());
