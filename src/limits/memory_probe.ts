// Memory probe for SPEC §11 (not a test; `deno task bench --memory` runs it): tracks N distinct
// sessions through the real limiter, reports RSS, then lets idle expiry sweep them all away and
// reports the size (0) and RSS after a full gc.
//   deno run --v8-flags=--expose-gc src/limits/memory_probe.ts [count] [--json]

import type { Rule } from "../policy/types.ts";
import { createLimiter } from "./limiter.ts";
import { DAY_MS } from "./window.ts";

/** What one probe measured (MiB, milliseconds). */
export interface MemoryProbeResult {
  /** Distinct sessions pushed through the limiter. */
  readonly sessions: number;
  /** True when a full gc ran before each reading (`--v8-flags=--expose-gc`). */
  readonly gc: boolean;
  /** RSS before any session. */
  readonly rssBeforeMb: number;
  /** RSS with every session tracked. */
  readonly rssTrackedMb: number;
  /** V8 heap used with every session tracked. */
  readonly heapTrackedMb: number;
  /** Bytes of RSS per tracked session. */
  readonly bytesPerSession: number;
  /** Entries the limiter held with every session tracked. */
  readonly sizeTracked: number;
  /** Time to track them all. */
  readonly trackMs: number;
  /** Entries left once idle expiry swept (0 when every entry was released). */
  readonly sizeAfterExpiry: number;
  /** Sweep calls it took (each visits at most 10 000 entries). */
  readonly sweepCalls: number;
  /** Longest single sweep call (the pause the gateway's timer would cause). */
  readonly longestSweepMs: number;
  /** RSS after expiry (and gc). */
  readonly rssAfterExpiryMb: number;
  /** V8 heap used after expiry (and gc). */
  readonly heapAfterExpiryMb: number;
}

const anyGlob = { source: "*", test: () => true };
const rule: Rule = {
  index: 0,
  model: anyGlob,
  allowTools: [anyGlob],
  denyTools: [],
  allowPrompts: [],
  denyPrompts: [],
  maxCallsPerSession: 5,
  rateLimit: { perSession: { text: "60/minute", limit: 60, windowMs: 60_000 } },
};

const MB = 1024 * 1024;

/** Tracks `count` distinct sessions (UUIDs, as most MCP clients send), then expires them. */
export function probeLimiterMemory(count: number): MemoryProbeResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  const usage = () => {
    gc?.();
    gc?.();
    return Deno.memoryUsage();
  };
  const limiter = createLimiter();
  const before = usage();
  let now = Date.now();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const result = limiter.take({
      rule,
      agentId: null,
      modelId: "gpt-4o",
      sessionId: crypto.randomUUID(),
      now: now++,
    });
    if (!result.ok) throw new Error("Cannot run memory probe: a fresh session was refused");
  }
  const trackMs = performance.now() - started;
  const tracked = usage();
  const sizeTracked = limiter.size();

  // A day later every entry is idle; the gateway's timer sweeps in batches like this.
  now += DAY_MS;
  let sweepCalls = 0;
  let longestSweepMs = 0;
  while (limiter.size() > 0 && sweepCalls < count + 1) {
    const t = performance.now();
    limiter.sweep(now);
    longestSweepMs = Math.max(longestSweepMs, performance.now() - t);
    sweepCalls++;
  }
  const after = usage();
  return {
    sessions: count,
    gc: gc !== undefined,
    rssBeforeMb: before.rss / MB,
    rssTrackedMb: tracked.rss / MB,
    heapTrackedMb: tracked.heapUsed / MB,
    bytesPerSession: (tracked.rss - before.rss) / count,
    sizeTracked,
    trackMs,
    sizeAfterExpiry: limiter.size(),
    sweepCalls,
    longestSweepMs,
    rssAfterExpiryMb: after.rss / MB,
    heapAfterExpiryMb: after.heapUsed / MB,
  };
}

if (import.meta.main) {
  const count = Number(Deno.args.find((arg) => !arg.startsWith("--")) ?? 1_000_000);
  if (!Number.isSafeInteger(count) || count < 1) {
    console.error("Cannot run memory probe: count must be a positive integer");
    Deno.exit(2);
  }
  const result = probeLimiterMemory(count);
  if (Deno.args.includes("--json")) {
    console.log(JSON.stringify(result));
  } else {
    const mb = (value: number) => `${value.toFixed(1)} MB`;
    console.log(`gc available: ${result.gc}`);
    console.log(`rss before: ${mb(result.rssBeforeMb)}`);
    console.log(
      `sessions tracked: ${result.sizeTracked} in ${result.trackMs.toFixed(0)} ms, rss ${
        mb(result.rssTrackedMb)
      } (heap ${mb(result.heapTrackedMb)}, ${result.bytesPerSession.toFixed(0)} B/session)`,
    );
    console.log(
      `after idle expiry: size ${result.sizeAfterExpiry}, ${result.sweepCalls} sweep calls, ` +
        `longest ${result.longestSweepMs.toFixed(1)} ms, rss ${mb(result.rssAfterExpiryMb)} ` +
        `(heap ${mb(result.heapAfterExpiryMb)})`,
    );
  }
}
