/** Dashboard (§10): its pure helpers, then the page in a real Chromium against a real gateway. */
import { expect } from "expect";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import {
  bucketSize,
  createStore,
  latencySeries,
  matchesFilters,
  normalizeFilters,
  percentile,
  sinceParam,
  tally,
} from "../../static/store.js";
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from "../harness.ts";
import { CHROMIUM, CHROMIUM_LAUNCH } from "./browser.ts";

const XSS_IMG = "<img src=x onerror=alert(1)>";
const XSS_SCRIPT = "<script>window.__pwned=1</script>";
const SECRET = "sk-live-do-not-show-4242";
const SHOTS = new URL("./screenshots", import.meta.url);

type Ev = Record<string, unknown>;
const ev = (id: string, at: string, extra: Ev = {}): Ev => ({
  event_id: id,
  timestamp: at,
  event: "toolcall",
  status: "allowed",
  reason_code: "ok",
  latency_ms: 1,
  ...extra,
});

Deno.test("store keeps the newest events once each, in time order, up to its cap", () => {
  const store = createStore(3);
  const added = store.add([ev("a", "2026-01-01T00:00:01Z"), ev("b", "2026-01-01T00:00:03Z")]);
  expect(added.length).toBe(2);
  expect(store.add([ev("a", "2026-01-01T00:00:01Z")]).length).toBe(0);
  store.add([ev("c", "2026-01-01T00:00:02Z"), ev("d", "2026-01-01T00:00:04Z")]);
  expect(store.entries().map((e: { event: Ev }) => e.event.event_id)).toEqual(["d", "b", "c"]);
  expect(store.has("a")).toBe(false);
  expect(store.newest()).toBe(Date.parse("2026-01-01T00:00:04Z"));
  expect(sinceParam(store.newest(), 2000)).toBe("2026-01-01T00:00:02.000Z");
  expect(sinceParam(null, 2000)).toBeNull();
});

Deno.test("filters match status exactly and text fields as case-insensitive substrings", () => {
  const store = createStore();
  store.add([
    ev("1", "2026-01-01T00:00:01Z", {
      model_id: "gpt-4o",
      tool_name: "db.write",
      payload: { q: "Weather" },
    }),
    ev("2", "2026-01-01T00:00:02Z", { model_id: "claude-3", status: "blocked", session_id: "S-9" }),
  ]);
  const ids = (raw: Ev) =>
    store.entries().filter((e: unknown) => matchesFilters(e, normalizeFilters(raw)))
      .map((e: { event: Ev }) => e.event.event_id);
  expect(ids({ status: "all" })).toEqual(["2", "1"]);
  expect(ids({ status: "blocked" })).toEqual(["2"]);
  expect(ids({ model: "GPT" })).toEqual(["1"]);
  expect(ids({ tool: "db." })).toEqual(["1"]);
  expect(ids({ session: "s-9" })).toEqual(["2"]);
  expect(ids({ text: "weather" })).toEqual(["1"]);
});

Deno.test("tally counts statuses per model and tool, and refusal reasons", () => {
  const store = createStore();
  store.add([
    ev("1", "2026-01-01T00:00:01Z", { model_id: "m", tool_name: "t" }),
    ev("2", "2026-01-01T00:00:02Z", {
      model_id: "m",
      tool_name: "t",
      status: "blocked",
      reason_code: "tool_denied",
    }),
    ev("3", "2026-01-01T00:00:03Z", {
      model_id: "n",
      tool_name: "t",
      status: "error",
      reason_code: "bad_request",
    }),
    ev("4", "2026-01-01T00:00:04Z", { event: "policy_reload", model_id: null, tool_name: null }),
  ]);
  const counts = tally(store.entries());
  expect(counts.totals).toEqual({ allowed: 1, blocked: 1, error: 1, total: 3, other: 1 }); // a reload is no call
  expect(counts.models).toEqual([
    { name: "m", allowed: 1, blocked: 1, error: 0, total: 2 },
    { name: "n", allowed: 0, blocked: 0, error: 1, total: 1 },
  ]);
  expect(counts.tools).toEqual([{ name: "t", allowed: 1, blocked: 1, error: 1, total: 3 }]);
  expect(counts.reasons).toEqual([{ code: "bad_request", count: 1 }, {
    code: "tool_denied",
    count: 1,
  }]);
});

