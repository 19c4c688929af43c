/** The bench report: ratios against §11's targets, and its Markdown table. Pure. */
import type { LoadRun, OpenLoopRun } from "./load.ts";
import type { MemoryProbeResult } from "../src/limits/memory_probe.ts";

/** The machine a run happened on. */
export interface MachineInfo {
  /** Logical CPUs. */
  readonly nproc: number;
  /** CPU model from /proc/cpuinfo. */
  readonly cpu: string;
  /** `deno --version` first line. */
  readonly deno: string;
  /** Operating system and architecture. */
  readonly os: string;
}

/** The four loads of §11, and two references: (e) for (d), (f) for (b). */
export type ScenarioKey = "a" | "b" | "c" | "d" | "e" | "f";

/** The scenarios in the order they run and are reported. */
export const SCENARIO_KEYS: readonly ScenarioKey[] = ["a", "b", "c", "d", "e", "f"];

/** What each scenario measures. */
export const SCENARIO_LABELS: Readonly<Record<ScenarioKey, string>> = {
  a: "bare Deno.serve, parse JSON, fixed JSON answer",
  b: "gateway POST /mcp/toolcall (policy + limiter + draft-07 schema + audit to file)",
  c: "upstream MCP server, tools/call direct",
  d: "gateway /mcp tools/call proxied to the same upstream",
  e: "reference: zero-logic Deno proxy (same HTTP/1.1 client, no policy, no audit)",
  f: "reference: bare handler + the least an audited decision does (no policy, limiter, schema)",
};

/** The audit file cross-check after the gateway stopped. */
export interface AuditCheck {
  /** Lines in the audit file. */
  readonly lines: number;
  /** Lines with `"event":"toolcall"`. */
  readonly toolcalls: number;
  /** Answers the load generators counted from the gateway (warm-up included). */
  readonly answered: number;
  /** `verify-log` accepted the whole file. */
  readonly chainOk: boolean;
  /** Every answered call is in the file, and the chain is intact. */
  readonly ok: boolean;
}

/** Everything measured by the load part. */
export interface LoadReport {
  /** Generator used and why. */
  readonly generator: { readonly name: string; readonly why: string };
  /** Connections, seconds, warm-up, rounds. */
  readonly shape: {
    readonly connections: number;
    readonly durationS: number;
    readonly warmupS: number;
    readonly rounds: number;
  };
  /** The median round of each scenario (by requests per second). */
  readonly scenarios: Readonly<Record<ScenarioKey, LoadRun>>;
  /** Every round, in order. */
  readonly rounds: readonly Readonly<Record<ScenarioKey, LoadRun>>[];
  /** Gateway resident memory after the loads, MiB. */
  readonly gatewayMemory: { readonly rssMb: number; readonly peakMb: number } | null;
  /** The audit cross-check. */
  readonly audit: AuditCheck;
}

/** The scenarios the open-loop loads run: each gateway door, its baseline and its reference
 * (the same runtime doing the least such a door must: an audited decision, a zero-logic proxy). */
export const OPEN_LOOP_KEYS: readonly ScenarioKey[] = ["a", "b", "c", "d", "e", "f"];

/** Fixed-rate loads: latencies measured from each request's intended send time. */
export interface OpenLoopReport {
  /** Connections the generator keeps open. */
  readonly connections: number;
  /** Measured seconds per load. */
  readonly durationS: number;
  /** Unmeasured seconds before each load. */
  readonly warmupS: number;
  /** Rates in requests per second. */
  readonly rates: readonly number[];
  /** Runs by rate (as a string) and scenario key (a–f). */
  readonly runs: Readonly<Record<string, Readonly<Record<string, OpenLoopRun>>>>;
}

/** Added latency of a door over its baseline at one rate, ms, per percentile. */
export interface AddedLatency {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
}

/** The issue's targets at 1,000 calls/s: added latency of each door. */
export const TAIL_TARGETS = {
  rate: 1000,
  decision: { p50Ms: 0.1, p99Ms: 0.5 },
  proxy: { p50Ms: 0.3, p99Ms: 1 },
} as const;

