/** Command-line options of `deno task bench`. Pure. */
import type { Generator } from "./load.ts";

/** Everything one bench run is told. */
export interface BenchOptions {
  /** A few seconds in all: tiny loads and a small memory probe (`--smoke` or BENCH_SMOKE=1). */
  readonly smoke: boolean;
  /** Only the limiter memory benchmark (`--memory`). */
  readonly memoryOnly: boolean;
  /** Open connections per load. */
  readonly connections: number;
  /** Measured seconds per load (wrk rounds up to whole seconds). */
  readonly durationS: number;
  /** Unmeasured warm-up seconds before each load. */
  readonly warmupS: number;
  /** Rounds of the four loads; each scenario reports its median round. */
  readonly rounds: number;
  /** Distinct sessions pushed through the limiter by the memory benchmark. */
  readonly memorySessions: number;
  /** Force a load generator (default: wrk when installed, else the Deno fallback). */
  readonly loadgen?: Generator;
  /** Where `latest.json`/`latest.md` (or `smoke.*`) go. */
  readonly outDir: string;
  /** Rewrite the table in docs/BENCHMARKS.md (full runs only, unless `--no-doc`). */
  readonly writeDoc: boolean;
  /** Run the gateway under `--cpu-prof` and keep the profiles in this directory. */
  readonly cpuProfDir?: string;
  /** More V8 flags for the gateway only (`--gateway-v8-flags=--trace-gc,…`). */
  readonly gatewayV8Flags?: string;
  /** Append the gateway's whole stdout and stderr to this file (for `--trace-gc` output). */
  readonly gatewayLog?: string;
  /** Fixed rates (requests/s) of the open-loop loads; empty = none. */
  readonly rates: readonly number[];
  /** Only the open-loop loads (`--open-loop`): no saturated rounds, no memory probe. */
  readonly openLoopOnly: boolean;
  /** The gateway's `HTTP_SERVER` (`--http-server deno|builtin`); unset = its default. */
  readonly httpServer?: "deno" | "builtin";
}

/** Usage text. */
export const BENCH_USAGE = `usage: deno task bench [--smoke] [--memory] [--duration S] [--warmup S]
  [--connections N] [--rounds N] [--sessions N] [--loadgen wrk|deno] [--out DIR] [--no-doc]
  [--cpu-prof DIR] [--open-loop] [--rates R1,R2,…] [--gateway-v8-flags F1,F2]
  [--gateway-log FILE] [--http-server deno|builtin]`;

function positive(name: string, text: string | undefined, integer: boolean): number {
  const value = Number(text);
  if (
    text === undefined || !Number.isFinite(value) || value <= 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw new Error(`Cannot parse ${name}: expected a positive ${integer ? "integer" : "number"}`);
  }
  return value;
}

/** Parses argv (and BENCH_SMOKE); throws `Error` with a usage hint on anything unknown. */
export function parseBenchOptions(
  args: readonly string[],
  env: { readonly BENCH_SMOKE?: string },
): BenchOptions {
  const smoke = args.includes("--smoke") || (env.BENCH_SMOKE ?? "") === "1";
  let options: BenchOptions = {
    smoke,
    memoryOnly: false,
    connections: 32,
    durationS: smoke ? 1 : 10,
    warmupS: smoke ? 0 : 3,
    rounds: smoke ? 1 : 3,
    memorySessions: smoke ? 20_000 : 1_000_000,
    outDir: "bench/results",
    writeDoc: !smoke,
    rates: smoke ? [200] : [200, 1000, 5000],
    openLoopOnly: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => args[++i];
    switch (arg) {
      case "--smoke":
        break;
      case "--memory":
        options = { ...options, memoryOnly: true };
        break;
      case "--duration":
        options = { ...options, durationS: positive(arg, value(), false) };
        break;
      case "--warmup": {
        const text = value();
        const warmupS = Number(text);
        if (text === undefined || !Number.isFinite(warmupS) || warmupS < 0) {
          throw new Error("Cannot parse --warmup: expected a number ≥ 0");
        }
        options = { ...options, warmupS };
        break;
      }
      case "--connections":
        options = { ...options, connections: positive(arg, value(), true) };
        break;
      case "--rounds":
        options = { ...options, rounds: positive(arg, value(), true) };
        break;
      case "--sessions":
        options = { ...options, memorySessions: positive(arg, value(), true) };
        break;
      case "--loadgen": {
        const generator = value();
        if (generator !== "wrk" && generator !== "deno") {
          throw new Error("Cannot parse --loadgen: expected wrk or deno");
        }
        options = { ...options, loadgen: generator };
        break;
      }
      case "--out": {
        const dir = value();
        if (!dir) throw new Error("Cannot parse --out: expected a directory");
        options = { ...options, outDir: dir, writeDoc: false };
        break;
      }
      case "--no-doc":
        options = { ...options, writeDoc: false };
        break;
      case "--cpu-prof": {
        const dir = value();
        if (!dir) throw new Error("Cannot parse --cpu-prof: expected a directory");
        options = { ...options, cpuProfDir: dir };
        break;
      }
      case "--gateway-v8-flags": {
        const flags = value();
        if (!flags || !/^--[\w-]+(=[\w.-]+)?(,--[\w-]+(=[\w.-]+)?)*$/.test(flags)) {
          throw new Error("Cannot parse --gateway-v8-flags: expected --flag[=value],… (V8 flags)");
        }
        options = { ...options, gatewayV8Flags: flags };
        break;
      }
      case "--gateway-log": {
        const file = value();
        if (!file) throw new Error("Cannot parse --gateway-log: expected a file");
        options = { ...options, gatewayLog: file };
        break;
      }
      case "--http-server": {
        const server = value();
        if (server !== "deno" && server !== "builtin") {
          throw new Error("Cannot parse --http-server: expected deno or builtin");
        }
        options = { ...options, httpServer: server };
        break;
      }
      case "--open-loop":
        options = { ...options, openLoopOnly: true };
        break;
      case "--rates": {
        const text = value() ?? "";
        const rates = text.split(",").map((part) => positive(arg, part.trim(), true));
        options = { ...options, rates };
        break;
      }
      default:
        throw new Error(`Unknown option "${arg.slice(0, 40)}"\n${BENCH_USAGE}`);
    }
  }
  if (options.smoke) options = { ...options, writeDoc: false };
  return options;
}
