import { expect } from "expect";
import { createMetrics } from "./metrics.ts";

Deno.test("metrics count decisions by labels and fill the latency histogram", () => {
  const metrics = createMetrics();
  const sample = {
    status: "blocked",
    reasonCode: "tool_denied",
    modelId: "gpt-4o",
    toolName: "db.write",
    latencyMs: 0.4,
  };
  metrics.observe(sample);
  metrics.observe(sample);
  metrics.observe({ ...sample, status: "allowed", reasonCode: "ok", latencyMs: 3 });
  metrics.upstreamError("calendar");
  const text = metrics.render();
  expect(text).toContain(
    'mcpsec_decisions_total{status="blocked",reason_code="tool_denied",model="gpt-4o",tool="db.write"} 2',
  );
  expect(text).toContain('mcpsec_decision_latency_ms_bucket{le="0.5"} 2');
  expect(text).toContain('mcpsec_decision_latency_ms_bucket{le="5"} 3');
  expect(text).toContain("mcpsec_decision_latency_ms_count 3");
  expect(text).toContain('mcpsec_upstream_errors_total{upstream="calendar"} 1');
});

Deno.test("metrics escape labels and cap the number of series", () => {
  const metrics = createMetrics();
  metrics.observe({
    status: "error",
    reasonCode: "bad_request",
    modelId: 'a"b\\c\nd',
    toolName: null,
    latencyMs: 1,
  });
  expect(metrics.render()).toContain('model="a\\"b\\\\c\\nd",tool=""');
  for (let i = 0; i < 6000; i++) {
    metrics.observe({
      status: "allowed",
      reasonCode: "ok",
      modelId: `m${i}`,
      toolName: "t",
      latencyMs: 1,
    });
  }
  const series = metrics.render().split("\n").filter((line) =>
    line.startsWith("mcpsec_decisions_total{")
  );
  expect(series.length).toBeLessThanOrEqual(5001);
  expect(series.some((line) => line.includes('model="other"'))).toBe(true);
});

Deno.test("metrics: a credential-shaped model id never becomes a label (§12)", () => {
  const metrics = createMetrics();
  metrics.observe({
    status: "allowed",
    reasonCode: "ok",
    modelId: "Bearer abcdef1234567890",
    toolName: "search.web",
    latencyMs: 1,
  });
  const text = metrics.render();
  expect(text).not.toContain("abcdef1234567890");
  expect(text).toContain('model="Bearer [REDACTED]"');
});
