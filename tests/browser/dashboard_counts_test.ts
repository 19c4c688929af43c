/**
 * Dashboard counts that do not lie (issue 16): in real Chromium, against a real gateway proxying a
 * real MCP server, with pin, session and reload events in the log, the header counters and the
 * per-model / per-tool panels count decisions on tool calls only.
 */
import { expect } from "expect";
import { chromium, type Page } from "playwright-core";
import { createStore, isCallDecision, tally } from "../../static/store.js";
import { stdioFixtureCommand } from "../fixtures/stdio_server.ts";
import { startTestGateway, TEST_ADMIN_TOKEN } from "../harness.ts";
import { connectClient } from "../mcp_client.ts";
import { CHROMIUM, CHROMIUM_LAUNCH, hasChromium } from "./browser.ts";
import { type DashboardEvent, dashboardEvent } from "./dashboard_events.ts";

const HAS_CHROMIUM = hasChromium();
if (!HAS_CHROMIUM) {
  console.log(`IGNORED dashboard counts in Chromium: ${CHROMIUM} not found`);
}

type Ev = DashboardEvent;
const ev = dashboardEvent;

Deno.test("tally counts call decisions only; pins, sessions, reloads and forwarded lines apart", () => {
  const store = createStore();
  store.add([
    ev("1"),
    ev("2", { status: "blocked", reason_code: "tool_denied", tool_name: "x" }),
    ev("3", { event: "toolresult", status: "error", reason_code: "output_invalid" }),
    ev("p1", { event: "pin_change", tool_name: "x", model_id: null }),
    ev("p2", { event: "pin_change", tool_name: "t", model_id: null }),
    ev("s1", { event: "mcp_session", tool_name: null }),
    ev("r1", { event: "policy_reload", tool_name: null, model_id: null }),
    ev("a1", { event: "auth_failure", status: "blocked", reason_code: "unauthenticated" }),
    ev("f1", { status: "forwarded", reason_code: "ok" }),
  ]);
  const counts = tally(store.entries());
  expect(counts.totals).toEqual({ allowed: 1, blocked: 1, error: 1, total: 3, other: 6 });
  expect(counts.tools).toEqual([
    { name: "t", allowed: 1, blocked: 0, error: 1, total: 2 },
    { name: "x", allowed: 0, blocked: 1, error: 0, total: 1 },
  ]);
  expect(counts.models).toEqual([{ name: "m", allowed: 1, blocked: 1, error: 1, total: 3 }]);
  expect(counts.reasons).toEqual([
    { code: "output_invalid", count: 1 },
    { code: "tool_denied", count: 1 },
  ]);
  expect(counts.others).toEqual([
    { event: "pin_change", count: 2 },
    { event: "auth_failure", count: 1 },
    { event: "mcp_session", count: 1 },
    { event: "policy_reload", count: 1 },
    { event: "toolcall (forwarded)", count: 1 },
  ]);
});

Deno.test("a call's closing line replaces its forwarded line, whichever order they come in", () => {
  const store = createStore();
  store.add([ev("c", { status: "forwarded" })]);
  expect(tally(store.entries()).totals).toMatchObject({ allowed: 0, other: 1 });
  const added = store.add([ev("c", { timestamp: "2026-01-01T00:00:02Z" })]);
  expect(added.length).toBe(1);
  expect(store.entries().map((e: { event: Ev }) => e.event.status)).toEqual(["allowed"]);
  expect(tally(store.entries()).totals).toMatchObject({ allowed: 1, other: 0 });
  expect(store.add([ev("c", { status: "forwarded" })]).length).toBe(0); // a late repeat
  const both = createStore();
  both.add([ev("d", { status: "forwarded" }), ev("d", { status: "blocked" })]);
  expect(both.entries().map((e: { event: Ev }) => e.event.status)).toEqual(["blocked"]);
});

