/** Admin endpoints over real HTTP: auth by bearer and cookie, reload, policy, health, metrics. */
import { expect } from "expect";
import { eventually, startTestGateway, TEST_ADMIN_TOKEN } from "./harness.ts";

const POLICY = `
defaults:
  timezone: "UTC"
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*"]
`;

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
/** `POST /reload` as an admin client sends it: JSON (§12). */
const reload = {
  method: "POST",
  headers: { ...admin, "content-type": "application/json" },
  body: "{}",
};

Deno.test("admin endpoints refuse missing or wrong credentials with 401 Bearer", async () => {
  const gw = await startTestGateway({ policy: POLICY });
  try {
    for (
      const [method, path] of [
        ["GET", "/logs"],
        ["GET", "/metrics"],
        ["GET", "/policy"],
        ["POST", "/reload"],
      ]
    ) {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: "Bearer wrong-token-0123456789" },
        { cookie: "mcpsec_admin=wrong" },
      ];
      for (const headers of attempts) {
        const init: RequestInit = { method, headers };
        if (method === "POST") {
          init.headers = { ...headers, "content-type": "application/json" };
          init.body = "{}";
        }
        const response = await fetch(gw.url + path, init);
        expect({ path, status: response.status }).toEqual({ path, status: 401 });
        expect(response.headers.get("www-authenticate")).toContain("Bearer");
        expect((await response.json()).reason_code).toBe("unauthorized");
      }
    }
  } finally {
    await gw.close();
  }
});