/** `door` minus `baseline`, per percentile. */
export function addedLatency(door: OpenLoopRun, baseline: OpenLoopRun): AddedLatency {
  return {
    p50Ms: door.p50Ms - baseline.p50Ms,
    p90Ms: door.p90Ms - baseline.p90Ms,
    p99Ms: door.p99Ms - baseline.p99Ms,
    p999Ms: door.p999Ms - baseline.p999Ms,
  };
}

/** A whole run. */
export interface BenchReport {
  /** ISO time of the run. */
  readonly date: string;
  /** Smoke runs are for tests only; their numbers mean nothing. */
  readonly smoke: boolean;
  /** The machine. */
  readonly machine: MachineInfo;
  /** Loads (absent with `--memory`). */
  readonly load?: LoadReport;
  /** Derived ratios and target checks (absent with `--memory`). */
  readonly ratios?: Ratios;
  /** The limiter memory benchmark. */
  readonly memory?: MemoryProbeResult;
  /** Fixed-rate loads (absent with `--memory`). */
  readonly openLoop?: OpenLoopReport;
}

/** §11's numbers, derived from one run. */
export interface Ratios {
  /** Decision API throughput / bare throughput. */
  readonly decisionShare: number;
  /** Decision API p99, ms. */
  readonly decisionP99Ms: number;
  /** Proxied throughput / direct throughput. */
  readonly proxyShare: number;
  /** Proxied p50 − direct p50, ms. */
  readonly addedP50Ms: number;
  /** Reference proxy throughput / direct throughput: the most any Deno proxy gets here. */
  readonly plainProxyShare: number;
  /** Gateway proxy throughput / reference proxy throughput. */
  readonly proxyOfPlain: number;
  /** Minimal audited handler throughput / bare throughput: the most (b/a) gets here. */
  readonly minimumShare: number;
  /** Decision API throughput / minimal audited handler throughput. */
  readonly decisionOfMinimum: number;
  /** Each §11 target met. */
  readonly pass: {
    readonly decisionShare: boolean;
    readonly decisionP99: boolean;
    readonly proxyShare: boolean;
    readonly addedP50: boolean;
  };
}

/** §11 targets. */
export const TARGETS = {
  decisionShare: 0.6,
  decisionP99Ms: 2,
  proxyShare: 0.4,
  addedP50Ms: 0.5,
  memoryMb: 300,
} as const;