Deno.test("latency series: nearest-rank p50/p95 per aligned bucket, gaps kept, reloads ignored", () => {
  expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
  expect(percentile([1, 2, 3, 4], 0.95)).toBe(4);
  expect(percentile([], 0.5)).toBeNull();
  expect(bucketSize(0, 29 * 60e3, 30)).toBe(60e3);
  expect(bucketSize(0, 31 * 60e3, 30)).toBe(120e3);
  const store = createStore();
  store.add([
    ev("1", "2026-01-01T10:00:05Z", { latency_ms: 1 }),
    ev("2", "2026-01-01T10:00:50Z", { latency_ms: 9 }),
    ev("3", "2026-01-01T10:02:10Z", { latency_ms: 4 }),
    ev("4", "2026-01-01T10:01:00Z", { event: "policy_reload", latency_ms: 500 }),
  ]);
  const series = latencySeries(store.entries(), 3);
  expect(series.sizeMs).toBe(60e3);
  expect(series.buckets.map((b: Ev) => [b.count, b.p50, b.p95])).toEqual([
    [2, 1, 9],
    [0, null, null],
    [1, 4, 4],
  ]);
});

/** Everything the page did wrong: console errors, page errors, dialogs, CSP, foreign requests. */
interface Watched {
  page: Page;
  problems: string[];
  /** Paths whose "Failed to load resource" console line is expected (a deliberate 4xx). */
  expectedFailures: Set<string>;
}

async function watch(context: BrowserContext, origin: string): Promise<Watched> {
  const problems: string[] = [];
  const expectedFailures = new Set<string>();
  await context.exposeBinding("__cspViolation", (_source, text: unknown) => {
    problems.push(`CSP violation: ${String(text)}`);
  });
  await context.addInitScript(
    `document.addEventListener("securitypolicyviolation", (e) =>
      window.__cspViolation(e.violatedDirective + " " + e.blockedURI));`,
  );
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const url = message.location().url;
    if (url.startsWith(origin) && expectedFailures.has(new URL(url).pathname)) return;
    problems.push(`console error: ${message.text()} (${url})`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on("request", (request) => {
    if (new URL(request.url()).origin !== origin) {
      problems.push(`foreign request: ${request.url()}`);
    }
  });
  return { page, problems, expectedFailures };
}

/** Answers GET /upstreams and POST /pins/approve in the browser (the §5 shape), recording approvals. */
async function mockUpstreams(context: BrowserContext, origin: string, approvals: unknown[]) {
  await context.route(`${origin}/upstreams`, (route) =>
    route.fulfill({
      json: {
        upstreams: [{
          name: "files",
          kind: "stdio",
          prefix: "fs",
          status: "up",
          tools: [
            { name: "fs.read_file", pin_state: "pinned", hash: "ab".repeat(32) },
            { name: "fs.write_file", pin_state: "changed", hash: "cd".repeat(32) },
            { name: XSS_IMG, pin_state: "new", hash: "ef".repeat(32) },
          ],
        }],
      },
    }));
  await context.route(`${origin}/pins/approve`, (route) => {
    approvals.push(route.request().postDataJSON());
    return route.fulfill({ json: { approved: true, tool: "fs.write_file" } });
  });
}

function call(gw: TestGateway, model: string, session: string, tool: string, input: Ev = {}) {
  return gw.post("/mcp/toolcall", { model_id: model, session_id: session, tool_name: tool, input });
}

/** Waits until the event table's text contains `text` (the page polls on its own). */
async function rowShown(page: Page, text: string, timeout = 5000): Promise<void> {
  await page.waitForFunction(
    (t) =>
      (globalThis as unknown as {
        document: { getElementById(id: string): { textContent: string } };
      })
        .document.getElementById("events-body").textContent.includes(t),
    text,
    { timeout },
  );
}

const cells = (page: Page, selector: string): Promise<string[]> =>
  page.locator(selector).allTextContents();

/** Reads a counter table into {name: [allowed, blocked, error]}. */
async function counter(page: Page, id: string): Promise<Record<string, number[]>> {
  const rows = await page.locator(`#${id} tr`).evaluateAll((trs) =>
    trs.map((tr) =>
      [...(tr as unknown as { cells: { textContent: string }[] }).cells]
        .map((td) => td.textContent)
    )
  );
  return Object.fromEntries(
    rows.filter((r) => r.length === 4).map((
      r,
    ) => [r[0], [Number(r[1]), Number(r[2]), Number(r[3])]]),
  );
}

function expectedCounter(events: Ev[], key: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const event of events) {
    if (event[key] === null) continue;
    const row = out[String(event[key])] ??= [0, 0, 0];
    row[["allowed", "blocked", "error"].indexOf(String(event.status))]++;
  }
  return out;
}