Deno.test("/dash without a credential shows only the sign-in page; ?token= sets the cookie", async () => {
  const gw = await startTestGateway({ policy: POLICY });
  try {
    await gw.post("/mcp/toolcall", {
      model_id: "gpt-4o",
      session_id: "secret-session-xyz",
      tool_name: "calendar.x",
    });
    const anonymous = await fetch(gw.url + "/dash");
    expect(anonymous.status).toBe(401);
    const page = await anonymous.text();
    expect(page).toContain("Admin token");
    expect(page).not.toContain("secret-session-xyz");
    const wrong = await fetch(gw.url + "/dash?token=wrong", { redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const signIn = await fetch(`${gw.url}/dash?token=${TEST_ADMIN_TOKEN}`, { redirect: "manual" });
    await signIn.body?.cancel();
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get("location")).toBe("/dash");
    const cookie = signIn.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/");
    const pair = cookie.split(";")[0];
    const dash = await fetch(gw.url + "/dash", { headers: { cookie: pair } });
    expect(dash.status).toBe(200);
    expect(dash.headers.get("content-security-policy")).toContain("script-src 'self'");
    await dash.body?.cancel();
    const logs = await fetch(gw.url + "/logs", { headers: { cookie: pair } });
    expect(logs.status).toBe(200);
    expect(JSON.stringify(await logs.json())).toContain("secret-session-xyz");
  } finally {
    await gw.close();
  }
});

Deno.test("/logs filters, limits and validates its query", async () => {
  const gw = await startTestGateway({ policy: POLICY });
  try {
    for (let i = 0; i < 5; i++) {
      await gw.post("/mcp/toolcall", {
        model_id: i % 2 ? "gpt-4o" : "llama",
        session_id: `s${i}`,
        tool_name: "calendar.x",
      });
    }
    expect((await gw.logs("&status=blocked")).map((e) => e.session_id)).toEqual(["s0", "s2", "s4"]);
    expect((await gw.logs("&model_id=gpt-4o")).map((e) => e.session_id)).toEqual(["s1", "s3"]);
    const limited = await fetch(`${gw.url}/logs?limit=2&event=toolcall`, { headers: admin });
    expect((await limited.json()).map((e: { session_id: string }) => e.session_id)).toEqual([
      "s3",
      "s4",
    ]);
    for (const query of ["limit=0", "limit=1001", "limit=x", "status=nope", "since=yesterday"]) {
      const bad = await fetch(`${gw.url}/logs?${query}`, { headers: admin });
      expect({ query, status: bad.status }).toEqual({ query, status: 400 });
      expect((await bad.json()).reason_code).toBe("bad_request");
    }
  } finally {
    await gw.close();
  }
});

Deno.test("POST /reload swaps a good policy and keeps the old one on any error", async () => {
  const gw = await startTestGateway({ policy: POLICY });
  try {
    const before = await (await fetch(gw.url + "/healthz", { headers: admin })).json();
    const call = { model_id: "gpt-4o", session_id: "s", tool_name: "search.web" };
    expect((await gw.post("/mcp/toolcall", call)).json.reason_code).toBe("tool_not_allowed");
    await Deno.writeTextFile(gw.policyPath, POLICY.replace('["calendar.*"]', '["search.*"]'));
    const good = await fetch(gw.url + "/reload", reload);
    const goodBody = await good.json();
    expect(good.status).toBe(200);
    expect(goodBody).toMatchObject({ reloaded: true, rules: 1 });
    expect(goodBody.policy_version).not.toBe(before.policy_version);
    expect((await gw.post("/mcp/toolcall", call)).status).toBe(200);

    await Deno.writeTextFile(gw.policyPath, "rules:\n  - model: 5\n    alow_tools: []\n");
    const bad = await fetch(gw.url + "/reload", reload);
    const badBody = await bad.json();
    expect(bad.status).toBe(400);
    expect(badBody.reloaded).toBe(false);
    expect(badBody.errors.length).toBeGreaterThanOrEqual(2);
    expect(badBody.errors.join("\n")).toContain("alow_tools");
    expect((await gw.post("/mcp/toolcall", call)).status).toBe(200);
    const health = await (await fetch(gw.url + "/healthz", { headers: admin })).json();
    expect(health.policy_version).toBe(goodBody.policy_version);

    await Deno.writeTextFile(gw.policyPath, "");
    expect((await fetch(gw.url + "/reload", reload)).status).toBe(400);

    const reloads = await gw.logs("&event=policy_reload");
    expect(reloads.map((e) => [e.status, e.reason_code])).toEqual([
      ["allowed", "ok"],
      ["allowed", "ok"],
      ["error", "policy_invalid"],
      ["error", "policy_invalid"],
    ]);
    const policy = await (await fetch(gw.url + "/policy", { headers: admin })).json();
    expect(policy.policy_version).toBe(goodBody.policy_version);
    expect(policy.last_reload.ok).toBe(false);
  } finally {
    await gw.close();
  }
});

Deno.test("the watched policy file is reloaded after a write, and a bad write is rejected", async () => {
  const gw = await startTestGateway({ policy: POLICY, watch: true });
  try {
    const health = async () => await (await fetch(gw.url + "/healthz", { headers: admin })).json();
    const first = (await health()).policy_version;
    await Deno.writeTextFile(gw.policyPath, POLICY + '  - model: "claude-*"\n');
    await eventually(async () => (await health()).policy_version !== first, "hot reload");
    const second = (await health()).policy_version;
    await Deno.writeTextFile(gw.policyPath, "rules: [");
    await eventually(
      async () => (await gw.logs("&event=policy_reload&status=error")).length === 1,
      "the rejected reload to be audited",
    );
    expect((await health()).policy_version).toBe(second);
  } finally {
    await gw.close();
  }
});

Deno.test("/, /healthz, /metrics and /policy answer their documented shapes", async () => {
  const gw = await startTestGateway({
    policy: `agents:\n  - id: a\n    key_sha256: "${
      "ab".repeat(32)
    }"\n    models: ["gpt-4o"]\n${POLICY}`,
  });
  try {
    const root = await fetch(gw.url + "/");
    expect(await root.text()).toBe("MCP-Sec Gateway OK");
    expect(root.headers.get("x-content-type-options")).toBe("nosniff");
    const health = await (await fetch(gw.url + "/healthz", { headers: admin })).json();
    expect(health).toMatchObject({ status: "ok", identity_mode: "agents", upstreams: {} });
    expect(health.policy_version).toMatch(/^[0-9a-f]{12}$/);
    expect(health.audit_head).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof health.uptime_s).toBe("number");
    await gw.post("/mcp/toolcall", { model_id: "x", session_id: "s", tool_name: "t" });
    const metrics = await (await fetch(gw.url + "/metrics", { headers: admin })).text();
    expect(metrics).toContain(
      'mcpsec_decisions_total{status="blocked",reason_code="unauthenticated"',
    );
    expect(metrics).toContain("mcpsec_decision_latency_ms_count 1");
    const policy = await (await fetch(gw.url + "/policy", { headers: admin })).json();
    expect(JSON.stringify(policy)).not.toContain("ab".repeat(32));
    expect(JSON.stringify(policy)).toContain('"a"');
  } finally {
    await gw.close();
  }
});