const POLICY = `
defaults:
  timezone: UTC
rules:
  - model: "*"
    allow_tools: ["local.*", "search.*"]
    deny_tools: ["local.crash"]
upstreams:
  local:
    command: ${JSON.stringify(stdioFixtureCommand())}
`;

/** Reads a counter table into {name: [allowed, blocked, error]}. */
async function counter(page: Page, id: string): Promise<Record<string, number[]>> {
  const rows = await page.locator(`#${id} tr`).evaluateAll((trs) =>
    trs.map((tr) =>
      [...(tr as unknown as { cells: { textContent: string }[] }).cells].map((td) => td.textContent)
    )
  );
  return Object.fromEntries(
    rows.filter((r) => r.length === 4).map((
      r,
    ) => [r[0], [Number(r[1]), Number(r[2]), Number(r[3])]]),
  );
}

Deno.test({
  name:
    "dashboard in Chromium: counters equal the call decisions with pin and session events present",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const gw = await startTestGateway({ policy: POLICY });
    const agent = await connectClient(gw.url, { "x-model-id": "claude-3" });
    const browser = await chromium.launch(CHROMIUM_LAUNCH);
    try {
      await agent.client.listTools(); // pins every tool: a pin_change line each
      for (const text of ["one", "two", "three"]) {
        const result = await agent.client.callTool({ name: "local.echo", arguments: { text } });
        expect(result.isError).toBeFalsy();
      }
      const denied = await agent.client.callTool({ name: "local.crash", arguments: {} });
      expect(denied.isError).toBe(true);
      const api = await gw.post("/mcp/toolcall", {
        model_id: "gpt-4o",
        session_id: "api-1",
        tool_name: "search.web",
        input: {},
      });
      expect(api.status).toBe(200);

      const logs = await gw.logs();
      // The noise is really there: pins, a session and the start-up reload.
      expect(logs.map((event) => event.event)).toEqual(
        expect.arrayContaining(["pin_change", "mcp_session", "policy_reload", "toolcall"]),
      );
      const calls = logs.filter((event) => isCallDecision(event));
      const count = (status: string) => calls.filter((event) => event.status === status).length;
      expect([count("allowed"), count("blocked"), count("error")]).toEqual([4, 1, 0]);
      const closedIds = new Set(calls.map((event) => event.event_id));
      const rows = logs.filter((event) =>
        !(event.status === "forwarded" && closedIds.has(event.event_id))
      ).length;
      const others = logs.length - calls.length -
        logs.filter((event) => event.status === "forwarded" && closedIds.has(event.event_id))
          .length;

      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);
      await page.waitForFunction(
        (n) =>
          (globalThis as unknown as {
            document: { querySelectorAll(s: string): { length: number } };
          }).document.querySelectorAll("#events-body tr").length === n,
        rows,
        { timeout: 10_000 },
      );
      const totals = (await page.locator("#totals").textContent())?.replace(/\s+/g, " ").trim();
      expect(totals).toBe(`4 allowed1 blocked0 error${others} other events`);
      const title = await page.locator("#totals .total-other").getAttribute("title");
      expect(title).toContain("pin_change");
      expect(title).toContain("mcp_session");
      expect(await counter(page, "by-tool")).toEqual({
        "local.echo": [3, 0, 0],
        "local.crash": [0, 1, 0],
        "search.web": [1, 0, 0],
      });
      expect(await counter(page, "by-model")).toEqual({
        "claude-3": [3, 1, 0],
        "gpt-4o": [1, 0, 0],
      });
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await browser.close();
      await agent.close();
      await gw.close();
    }
  },
});

Deno.test("a call whose tool reported isError counts as allowed, and its tool_error code is listed", () => {
  const store = createStore();
  store.add([ev("1"), ev("2", { reason_code: "tool_error" })]);
  const counts = tally(store.entries());
  expect(counts.totals).toEqual({ allowed: 2, blocked: 0, error: 0, total: 2, other: 0 });
  expect(counts.reasons).toEqual([{ code: "tool_error", count: 1 }]);
});