const POLICY = `
defaults:
  timezone: "UTC"
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*"]
    deny_tools: ["db.write*"]
    max_calls_per_session: 50
    active_hours: "08:00-18:00"
  - model: "claude-*"
    allow_tools: ["calendar.*", "search.*", "db.read*"]
    deny_tools: ["db.write*", "db.delete*"]
    rate_limit:
      per_session: "60/minute"
upstreams:
  files:
    url: "http://127.0.0.1:9/mcp"
    prefix: "fs"
`;

async function hasChromium(): Promise<boolean> {
  try {
    return (await Deno.stat(CHROMIUM)).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "dashboard in Chromium: live table, pause, filters, counters, details, policy, no XSS",
  // Playwright keeps its pipe to the browser process open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  if (!(await hasChromium())) {
    console.log(
      `SKIPPED dashboard browser test: ${CHROMIUM} not found (apt-get install -y chromium)`,
    );
    return;
  }
  const gw = await startTestGateway({ policy: POLICY });
  const browser = await chromium.launch(CHROMIUM_LAUNCH);
  const origin = new URL(gw.url).origin;
  await Deno.mkdir(SHOTS, { recursive: true });
  try {
    await call(gw, "gpt-4o", XSS_SCRIPT, "calendar.create_event", {
      title: XSS_IMG,
      api_key: SECRET,
    });
    await call(gw, "claude-3-opus", XSS_IMG, "db.write_rows", { sql: XSS_SCRIPT });
    gw.clock.advance(1500);
    await call(gw, "gpt-4o", "s-1", "search.web", { q: "weather in Lyon" });
    await call(gw, "gpt-4o", "s-1", "db.write_rows", {});
    await call(gw, "mistral-large", "s-2", "search.web", {});
    await call(gw, "claude-3-opus", "s-3", "bad tool!", {});

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const { page, problems, expectedFailures } = await watch(context, origin);
    const approvals: unknown[] = [];
    await mockUpstreams(context, origin, approvals);

    await t.step(
      "sign-in link sets the cookie; hostile values render as literal text",
      async () => {
        const response = await page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);
        expect(response?.status()).toBe(200);
        expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe("/dash");
        await rowShown(page, XSS_SCRIPT);
        expect(await cells(page, "#events-body td.col-session")).toEqual(
          expect.arrayContaining([XSS_SCRIPT, XSS_IMG]),
        );
        await page.locator("#upstreams-body", { hasText: XSS_IMG }).waitFor();
        const dom = await page.evaluate(`({
        img: document.querySelectorAll("img[src=x], img[onerror]").length,
        scripts: [...document.scripts].map((s) => s.getAttribute("src")),
        pwned: typeof window.__pwned,
      })`);
        expect(dom).toEqual({ img: 0, scripts: ["/dash/dash.js"], pwned: "undefined" });
      },
    );

    await t.step("new events appear within 5 s without a reload", async () => {
      await call(gw, "gpt-4o", "live-session-1", "calendar.list_events", {});
      const started = performance.now();
      await rowShown(page, "live-session-1", 5000);
      expect(performance.now() - started).toBeLessThan(5000);
    });

    await t.step("Pause holds new events back until Resume", async () => {
      await page.getByRole("button", { name: "Pause", exact: true }).click();
      await page.getByRole("button", { name: "Resume", exact: true }).waitFor();
      await call(gw, "claude-3-opus", "paused-session", "search.web", {});
      await page.locator("#pending", { hasText: "1 new event waiting" }).waitFor({ timeout: 5000 });
      expect(await page.locator("#events-body").textContent()).not.toContain("paused-session");
      await page.getByRole("button", { name: "Resume", exact: true }).click();
      await rowShown(page, "paused-session", 1000);
      await page.getByRole("button", { name: "Pause", exact: true }).waitFor();
    });

    const logs = await gw.logs();
    await t.step("filters narrow the table; counters match the audit", async () => {
      await page.waitForFunction(
        (n) =>
          (globalThis as unknown as {
            document: { querySelectorAll(s: string): { length: number } };
          })
            .document.querySelectorAll("#events-body tr").length === n,
        logs.length,
      );
      expect(await counter(page, "by-model")).toEqual(expectedCounter(logs, "model_id"));
      expect(await counter(page, "by-tool")).toEqual(expectedCounter(logs, "tool_name"));
      expect((await counter(page, "by-model"))["gpt-4o"]).toEqual([3, 1, 0]);
      const reasons = await page.locator("#reasons tr").evaluateAll((trs) =>
        trs.map((tr) => (tr as unknown as { textContent: string }).textContent)
      );
      expect(reasons).toEqual(expect.arrayContaining(["tool_denied2", "no_matching_rule1"]));
      expect(await page.locator("#latency svg circle").count()).toBeGreaterThan(0);

      const status = page.getByLabel("Status", { exact: true });
      expect(await status.locator("option").allTextContents()).toEqual([
        "all",
        "allowed",
        "blocked",
        "error",
        "flagged by scanning",
      ]);
      await status.selectOption("blocked");
      const blocked = logs.filter((e) => e.status === "blocked").length;
      expect(await cells(page, "#events-body td.col-status")).toEqual(
        Array(blocked).fill("blocked"),
      );
      await status.selectOption("all");
      await page.getByLabel("Model", { exact: true }).fill("claude");
      const models = await cells(page, "#events-body td.col-model");
      expect(models.length).toBe(logs.filter((e) => String(e.model_id).includes("claude")).length);
      expect(models.every((m) => m === "claude-3-opus")).toBe(true);
      expect(Object.keys(await counter(page, "by-model"))).toEqual(["claude-3-opus"]);
      await page.getByLabel("Tool", { exact: true }).fill("db.");
      expect(await cells(page, "#events-body td.col-tool")).toEqual(["db.write_rows"]);
      await page.getByRole("button", { name: "Clear", exact: true }).click();
      await page.getByLabel("Session", { exact: true }).fill("s-1");
      expect((await cells(page, "#events-body td.col-session")).length).toBe(2);
      await page.getByRole("button", { name: "Clear", exact: true }).click();
      await page.getByLabel("Search", { exact: true }).fill("lyon");
      expect(await cells(page, "#events-body td.col-tool")).toEqual(["search.web"]);
      await page.getByRole("button", { name: "Clear", exact: true }).click();
    });

    await t.step("a row opens the full event with its redacted payload", async () => {
      const event = logs.find((e) => e.session_id === XSS_SCRIPT)!;
      await page.locator("#events-body tr", { hasText: XSS_SCRIPT }).click();
      const dialog = page.locator("dialog#details[open]");
      await dialog.waitFor();
      const text = (await dialog.textContent())!;
      for (const field of ["event_id", "payload_sha256", "prev_hash", "hash", "policy_version"]) {
        expect(text).toContain(String(event[field]));
      }
      expect(await dialog.locator("pre").textContent()).toBe(
        JSON.stringify(event.payload, null, 2),
      );
      expect(text).toContain("[REDACTED]");
      expect(text).toContain(XSS_IMG);
      expect(await page.content()).not.toContain(SECRET);
      await page.screenshot({ path: new URL("dashboard_details.png", SHOTS).pathname });
      await dialog.getByRole("button", { name: "Close" }).click();
      await dialog.waitFor({ state: "detached" });
    });

    await t.step("upstreams panel: pins shown, Approve posts the tool", async () => {
      const approve = page.getByRole("button", { name: "Approve", exact: true });
      expect(await approve.count()).toBe(1);
      await approve.click();
      await page.locator("#upstreams-result", { hasText: "Approved fs.write_file." }).waitFor();
      expect(approvals).toEqual([{ tool: "fs.write_file" }]);
    });

    await t.step("policy panel shows the version; Reload now shows the errors", async () => {
      const health = await (await fetch(gw.url + "/healthz", {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      })).json();
      expect(await page.locator("#policy-facts").textContent()).toContain(health.policy_version);
      expect(await page.locator("#h-policy").textContent()).toBe(health.policy_version);
      expect(await page.locator("#h-identity").textContent()).toContain("open identity mode");
      expect(await cells(page, "#rules-body tr td:nth-child(2)")).toEqual(["gpt-4*", "claude-*"]);
      await page.evaluate("window.scrollTo(0, 0)");
      await page.screenshot({ path: new URL("dashboard_1280.png", SHOTS).pathname });
      await Deno.writeTextFile(
        gw.policyPath,
        `rules:\n  - model: "gpt-4*"\n    allow_tool: ["x"]\n`,
      );
      expectedFailures.add("/reload"); // the browser logs every 4xx answer it receives
      await page.getByRole("button", { name: "Reload now", exact: true }).click();
      await page.locator("#reload-result .reload-failed li").first().waitFor();
      const policy = await (await fetch(gw.url + "/policy", {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      })).json();
      expect(policy.last_reload.ok).toBe(false);
      expect(await cells(page, "#reload-result li")).toEqual(policy.last_reload.errors);
      await page.locator("#last-reload li").first().waitFor();
      expect(await cells(page, "#last-reload li")).toEqual(policy.last_reload.errors);
      expect(await page.locator("#policy-facts").textContent()).toContain(health.policy_version);
      expectedFailures.delete("/reload");
    });

    await t.step("phone width: no page overflow, the table scrolls in its box", async () => {
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
      await mockUpstreams(phone, origin, []);
      const watched = await watch(phone, origin);
      await watched.page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);
      await rowShown(watched.page, "live-session-1");
      const widths = await watched.page.evaluate(`({
        page: document.documentElement.scrollWidth,
        box: document.getElementById("table-box").clientWidth,
        table: document.getElementById("table-box").scrollWidth,
      })`) as { page: number; box: number; table: number };
      expect(widths.page).toBeLessThanOrEqual(392);
      expect(widths.table).toBeGreaterThan(widths.box);
      await watched.page.screenshot({ path: new URL("dashboard_390.png", SHOTS).pathname });
      expect(watched.problems).toEqual([]);
      await phone.close();
    });

    expect(problems).toEqual([]);
    await context.close();

    await t.step("without a cookie: sign-in form, no data; an expired cookie says so", async () => {
      const anonymous = await browser.newContext();
      const page = await anonymous.newPage();
      const requested: string[] = [];
      page.on("request", (request) => requested.push(new URL(request.url()).pathname));
      const response = await page.goto(`${gw.url}/dash`);
      expect(response?.status()).toBe(401);
      await page.getByLabel("Admin token").waitFor();
      const html = await page.content();
      for (const value of ["live-session-1", "paused-session", "gpt-4o", "s-1"]) {
        expect(html).not.toContain(value);
      }
      expect(requested.filter((path) => path === "/logs" || path === "/policy")).toEqual([]);
      await page.getByLabel("Admin token").fill(TEST_ADMIN_TOKEN);
      await page.getByRole("button", { name: "Sign in" }).click();
      await rowShown(page, "live-session-1");
      await anonymous.clearCookies();
      const link = page.getByRole("link", { name: "Signed out — sign in again" });
      await link.waitFor({ timeout: 5000 });
      expect(await link.getAttribute("href")).toBe("/dash");
      await anonymous.close();
    });

    await t.step("the watcher does catch a CSP violation (the checks above can fail)", async () => {
      const scratch = await browser.newContext();
      const watched = await watch(scratch, origin);
      await watched.page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);
      await watched.page.evaluate(`document.head.append(Object.assign(
        document.createElement("script"), { textContent: "window.__pwned = 1" }))`);
      await watched.page.waitForFunction(`true`);
      expect(await watched.page.evaluate(`typeof window.__pwned`)).toBe("undefined");
      expect(watched.problems.some((p) => p.startsWith("CSP violation: script-src"))).toBe(true);
      await scratch.close();
    });
  } finally {
    await browser.close();
    await gw.close();
  }
});

