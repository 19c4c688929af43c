/**
 * Result scanning on the dashboard (SPEC §15): flagged, redacted and withheld results carry a
 * "scan" badge, the "flagged by scanning" filter finds them, their codes are listed among the
 * reasons, and nothing an upstream sent is rendered as HTML. Store logic in Deno; the page in real
 * Chromium against a real gateway and a hostile stdio upstream.
 */
import { expect } from "expect";
import { chromium } from "playwright-core";
import { matchesFilters, normalizeFilters, tally } from "../../static/store.js";
import { poisonedFixtureCommand } from "../fixtures/poisoned_server.ts";
import { startTestGateway, TEST_ADMIN_TOKEN } from "../harness.ts";
import { connectClient } from "../mcp_client.ts";
import { CHROMIUM, CHROMIUM_LAUNCH, hasChromium } from "./browser.ts";
import { dashboardEvent } from "./dashboard_events.ts";

const HAS_CHROMIUM = hasChromium();
if (!HAS_CHROMIUM) console.log(`dashboard_scan_test: ${CHROMIUM} missing, the browser test skips`);

const ev = dashboardEvent;

Deno.test("store: the scanned filter keeps scan codes only; tally lists flagged codes of allowed results", () => {
  const events = [
    ev("1"),
    ev("2", { reason_code: "result_injection" }),
    ev("3", { reason_code: "result_secret", status: "blocked" }),
    ev("4", { event: "pin_change", reason_code: "tool_poisoning", status: "blocked" }),
  ];
  const filters = normalizeFilters({
    status: "scanned",
    model: "",
    tool: "",
    session: "",
    text: "",
  });
  const kept = events.filter((event) => matchesFilters({ event, haystack: null }, filters));
  expect(kept.map((e) => e.event_id)).toEqual(["2", "3", "4"]);
  const counts = tally(events.map((event) => ({ event })));
  expect(counts.totals.allowed).toBe(2);
  expect(counts.reasons).toEqual(
    expect.arrayContaining([
      { code: "result_injection", count: 1 },
      { code: "result_secret", count: 1 },
    ]),
  );
});

const POLICY = `
rules:
  - model: "m"
    allow_tools: ["bad.*"]
upstreams:
  bad:
    command: ${JSON.stringify(poisonedFixtureCommand())}
`;

Deno.test({
  name:
    "dashboard in Chromium: flagged results carry a scan badge, the filter finds them, no HTML runs",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const gw = await startTestGateway({ policy: POLICY });
    const agent = await connectClient(gw.url, { "x-model-id": "m" });
    const browser = await chromium.launch(CHROMIUM_LAUNCH);
    try {
      await agent.client.callTool({ name: "bad.fetch_page", arguments: { url: "<img src=x>" } });
      await agent.client.callTool({ name: "bad.read_env", arguments: {} });
      await agent.client.callTool({ name: "bad.weather", arguments: {} });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      let dialogs = 0;
      page.on("dialog", (dialog) => {
        dialogs++;
        void dialog.dismiss();
      });
      await page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);
      await page.locator("#events-body .tag.scan").first().waitFor({ timeout: 10_000 });
      await page.getByLabel("Status", { exact: true }).selectOption("scanned");
      await page.waitForFunction(
        () =>
          (globalThis as unknown as {
            document: { querySelectorAll(s: string): { length: number } };
          }).document.querySelectorAll("#events-body tr").length === 3,
        undefined,
        {
          timeout: 10_000,
        },
      );
      const codes = await page.locator("#events-body .col-reason .code").allTextContents();
      // The poisoned `add` tool's description was scanned when the catalog was read (pin_change).
      expect(codes.sort()).toEqual(["result_injection", "result_secret", "tool_poisoning"]);
      expect(await page.locator("#events-body .tag.scan").count()).toBe(3);
      // What the agent sent (an <img> tag as an argument) stays text.
      expect(await page.locator("#events-body img").count()).toBe(0);
      expect([errors, dialogs]).toEqual([[], 0]);
    } finally {
      await browser.close();
      await agent.close();
      await gw.close();
    }
  },
});