/** The round whose requests per second is the median of each scenario's rounds. */
export function medianRound(rounds: readonly LoadRun[]): LoadRun {
  if (rounds.length === 0) throw new Error("Cannot take the median of no rounds");
  const sorted = [...rounds].sort((x, y) => x.rps - y.rps);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** §11's ratios from the four scenarios, and where (b) and (d) stand against their references. */
export function computeRatios(s: Readonly<Record<ScenarioKey, LoadRun>>): Ratios {
  const decisionShare = s.a.rps > 0 ? s.b.rps / s.a.rps : 0;
  const proxyShare = s.c.rps > 0 ? s.d.rps / s.c.rps : 0;
  const addedP50Ms = s.d.p50Ms - s.c.p50Ms;
  return {
    decisionShare,
    decisionP99Ms: s.b.p99Ms,
    proxyShare,
    addedP50Ms,
    plainProxyShare: s.c.rps > 0 ? s.e.rps / s.c.rps : 0,
    proxyOfPlain: s.e.rps > 0 ? s.d.rps / s.e.rps : 0,
    minimumShare: s.a.rps > 0 ? s.f.rps / s.a.rps : 0,
    decisionOfMinimum: s.f.rps > 0 ? s.b.rps / s.f.rps : 0,
    pass: {
      decisionShare: decisionShare >= TARGETS.decisionShare,
      decisionP99: s.b.p99Ms <= TARGETS.decisionP99Ms,
      proxyShare: proxyShare >= TARGETS.proxyShare,
      addedP50: addedP50Ms <= TARGETS.addedP50Ms,
    },
  };
}

const pct = (value: number) => `${(value * 100).toFixed(1)} %`;
const ms = (value: number) => `${value.toFixed(3)} ms`;
const mark = (ok: boolean) => ok ? "✅" : "❌";

/** The Markdown tables of a report. */
export function renderMarkdown(report: BenchReport): string {
  const { machine } = report;
  const lines = [
    `Run ${report.date}${report.smoke ? " (SMOKE RUN: numbers are meaningless)" : ""} on ` +
    `${machine.nproc} × ${machine.cpu}, ${machine.os}, ${machine.deno}.`,
    "",
  ];
  const { load, ratios } = report;
  if (load && ratios) {
    lines.push(
      `Load: ${load.generator.name} (${load.generator.why}), ${load.shape.connections} ` +
        `connections, ${load.shape.warmupS} s warm-up + ${load.shape.durationS} s measured per ` +
        `scenario, ${load.shape.rounds} round(s), median round shown. Everything on 127.0.0.1, ` +
        "load generator, gateway and upstream sharing the same cores.",
      "",
      "| scenario | requests/s | p50 | p90 | p99 | errors | non-2xx |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const key of SCENARIO_KEYS) {
      const run = load.scenarios[key];
      lines.push(
        `| (${key}) ${SCENARIO_LABELS[key]} | ${run.rps.toFixed(0)} | ${ms(run.p50Ms)} | ` +
          `${ms(run.p90Ms)} | ${ms(run.p99Ms)} | ${run.errors} | ${run.non2xx} |`,
      );
    }
    const memory = load.gatewayMemory;
    lines.push(
      "",
      "| §11 target | measured | |",
      "|---|---:|:-:|",
      `| decision API ≥ 60 % of bare (b/a) | ${pct(ratios.decisionShare)} | ${
        mark(ratios.pass.decisionShare)
      } |`,
      `| decision API p99 ≤ 2 ms | ${ms(ratios.decisionP99Ms)} | ${
        mark(ratios.pass.decisionP99)
      } |`,
      `| proxied tools/call ≥ 40 % of direct (d/c) | ${pct(ratios.proxyShare)} | ${
        mark(ratios.pass.proxyShare)
      } |`,
      `| added p50 (d − c) ≤ 0.5 ms | ${ms(ratios.addedP50Ms)} | ${mark(ratios.pass.addedP50)} |`,
      "",
      `References, not targets: a Deno proxy with no logic at all (e) reaches ${
        pct(ratios.plainProxyShare)
      } of direct (e/c), the ceiling for (d) on this machine, and the gateway's proxy ` +
        `${pct(ratios.proxyOfPlain)} of it (d/e); the least an audited decision costs (f) ` +
        `leaves ${pct(ratios.minimumShare)} of bare (f/a), a practical ceiling for (b), and the ` +
        `decision API reaches ${pct(ratios.decisionOfMinimum)} of it (b/f).`,
      "",
      `Gateway RSS after the loads: ${
        memory ? `${memory.rssMb.toFixed(1)} MB (peak ${memory.peakMb.toFixed(1)} MB)` : "n/a"
      }. Audit file: ${load.audit.lines} lines, ${load.audit.toolcalls} tool-call events for ` +
        `${load.audit.answered} answered calls, hash chain ${
          load.audit.chainOk ? "verified" : "BROKEN"
        } ${mark(load.audit.ok)}.`,
    );
    if (load.rounds.length > 1) {
      lines.push("", "Rounds (requests/s a / b / c / d / e / f → b/a, d/c, e/c, f/a):", "");
      for (const [i, round] of load.rounds.entries()) {
        const r = computeRatios(round);
        lines.push(
          `${i + 1}. ${SCENARIO_KEYS.map((key) => round[key].rps.toFixed(0)).join(" / ")} → ${
            pct(r.decisionShare)
          }, ${pct(r.proxyShare)}, ${pct(r.plainProxyShare)}, ${pct(r.minimumShare)}`,
        );
      }
    }
  }
  if (report.openLoop) lines.push("", ...renderOpenLoop(report.openLoop));
  const { memory } = report;
  if (memory) {
    lines.push(
      "",
      "| limiter memory | |",
      "|---|---:|",
      `| distinct sessions tracked | ${memory.sizeTracked.toLocaleString("en-US")} |`,
      `| RSS before → with all tracked${memory.gc ? " (after gc)" : ""} | ${
        memory.rssBeforeMb.toFixed(1)
      } → ${memory.rssTrackedMb.toFixed(1)} MB ${mark(memory.rssTrackedMb <= TARGETS.memoryMb)} |`,
      `| per session | ${memory.bytesPerSession.toFixed(0)} B |`,
      `| entries after idle expiry | ${memory.sizeAfterExpiry} (${memory.sweepCalls} sweeps, longest ${
        memory.longestSweepMs.toFixed(1)
      } ms) |`,
      `| RSS / V8 heap after expiry${memory.gc ? " and gc" : ""} | ${
        memory.rssAfterExpiryMb.toFixed(1)
      } MB / ${memory.heapAfterExpiryMb.toFixed(1)} MB |`,
    );
  }
  return lines.join("\n") + "\n";
}

function renderOpenLoop(open: OpenLoopReport): string[] {
  const lines = [
    `Open loop (fixed rate, latency from each request's intended send time, so stalls are not ` +
    `hidden): ${open.connections} connections, ${open.warmupS} s warm-up + ${open.durationS} s ` +
    "measured per load.",
    "",
    "| rate | scenario | answered/s | p50 | p90 | p99 | p99.9 | max | errors | non-2xx |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const rate of open.rates) {
    for (const key of OPEN_LOOP_KEYS) {
      const run = open.runs[String(rate)]?.[key];
      if (!run) continue;
      lines.push(
        `| ${rate}/s | (${key}) | ${run.achievedRps.toFixed(0)} | ${ms(run.p50Ms)} | ` +
          `${ms(run.p90Ms)} | ${ms(run.p99Ms)} | ${ms(run.p999Ms)} | ${ms(run.maxMs)} | ` +
          `${run.errors} | ${run.non2xx} |`,
      );
    }
  }
  lines.push(
    "",
    "| rate | added by | p50 | p90 | p99 | p99.9 | target (at 1,000/s) |",
    "|---:|---|---:|---:|---:|---:|:-:|",
  );
  for (const rate of open.rates) {
    const runs = open.runs[String(rate)];
    if (!runs?.a || !runs.b || !runs.c || !runs.d) continue;
    const rows: [string, AddedLatency, { p50Ms: number; p99Ms: number } | null][] = [
      ["decision API (b − a)", addedLatency(runs.b, runs.a), TAIL_TARGETS.decision],
      ["proxy (d − c)", addedLatency(runs.d, runs.c), TAIL_TARGETS.proxy],
    ];
    // The references show what the same runtime adds doing the least each door must do.
    if (runs.f) {
      rows.push(["reference: least audited decision (f − a)", addedLatency(runs.f, runs.a), null]);
    }
    if (runs.e) {
      rows.push(["reference: zero-logic proxy (e − c)", addedLatency(runs.e, runs.c), null]);
    }
    for (const [label, added, target] of rows) {
      const verdict = rate === TAIL_TARGETS.rate && target !== null
        ? `≤ ${target.p50Ms} / ≤ ${target.p99Ms} ms ${
          mark(added.p50Ms <= target.p50Ms && added.p99Ms <= target.p99Ms)
        }`
        : "";
      lines.push(
        `| ${rate}/s | ${label} | ${ms(added.p50Ms)} | ${ms(added.p90Ms)} | ${ms(added.p99Ms)} | ` +
          `${ms(added.p999Ms)} | ${verdict} |`,
      );
    }
  }
  return lines;
}

/** Replaces the text between the bench markers of a Markdown document (appends them if absent). */
export function replaceGenerated(document: string, generated: string): string {
  const begin = "<!-- bench:begin (written by deno task bench) -->";
  const end = "<!-- bench:end -->";
  const block = `${begin}\n${generated}${end}`;
  const from = document.indexOf(begin);
  const to = document.indexOf(end);
  if (from === -1 || to === -1 || to < from) return `${document.trimEnd()}\n\n${block}\n`;
  return document.slice(0, from) + block + document.slice(to + end.length);
}
