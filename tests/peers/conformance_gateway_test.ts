/** The official MCP conformance suite, run through the gateway against the conformance fixture
 * exposed with `prefix: ""`, compared with the same suite run against the fixture directly. */
import { expect } from "expect";
import {
  CONFORMANCE_UNAVAILABLE,
  type ConformanceReport,
  formatConformanceTable,
  runConformance,
} from "./conformance.ts";
import { startConformanceServer } from "../fixtures/conformance_server.ts";
import { startTestGateway } from "../harness.ts";

/** Server scenarios that a tools gateway must pass (issue: MCP proxy). */
const TOOL_SCENARIOS = [
  "server-initialize",
  "ping",
  "tools-list",
  "tools-call-simple-text",
  "tools-call-image",
  "tools-call-audio",
  "tools-call-embedded-resource",
  "tools-call-mixed-content",
  "tools-call-with-logging",
  "tools-call-error",
  "tools-call-with-progress",
  "json-schema-2020-12",
  "server-sse-multiple-streams",
  "dns-rebinding-protection",
];

Deno.test("conformance: the tool scenarios pass through the gateway", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
upstreams:
  conformance:
    url: "${upstream.url}"
    prefix: ""
`,
  });
  let report: ConformanceReport;
  try {
    report = await runConformance(gw.url + "/mcp", { scenarios: TOOL_SCENARIOS });
  } catch (error) {
    if (error instanceof Error && error.message.startsWith(CONFORMANCE_UNAVAILABLE)) {
      console.log(`SKIPPED conformance through the gateway: ${error.message}`);
      return;
    }
    throw error;
  } finally {
    await gw.close();
    await upstream.close();
  }
  console.log(formatConformanceTable(report));
  expect(report.scenarios.map((s) => s.name).sort()).toEqual([...TOOL_SCENARIOS].sort());
  expect(report.scenarios.filter((s) => !s.passed)).toEqual([]);
});

Deno.test("conformance: every server scenario passes through the gateway as it does directly", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
    allow_resources: ["*"]
upstreams:
  conformance:
    url: "${upstream.url}"
    prefix: ""
`,
  });
  let direct: ConformanceReport;
  let through: ConformanceReport;
  let audited: Record<string, unknown>[];
  try {
    direct = await runConformance(upstream.url, { suite: "all" });
    through = await runConformance(gw.url + "/mcp", { suite: "all" });
    audited = await gw.logs();
  } catch (error) {
    if (error instanceof Error && error.message.startsWith(CONFORMANCE_UNAVAILABLE)) {
      console.log(`SKIPPED conformance through the gateway: ${error.message}`);
      return;
    }
    throw error;
  } finally {
    await gw.close();
    await upstream.close();
  }
  console.log("through the gateway:\n" + formatConformanceTable(through));
  const passed = (report: ConformanceReport) =>
    report.scenarios.filter((s) => s.passed).map((s) => s.name).sort();
  expect(through.scenarios.length).toBeGreaterThanOrEqual(30);
  expect(passed(through)).toEqual(passed(direct));
  expect(through.scenarios.filter((s) => !s.passed)).toEqual([]);
  // the gateway still enforced and audited the suite's tool calls and the upstream's requests
  const events = (name: string) => audited.filter((e) => e.event === name);
  expect(events("toolcall").length).toBeGreaterThanOrEqual(10);
  const closing = events("toolcall").filter((e) => e.status !== "forwarded");
  expect(closing.every((e) => typeof e.upstream_ms === "number")).toBe(true);
  // every closing line has its write-ahead line (§12)
  const ahead = new Set(
    events("toolcall").filter((e) => e.status === "forwarded").map((e) => e.event_id),
  );
  expect(closing.every((e) => ahead.has(e.event_id))).toBe(true);
  expect(events("mcp_request").map((e) => (e.payload as { method: string }).method)).toEqual(
    expect.arrayContaining(["sampling/createMessage", "elicitation/create"]),
  );
});
