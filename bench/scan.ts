// Result scanning (SPEC §15) in isolation: what one scan costs on a typical tool result, and how
// long body-limit-sized (1 MiB) hostile inputs take — texts made of the detectors' own trigger
// words repeated, the worst case for bounded-repeat patterns. Wall time on this machine, median of
// a few runs; linear time itself is proven by construction (src/scan/detectors_test.ts).
//   deno run --v8-flags=--enable-experimental-regexp-engine bench/scan.ts
import { compileScrubber } from "../src/audit/event/scrub.ts";
import { compileResultScanner } from "../src/scan/scan.ts";

const scanner = compileResultScanner(compileScrubber(["bench-upstream-credential-1234"]));
const ALL = { secrets: true, redact: true, injection: true };
const MIB = 1024 * 1024;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(run: () => void, times: number): number {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    run();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

const typical = {
  content: [{
    type: "text",
    text: "Found 3 events on 2026-12-04: stand-up at 09:30 (room 4), design review at 14:00 " +
      "with Ana and Luis, and the release retro at 16:30. No conflicts. " +
      "Next free slot: 11:00-12:00.",
  }],
  structuredContent: { count: 3, events: ["stand-up", "design review", "retro"] },
};
const perCall = 20_000;
const started = performance.now();
for (let i = 0; i < perCall; i++) scanner.scan(typical, ALL);
const typicalUs = (performance.now() - started) * 1000 / perCall;
console.log(`typical tool result (~250 bytes): ${typicalUs.toFixed(1)} µs per scan`);

const prose = "The quarterly report shows steady growth across all regions and products. ";
const hostile: Record<string, string> = {
  "plain prose": prose,
  "override words": "ignore all previous the your prior ",
  "send + nouns": "send the the the data data to to ",
  "you must call": "you must now call the x ",
  "style attributes": "style='display:nonx ",
  "html comments": "<!-- <!-- ",
  "image links": "![a](http://e.x/p?q=",
  "zero-width": "a\u200B",
  "token shapes": "ghp_ AKIA sk- xoxb- AIza password=",
  "pem headers": "-----BEGIN -----BEGIN RSA PRIVATE KEY---",
};
for (const [name, unit] of Object.entries(hostile)) {
  const text = unit.repeat(Math.ceil(MIB / unit.length)).slice(0, MIB);
  const ms = time(() => scanner.scan({ content: [{ type: "text", text }] }, ALL), 5);
  console.log(`1 MiB ${name}: ${ms.toFixed(1)} ms (${(1000 / ms).toFixed(1)} MiB/s)`);
}