const DEMO_POLICY = `
defaults:
  timezone: "UTC"
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*"]
    deny_tools: ["db.write*"]
    max_calls_per_session: 12
    active_hours: "08:00-18:00"
  - model: "claude-*"
    allow_tools: ["calendar.*", "search.*", "db.read*"]
    deny_tools: ["db.write*", "db.delete*"]
    rate_limit:
      per_model: "600/minute"
      per_session: "6/minute"
  - model: "mistral-*"
    allow_tools: ["search.*"]
    max_calls_per_session: 100
`;

const DEMO_SCHEMA = {
  type: "object",
  required: ["title", "start"],
  properties: { title: { type: "string", maxLength: 80 }, start: { type: "string" } },
  additionalProperties: false,
};

const DEMO_CALLS: [string, Ev][] = [
  ["calendar.create_event", { title: "Quarterly review", start: "2026-11-26T09:00:00Z" }],
  ["calendar.create_event", { title: 42, start: "tomorrow", attendees: ["ops"] }],
  ["calendar.list_events", { day: "2026-11-26" }],
  ["search.web", { q: "MCP security best practices" }],
  ["search.docs", { q: "rate limit headers", api_key: "sk-demo-not-shown" }],
  ["db.read_rows", { table: "orders", limit: 50 }],
  ["db.write_rows", { table: "orders", rows: [{ id: 7, total: 129.5 }] }],
  ["db.delete_rows", { table: "audit", where: "1=1" }],
];

