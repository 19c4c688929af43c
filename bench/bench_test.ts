// The benchmark's pure parts: options, wrk script and output, ratios, the document block.
import { expect } from "expect";
import { bodyFor, parseWrkOutput, quantile, RESULT_MARKER, wrkScript } from "./load_spec.ts";
import { parseBenchOptions } from "./options.ts";
import { computeRatios, medianRound, replaceGenerated } from "./report.ts";
import type { LoadRun } from "./load.ts";

Deno.test("bench options: defaults, smoke, and refusals", () => {
  const full = parseBenchOptions([], {});
  expect([full.connections, full.rounds, full.memorySessions, full.writeDoc]).toEqual([
    32,
    3,
    1_000_000,
    true,
  ]);
  const smoke = parseBenchOptions([], { BENCH_SMOKE: "1" });
  expect([smoke.smoke, smoke.writeDoc, smoke.rounds]).toEqual([true, false, 1]);
  expect(parseBenchOptions(["--out", "x"], {}).writeDoc).toBe(false);
  expect(() => parseBenchOptions(["--connections", "0"], {})).toThrow("positive integer");
  expect(() => parseBenchOptions(["--loadgen", "ab"], {})).toThrow("wrk or deno");
  expect(() => parseBenchOptions(["--fast"], {})).toThrow('Unknown option "--fast"');
  expect([full.rates, smoke.rates, full.openLoopOnly]).toEqual([[200, 1000, 5000], [200], false]);
  const open = parseBenchOptions(["--open-loop", "--rates", "300, 2000"], {});
  expect([open.openLoopOnly, open.rates]).toEqual([true, [300, 2000]]);
  expect(() => parseBenchOptions(["--rates", "100,x"], {})).toThrow("positive integer");
  const traced = parseBenchOptions(
    ["--gateway-v8-flags", "--trace-gc,--max-semi-space-size=16", "--gateway-log", "g.log"],
    {},
  );
  expect([traced.gatewayV8Flags, traced.gatewayLog]).toEqual([
    "--trace-gc,--max-semi-space-size=16",
    "g.log",
  ]);
  expect(parseBenchOptions(["--http-server", "builtin"], {}).httpServer).toBe("builtin");
  expect(() => parseBenchOptions(["--http-server", "hyper"], {})).toThrow("deno or builtin");
  // Only flags: nothing that could smuggle another argument into the gateway's command line.
  expect(() => parseBenchOptions(["--gateway-v8-flags", "--x,main.ts"], {})).toThrow("V8 flags");
  expect(() => parseBenchOptions(["--gateway-v8-flags", "--x --allow-all"], {})).toThrow();
});

Deno.test("bench load spec: bodies per request, a wrk script, its result line", () => {
  const spec = {
    url: "http://127.0.0.1:1/",
    headers: { "X-A": "]]" },
    body: '{"id":{{id}},"s":"s-{{session}}"}',
    sessions: 10,
  };
  expect(bodyFor(spec, 23)).toBe('{"id":23,"s":"s-3"}');
  const script = wrkScript(spec);
  expect(script).toContain("wrk.headers[ [=[X-A]=] ] = [=[]]]=]");
  expect(script).toContain("(counter % 10)");
  const parsed = parseWrkOutput(
    `noise\n${RESULT_MARKER}{"requests":2000,"duration_us":2000000,"errors":1,"non2xx":2,` +
      `"p50_us":500,"p90_us":900,"p99_us":1500,"mean_us":600.5}\n`,
  );
  expect([parsed.rps, parsed.p50Ms, parsed.p99Ms, parsed.errors, parsed.non2xx]).toEqual([
    1000,
    0.5,
    1.5,
    1,
    2,
  ]);
  expect(() => parseWrkOutput("nothing")).toThrow("no result line");
  expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
  expect(quantile([], 0.99)).toBe(0);
});

Deno.test("bench report: median round, ratios against §11, the generated block", () => {
  const run = (rps: number, p50Ms: number, p99Ms = 1): LoadRun => ({
    generator: "wrk",
    requests: rps,
    seconds: 1,
    rps,
    p50Ms,
    p90Ms: p99Ms,
    p99Ms,
    meanMs: p50Ms,
    errors: 0,
    non2xx: 0,
    sent: rps,
  });
  expect(medianRound([run(3, 1), run(1, 1), run(2, 1)]).rps).toBe(2);
  const ratios = computeRatios({
    a: run(100, 0.3),
    b: run(61, 1, 1.9),
    c: run(100, 0.3),
    d: run(39, 0.7),
    e: run(52, 0.5),
    f: run(80, 0.4),
  });
  expect(ratios.decisionShare).toBeCloseTo(0.61);
  expect(ratios.plainProxyShare).toBeCloseTo(0.52);
  expect(ratios.proxyOfPlain).toBeCloseTo(0.75);
  expect(ratios.minimumShare).toBeCloseTo(0.8);
  expect(ratios.decisionOfMinimum).toBeCloseTo(0.7625);
  expect(ratios.pass).toEqual({
    decisionShare: true,
    decisionP99: true,
    proxyShare: false,
    addedP50: true,
  });
  const first = replaceGenerated("# Benchmarks\n\nprose\n", "table 1\n");
  const second = replaceGenerated(first, "table 2\n");
  expect(second).toContain("prose");
  expect(second).toContain("table 2");
  expect(second).not.toContain("table 1");
});
