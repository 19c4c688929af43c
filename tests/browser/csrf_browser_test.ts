/**
 * CSRF on the admin endpoints (§12), attacked from a real Chromium: the admin signs in on the
 * gateway (cookie set), then opens a page served on another 127.0.0.1 port — same site as far as
 * `SameSite=Strict` is concerned, so the cookie goes along — that auto-submits forms and fires
 * credentialed fetches at `POST /reload`. None of them may reload; the dashboard's own button
 * still does.
 */
import { expect } from "expect";
import { chromium, type Response as PlaywrightResponse } from "playwright-core";
import { startTestGateway, TEST_ADMIN_TOKEN } from "../harness.ts";
import { CHROMIUM, CHROMIUM_LAUNCH } from "./browser.ts";

const POLICY =
  `defaults:\n  timezone: UTC\nrules:\n  - model: "gpt-4*"\n    allow_tools: ["calendar.*"]\n`;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** The attacker's page: two auto-submitted forms and two credentialed fetches at `target`. */
function attackPage(target: string): string {
  return `<!doctype html><html><head><title>cute cats</title></head><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="urlencoded" method="POST" action="${target}" target="sink1">
  <input name="reload" value="now"></form>
<form id="plain" method="POST" action="${target}" target="sink2" enctype="text/plain">
  <input name='{"a":"' value='"}'></form>
<script>
  document.getElementById("urlencoded").submit();
  document.getElementById("plain").submit();
  const settle = (p) => p.then(() => "sent", () => "failed");
  Promise.all([
    settle(fetch(${JSON.stringify(target)}, {
      method: "POST", mode: "no-cors", credentials: "include",
      headers: { "content-type": "text/plain" }, body: "{}",
    })),
    settle(fetch(${JSON.stringify(target)}, {
      method: "POST", credentials: "include",
      headers: { "content-type": "application/json" }, body: "{}",
    })),
  ]).then((outcomes) => { document.title = "done " + outcomes.join(","); });
</script></body></html>`;
}

async function hasChromium(): Promise<boolean> {
  try {
    return (await Deno.stat(CHROMIUM)).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "CSRF in Chromium: a page on another 127.0.0.1 port cannot reload with the admin cookie",
  // Playwright keeps its pipe to the browser process open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  if (!(await hasChromium())) {
    console.log(`SKIPPED CSRF browser test: ${CHROMIUM} not found (apt-get install -y chromium)`);
    return;
  }
  const gw = await startTestGateway({ policy: POLICY });
  const evil = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response(attackPage(`${gw.url}/reload`), {
        headers: { "content-type": "text/html; charset=utf-8" },
      }),
  );
  const evilUrl = `http://127.0.0.1:${evil.addr.port}/`;
  const browser = await chromium.launch(CHROMIUM_LAUNCH);
  try {
    const health = async () => await (await fetch(gw.url + "/healthz", { headers: admin })).json();
    // Reloads after start-up (the start-up load may be audited as a policy_reload too).
    const reloads = async () =>
      (await gw.logs("&event=policy_reload")).filter((e) => !String(e.reason).includes("start-up"));
    const before = (await health()).policy_version;
    // The file on disk changes: any reload that gets through would put this version in force.
    await Deno.writeTextFile(gw.policyPath, POLICY.replace('["calendar.*"]', '["search.*"]'));

    const context = await browser.newContext();
    const page = await context.newPage();
    const signIn = await page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);
    expect(signIn?.status()).toBe(200);
    const cookies = await context.cookies(gw.url);
    expect(cookies.map((c) => c.name)).toContain("mcpsec_admin");

    // Every POST the attack page gets through to /reload, with the status it was answered.
    const answered: { status: number; sentCookie: boolean }[] = [];
    const collect = async (response: PlaywrightResponse) => {
      const request = response.request();
      if (request.method() !== "POST" || !request.url().startsWith(`${gw.url}/reload`)) return;
      const headers = await request.allHeaders();
      answered.push({ status: response.status(), sentCookie: "cookie" in headers });
    };
    page.on("response", collect);
    await page.goto(evilUrl);
    await page.waitForFunction('document.title.startsWith("done")', undefined, {
      timeout: 10_000,
    });
    // Both form posts and the no-cors fetch reach the gateway (the JSON fetch dies at preflight).
    const deadline = performance.now() + 5000;
    while (answered.length < 3 && performance.now() < deadline) {
      await page.waitForEvent("response", { timeout: deadline - performance.now() }).catch(
        () => {},
      );
    }
    page.off("response", collect);
    expect(answered.length).toBeGreaterThanOrEqual(3);
    // The browser did send the admin cookie (same site): only the gateway's checks stand between.
    expect(answered.some((a) => a.sentCookie)).toBe(true);
    expect(answered.filter((a) => a.status !== 403 && a.status !== 415)).toEqual([]);
    expect((await health()).policy_version).toBe(before);
    expect(await reloads()).toEqual([]);

    // The dashboard's own button still reloads (same origin, JSON).
    await page.goto(`${gw.url}/dash`);
    await page.getByRole("button", { name: "Reload now", exact: true }).click();
    await page.locator("#reload-result .reload-ok").waitFor({ timeout: 5000 });
    expect((await health()).policy_version).not.toBe(before);
    expect((await reloads()).map((e) => e.status)).toEqual(["allowed"]);
    await context.close();
  } finally {
    await browser.close();
    await evil.shutdown();
    await gw.close();
  }
});