Deno.test({
  name: "dashboard screenshot for the README: a realistic mix of allowed and blocked calls",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  if (!(await hasChromium())) {
    console.log(
      `SKIPPED dashboard browser test: ${CHROMIUM} not found (apt-get install -y chromium)`,
    );
    return;
  }
  const gw = await startTestGateway({
    policy: DEMO_POLICY,
    schemas: { "calendar.create_event.json": DEMO_SCHEMA },
  });
  gw.clock.set(Date.parse("2026-11-25T17:38:00Z"));
  const models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4", "mistral-large"];
  let seed = 20261125;
  const next = (n: number) => { // xorshift32: the same "random" mix on every run
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const browser = await chromium.launch(CHROMIUM_LAUNCH);
  try {
    for (let i = 0; i < 200; i++) {
      const [tool, input] = DEMO_CALLS[next(DEMO_CALLS.length)];
      const session = `sess-${(0x7f3a9c21 + next(7) * 0x1111).toString(16)}`;
      await call(gw, models[next(models.length)], session, tool, input);
      gw.clock.advance(3000 + next(9000));
    }
    const events = await gw.logs();
    for (const scheme of ["light", "dark"] as const) {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        colorScheme: scheme,
      });
      const { page, problems } = await watch(context, new URL(gw.url).origin);
      await page.goto(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`);
      await page.waitForFunction(
        (n) =>
          (globalThis as unknown as {
            document: { querySelectorAll(s: string): { length: number } };
          })
            .document.querySelectorAll("#events-body tr").length === n,
        events.length,
      );
      await page.locator("#rules-body tr").first().waitFor();
      expect(await page.locator("#upstreams-body").textContent()).toBe("No upstreams configured");
      expect(await page.locator("#latency svg polyline").count()).toBe(2);
      expect(await page.content()).not.toContain("sk-demo-not-shown");
      const shot = new URL(`dashboard_docs_${scheme}.png`, SHOTS).pathname;
      await page.screenshot({ path: shot });
      expect(problems).toEqual([]);
      await context.close();
      const docs = new URL("../../docs/dashboard.png", import.meta.url).pathname;
      if (scheme === "light" && (Deno.env.get("UPDATE_DOCS_SCREENSHOT") || !(await exists(docs)))) {
        await Deno.copyFile(shot, docs);
      }
    }
  } finally {
    await browser.close();
    await gw.close();
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
