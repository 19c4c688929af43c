// CI checks only that `deno task bench` runs (SPEC §11: never a timed unit test): a smoke run of
// every scenario, the audit cross-check and a small memory probe. Its numbers are not asserted.
import { expect } from "expect";
import { join } from "node:path";
import { type BenchReport, SCENARIO_KEYS } from "../bench/report.ts";

const ROOT = new URL("..", import.meta.url);

async function smoke(extra: readonly string[]): Promise<void> {
  const out = await Deno.makeTempDir({ prefix: "mcpsec-bench-smoke-" });
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      // All permissions, as the task: it starts servers and reads /proc, which Deno allows only so.
      args: [
        "run",
        "--allow-all",
        "bench/main.ts",
        "--smoke",
        "--sessions",
        "5000",
        "--out",
        out,
        ...extra,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    if (!run.success) throw new Error(`bench failed (${run.code}):\n${stderr.slice(-2000)}`);
    if (stderr.includes("Deno fallback generator")) {
      console.log("bench smoke: wrk is absent, so the Deno fallback generator was used");
    }
    const report = JSON.parse(await Deno.readTextFile(join(out, "smoke.json"))) as BenchReport;
    expect(report.smoke).toBe(true);
    for (const key of SCENARIO_KEYS) {
      const scenario = report.load!.scenarios[key];
      expect(scenario.rps).toBeGreaterThan(0);
      expect(scenario.errors).toBe(0);
      expect(scenario.non2xx).toBe(0);
    }
    // The open-loop mode ran at its smoke rate for each door and its baseline, every request
    // scheduled in the window was answered, and the audit check above counted its calls too.
    expect(report.openLoop!.rates).toEqual([200]);
    for (const key of ["a", "b", "c", "d"]) {
      const run = report.openLoop!.runs["200"][key];
      expect(run.completed).toBe(run.scheduled);
      expect([run.errors, run.non2xx]).toEqual([0, 0]);
      expect(run.p999Ms).toBeGreaterThanOrEqual(run.p50Ms);
    }
    expect(report.load!.audit.chainOk).toBe(true);
    expect(report.load!.audit.ok).toBe(true);
    expect(report.memory!.sessions).toBe(5000);
    expect(report.memory!.sizeTracked).toBe(5000);
    expect(report.memory!.sizeAfterExpiry).toBe(0);
    const markdown = await Deno.readTextFile(join(out, "smoke.md"));
    expect(markdown).toContain("SMOKE RUN");
    expect(markdown).toContain("| 200/s | proxy (d − c) |");
    expect(markdown).toContain("(d) gateway /mcp tools/call");
    expect(markdown).toContain("(e) reference: zero-logic Deno proxy");
    expect(markdown).toContain("(f) reference: bare handler + the least an audited decision");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("deno task bench --smoke runs every scenario and checks the audit chain", async () => {
  await smoke([]);
});

Deno.test("deno task bench --smoke runs with the Deno fallback load generator", async () => {
  await smoke(["--loadgen", "deno"]);
});
