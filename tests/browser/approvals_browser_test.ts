/**
 * Human approval in a real Chromium (§15, §10, §12): a call held through the proxy appears on the
 * dashboard with its redacted input (escaped), the Approve button releases it and the waiting SDK
 * client gets the result; Deny refuses the next one; a page on another origin riding the admin's
 * cookie cannot decide anything. Skips with a reason when Chromium is absent.
 */
import { expect } from "expect";
import { chromium, type Page } from "playwright-core";
import { createStore } from "../../static/store.js";
import { connectClient } from "../mcp_client.ts";
import { startFixtureHttpServer } from "../fixtures/http_server.ts";
import { eventually, startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from "../harness.ts";
import { CHROMIUM, CHROMIUM_LAUNCH } from "./browser.ts";

const XSS = `<img src=x onerror="document.title='pwned'">`;
const SECRET = "sk-live-0123456789abcdefSECRET";

Deno.test("dashboard store: a held call's pending, forwarded and closing lines are one row", () => {
  const line = (status: string, at: string) => ({
    event_id: "e1",
    event: "toolcall",
    status,
    timestamp: at,
  });
  const store = createStore();
  store.add([line("pending", "2026-01-01T00:00:01Z")]);
  expect(store.entries().map((entry) => entry.event.status)).toEqual(["pending"]);
  store.add([line("forwarded", "2026-01-01T00:00:09Z")]);
  expect(store.entries().map((entry) => entry.event.status)).toEqual(["forwarded"]);
  store.add([line("allowed", "2026-01-01T00:00:10Z"), line("pending", "2026-01-01T00:00:01Z")]);
  expect(store.entries().map((entry) => entry.event.status)).toEqual(["allowed"]);
});

async function hasChromium(): Promise<boolean> {
  try {
    return (await Deno.stat(CHROMIUM)).isFile;
  } catch {
    return false;
  }
}

async function pendingIds(gw: TestGateway): Promise<string[]> {
  const response = await fetch(`${gw.url}/approvals`, {
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  });
  const body = await response.json();
  return (body.approvals as { approval_id: string }[]).map((item) => item.approval_id);
}

async function heldId(gw: TestGateway): Promise<string> {
  let ids: string[] = [];
  await eventually(async () => (ids = await pendingIds(gw)).length === 1, "a held call", 20_000);
  return ids[0];
}

/** The card of one held call on the page (shown within the dashboard's 2 s refresh). */
async function cardOf(page: Page, id: string) {
  const card = page.locator(`li.approval[data-approval-id="${id}"]`);
  await card.waitFor({ state: "visible", timeout: 15_000 });
  return card;
}

Deno.test({
  name: "approvals in Chromium: held call shown, Approve releases the SDK client, Deny refuses",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  if (!(await hasChromium())) {
    console.log(
      `SKIPPED approvals browser test: ${CHROMIUM} not found (apt-get install -y chromium)`,
    );
    return;
  }
  const upstream = startFixtureHttpServer();
  const gw = await startTestGateway({
    policy: `rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*"]
    require_approval: ["calendar.echo"]
upstreams:
  calendar:
    url: "${upstream.url}"
`,
  });
  const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
  const browser = await chromium.launch(CHROMIUM_LAUNCH);
  // The attacker's page, on another origin of the same site (127.0.0.1, another port).
  const attacker = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const target = new URL(request.url).searchParams.get("target") ?? "";
    return new Response(
      `<!doctype html><title>cats</title><script>
const body = '{"decision":"approve","note":"csrf"}';
const settle = (p) => p.then(() => "sent", () => "failed");
Promise.all([
  settle(fetch(${JSON.stringify(target)}, {method: "POST", mode: "no-cors", credentials: "include",
    headers: {"content-type": "text/plain"}, body})),
  settle(fetch(${JSON.stringify(target)}, {method: "POST", credentials: "include",
    headers: {"content-type": "application/json"}, body})),
]).then((outcomes) => { document.title = "done " + outcomes.join(","); });
</script>`,
      { headers: { "content-type": "text/html" } },
    );
  });
  const problems: string[] = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const origin = new URL(gw.url).origin;
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("request", (request) => {
      if (new URL(request.url()).origin !== origin) problems.push(`foreign: ${request.url()}`);
    });
    await page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);

    // 1. Held, shown, approved from the page: the waiting SDK client gets its result.
    const first = agent.client.callTool({
      name: "calendar.echo",
      arguments: { text: XSS, api_key: SECRET },
    });
    first.catch(() => {}); // awaited below; not unhandled if the test fails first
    const id = await heldId(gw);
    const card = await cardOf(page, id);
    const input = await card.locator(".approval-input").textContent();
    expect(input).toContain(JSON.stringify(XSS).slice(1, -1)); // shown as text, not markup
    expect(input).not.toContain(SECRET);
    expect(await card.locator("img").count()).toBe(0);
    expect(await card.textContent()).toContain("gpt-4o");

    // 2. A page on another origin with the admin's cookie cannot approve it (§12).
    const evil = await context.newPage();
    await evil.goto(
      `http://127.0.0.1:${attacker.addr.port}/?target=${
        encodeURIComponent(`${gw.url}/approvals/${id}`)
      }`,
    );
    await evil.waitForFunction('document.title.startsWith("done")', undefined, {
      timeout: 15_000,
    });
    await evil.close();
    expect(await pendingIds(gw)).toEqual([id]);

    await card.locator(".approval-note").fill("checked with the owner");
    await card.getByRole("button", { name: "Approve" }).click();
    const result = await first;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ text: XSS });
    await card.waitFor({ state: "detached", timeout: 15_000 });

    // 3. Deny from the page: the next call is refused.
    const second = agent.client.callTool({ name: "calendar.echo", arguments: { text: "two" } });
    second.catch(() => {});
    const id2 = await heldId(gw);
    const card2 = await cardOf(page, id2);
    await card2.getByRole("button", { name: "Deny" }).click();
    const denied = await second;
    expect(denied.isError).toBe(true);
    const meta = denied._meta as Record<string, { reason_code: string }>;
    expect(meta["mcp-sec-gateway/decision"].reason_code).toBe("approval_denied");

    // Who decided and why is audited; the cross-origin attempt left no decision.
    const decisions = await gw.logs("&event=approval");
    expect(decisions.map((line) => [line.status, line.reason_code])).toEqual([
      ["allowed", "ok"],
      ["blocked", "approval_denied"],
    ]);
    expect(decisions[0].reason as string).toContain(
      "approved by admin (dashboard) (approval " + id + '): "checked with the owner"',
    );
    expect(await page.title()).not.toBe("pwned");
    expect(problems).toEqual([]);
    await context.close();
  } finally {
    await browser.close();
    await attacker.shutdown();
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});
