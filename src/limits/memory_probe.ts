// Memory probe for SPEC §11 (not a test): tracks N distinct sessions through the limiter and
// prints RSS before and after, then sweeps them all away.
//   deno run src/limits/memory_probe.ts [count]
//   deno run --v8-flags=--expose-gc src/limits/memory_probe.ts [count]   (RSS after a full gc)

import type { Rule } from "../policy/types.ts";
import { createLimiter } from "./limiter.ts";
import { DAY_MS } from "./window.ts";

const count = Number(Deno.args[0] ?? 1_000_000);
if (!Number.isSafeInteger(count) || count < 1) {
  console.error("Cannot run memory probe: count must be a positive integer");
  Deno.exit(2);
}

const anyGlob = { source: "*", test: () => true };
const rule: Rule = {
  index: 0,
  model: anyGlob,
  allowTools: [anyGlob],
  denyTools: [],
  maxCallsPerSession: 5,
  rateLimit: { perSession: { text: "60/minute", limit: 60, windowMs: 60_000 } },
};

const gc = (globalThis as { gc?: () => void }).gc;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const rss = (): number => {
  gc?.();
  const m = Deno.memoryUsage();
  console.log(
    `  (heapTotal ${mb(m.heapTotal)}, heapUsed ${mb(m.heapUsed)}, external ${mb(m.external)})`,
  );
  return m.rss;
};

const limiter = createLimiter();
const before = rss();
console.log(`gc available: ${gc !== undefined}`);
console.log(`rss before: ${mb(before)}`);

let now = Date.now();
const started = performance.now();
for (let i = 0; i < count; i++) {
  // Realistic session ids: UUIDs, as most MCP clients send.
  const result = limiter.take({
    rule,
    agentId: null,
    modelId: "gpt-4o",
    sessionId: crypto.randomUUID(),
    now: now++,
  });
  if (!result.ok) throw new Error("Cannot run memory probe: a fresh session was refused");
}
const elapsed = performance.now() - started;
const after = rss();
console.log(`sessions tracked: ${limiter.size()} in ${elapsed.toFixed(0)} ms`);
console.log(
  `rss after: ${mb(after)} (+${mb(after - before)}, ${
    ((after - before) / count).toFixed(0)
  } B/session)`,
);

now += DAY_MS;
const sweepStarted = performance.now();
let calls = 0;
let longest = 0;
while (limiter.size() > 0 && calls < count) {
  const t = performance.now();
  limiter.sweep(now);
  longest = Math.max(longest, performance.now() - t);
  calls++;
}
const swept = performance.now() - sweepStarted;
console.log(
  `after sweep: size ${limiter.size()}, ${calls} sweep calls, ${swept.toFixed(0)} ms total, ` +
    `longest call ${longest.toFixed(1)} ms`,
);
console.log(`rss after sweep${gc ? " and gc" : ""}: ${mb(rss())}`);
