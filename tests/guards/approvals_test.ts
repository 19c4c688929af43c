/**
 * Human approval (§15) through the real doors: the decision API holds a call (202 with an
 * approval_id), an admin decides on `POST /approvals/{id}`, the caller re-POSTs with the id;
 * single use, bound to the exact call, a second decision refused, cross-origin refused, audited.
 */
import { expect } from "expect";
import { startTestGateway, type TestGateway } from "../harness.ts";

const POLICY = `rules:
  - model: "gpt-*"
    allow_tools: ["db.*", "search.*"]
    require_approval: ["db.delete*"]
`;

const CALL = {
  model_id: "gpt-4o",
  session_id: "s-1",
  tool_name: "db.delete_row",
  input: { table: "users", id: 7, password: "hunter2-secret" },
};

const admin = (gateway: TestGateway) => ({
  authorization: `Bearer ${gateway.adminToken}`,
});

async function getJson(
  gateway: TestGateway,
  path: string,
  headers: Record<string, string> = admin(gateway),
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(gateway.url + path, { headers });
  return { status: response.status, json: await response.json() };
}

function withGateway(
  name: string,
  body: (gateway: TestGateway) => Promise<void>,
  env: Record<string, string> = {},
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const gateway = await startTestGateway({ policy: POLICY, env });
      try {
        await body(gateway);
      } finally {
        await gateway.close();
      }
    },
  });
}

withGateway(
  "decision API: a held call answers 202, is listed, approved, then used once",
  async (gw) => {
    const held = await gw.post("/mcp/toolcall", CALL);
    expect(held.status).toBe(202);
    expect(held.json).toMatchObject({
      allowed: false,
      status: "pending",
      reason_code: "approval_pending",
    });
    const id = held.json.approval_id as string;
    expect(id).toMatch(/^[0-9a-f]{32}$/);

    // A call that needs no approval is not held.
    const plain = await gw.post("/mcp/toolcall", { ...CALL, tool_name: "search.web", input: {} });
    expect(plain.status).toBe(200);

    const list = await getJson(gw, "/approvals");
    expect(list.status).toBe(200);
    const approvals = list.json.approvals as Record<string, unknown>[];
    expect(approvals.length).toBe(1);
    expect(approvals[0]).toMatchObject({
      approval_id: id,
      status: "pending",
      tool_name: "db.delete_row",
      model_id: "gpt-4o",
      session_id: "s-1",
      agent_id: null,
    });
    // The input is shown redacted: the secret never leaves the gateway.
    expect(approvals[0].input as string).toContain('"table":"users"');
    expect(JSON.stringify(list.json)).not.toContain("hunter2-secret");

    // Not usable before a decision.
    const early = await gw.post("/mcp/toolcall", { ...CALL, approval_id: id });
    expect(early.status).toBe(409);
    expect(early.json.reason_code).toBe("approval_conflict");

    const decided = await gw.post(
      `/approvals/${id}`,
      { decision: "approve", note: "ticket 42" },
      admin(gw),
    );
    expect(decided.status).toBe(200);
    expect(decided.json).toMatchObject({ approval_id: id, status: "approved" });

    // The caller (open mode: the id is its handle) reads the outcome.
    const outcome = await getJson(gw, `/approvals/${id}`, {});
    expect(outcome.json).toMatchObject({ approval_id: id, status: "approved" });
    expect(outcome.json.decision).toBeUndefined();

    // Bound to the exact call: another input, session, model or tool is refused (and not used up).
    for (
      const other of [
        { ...CALL, input: { ...CALL.input, id: 8 } },
        { ...CALL, session_id: "s-2" },
        { ...CALL, model_id: "gpt-4o-mini" },
        { ...CALL, tool_name: "db.delete_table" },
      ]
    ) {
      const refused = await gw.post("/mcp/toolcall", { ...other, approval_id: id });
      expect([refused.status, refused.json.reason_code]).toEqual([409, "approval_conflict"]);
    }
    // Same input with its keys in another order: the canonical hash matches.
    const reordered = { ...CALL, input: { password: "hunter2-secret", id: 7, table: "users" } };
    const used = await gw.post("/mcp/toolcall", { ...reordered, approval_id: id });
    expect(used.status).toBe(200);
    expect(used.json.reason as string).toContain(
      `approved by admin (token) (approval ${id}): "ticket 42"`,
    );

    // Single use: replayed, refused and audited.
    const replay = await gw.post("/mcp/toolcall", { ...CALL, approval_id: id });
    expect([replay.status, replay.json.reason_code]).toEqual([409, "approval_conflict"]);

    // A second decision is refused (409) and audited.
    const second = await gw.post(`/approvals/${id}`, { decision: "deny" }, admin(gw));
    expect([second.status, second.json.reason_code]).toEqual([409, "approval_conflict"]);

    const lines = await gw.logs();
    const pending = lines.filter((line) => line.status === "pending");
    expect(pending.length).toBe(1);
    expect(pending[0]).toMatchObject({
      event: "toolcall",
      reason_code: "approval_pending",
      event_id: held.json.event_id,
    });
    const decisions = lines.filter((line) => line.event === "approval");
    expect(decisions.map((line) => [line.status, line.reason_code])).toEqual([
      ["allowed", "ok"],
      ["error", "approval_conflict"],
    ]);
    expect(decisions[0].reason as string).toContain("approved by admin (token)");
    expect((decisions[0].payload as Record<string, unknown>).note).toBe("ticket 42");
    const conflicts = lines.filter((line) =>
      line.event === "toolcall" && line.reason_code === "approval_conflict"
    );
    expect(conflicts.length).toBe(6);
    expect(JSON.stringify(lines)).not.toContain("hunter2-secret");
  },
);

withGateway("decision API: a denied call cannot be used; an undecided one expires", async (gw) => {
  const held = await gw.post("/mcp/toolcall", CALL);
  const id = held.json.approval_id as string;
  const denied = await gw.post(`/approvals/${id}`, { decision: "deny", note: "no" }, admin(gw));
  expect(denied.json).toMatchObject({ status: "denied" });
  const use = await gw.post("/mcp/toolcall", { ...CALL, approval_id: id });
  expect([use.status, use.json.reason_code]).toEqual([409, "approval_conflict"]);
  const lines = await gw.logs("&event=approval");
  expect(lines.map((line) => [line.status, line.reason_code])).toEqual([
    ["blocked", "approval_denied"],
  ]);

  // Timeout: the clock moves past APPROVAL_TIMEOUT_MS; too late to decide or use.
  const late = await gw.post("/mcp/toolcall", CALL);
  const lateId = late.json.approval_id as string;
  gw.clock.advance(120_001);
  expect((await getJson(gw, `/approvals/${lateId}`)).json.status).toBe("expired");
  expect((await getJson(gw, "/approvals")).json.approvals).toEqual([]);
  // The held call is closed in the audit: approval_timeout, same event_id as its pending line.
  const closing = (await gw.logs("&event=toolcall")).filter((line) =>
    line.event_id === late.json.event_id
  );
  expect(closing.map((line) => [line.status, line.reason_code])).toEqual([
    ["pending", "approval_pending"],
    ["blocked", "approval_timeout"],
  ]);
  // Once: listing again writes nothing more.
  await getJson(gw, "/approvals");
  expect((await gw.logs("&event=toolcall&status=blocked")).length).toBe(1);
  const tooLate = await gw.post(`/approvals/${lateId}`, { decision: "approve" }, admin(gw));
  expect([tooLate.status, tooLate.json.reason_code]).toEqual([409, "approval_conflict"]);
});

withGateway("approvals API: admin only, ids checked, CSRF rules of §12", async (gw) => {
  const held = await gw.post("/mcp/toolcall", CALL);
  const id = held.json.approval_id as string;
  expect((await getJson(gw, "/approvals", {})).status).toBe(401);
  expect((await getJson(gw, "/approvals/not-an-id")).status).toBe(400);
  expect((await getJson(gw, `/approvals/${"0".repeat(32)}`)).status).toBe(404);
  // No credential: 401, nothing decided.
  const anonymous = await gw.post(`/approvals/${id}`, { decision: "approve" });
  expect(anonymous.status).toBe(401);
  // A page on another origin riding the admin's cookie: refused before anything runs.
  const cookie = { cookie: `mcpsec_admin=${gw.adminToken}` };
  const crossSite = await gw.post(`/approvals/${id}`, { decision: "approve" }, {
    ...cookie,
    origin: "https://evil.example",
  });
  expect([crossSite.status, crossSite.json.reason_code]).toEqual([403, "forbidden_origin"]);
  const form = await fetch(`${gw.url}/approvals/${id}`, {
    method: "POST",
    headers: { ...cookie, "content-type": "text/plain" },
    body: '{"decision":"approve"}',
  });
  expect(form.status).toBe(415);
  await form.body?.cancel();
  const bad = await gw.post(`/approvals/${id}`, { decision: "maybe" }, admin(gw));
  expect([bad.status, bad.json.reason_code]).toEqual([400, "bad_request"]);
  const long = await gw.post(
    `/approvals/${id}`,
    { decision: "deny", note: "x".repeat(501) },
    admin(gw),
  );
  expect(long.status).toBe(400);
  expect((await getJson(gw, `/approvals/${id}`)).json.status).toBe("pending");
  // Same origin with the cookie (the dashboard): accepted, and the decider is named.
  const own = await gw.post(`/approvals/${id}`, { decision: "approve", note: "" }, {
    ...cookie,
    origin: gw.url,
  });
  expect(own.status).toBe(200);
  expect((own.json.decision as Record<string, unknown>).by).toBe("admin (dashboard)");
  // The approval_id of the decision API is checked like any field.
  const malformed = await gw.post("/mcp/toolcall", { ...CALL, approval_id: "../../x" });
  expect([malformed.status, malformed.json.reason_code]).toEqual([400, "bad_request"]);
});

withGateway("approvals survive a policy reload", async (gw) => {
  const held = await gw.post("/mcp/toolcall", CALL);
  const id = held.json.approval_id as string;
  await Deno.writeTextFile(gw.policyPath, POLICY + "    max_calls_per_session: 100\n");
  const reloaded = await gw.post("/reload", {}, admin(gw));
  expect(reloaded.json.reloaded).toBe(true);
  expect((await getJson(gw, `/approvals/${id}`)).json.status).toBe("pending");
  await gw.post(`/approvals/${id}`, { decision: "approve" }, admin(gw));
  const used = await gw.post("/mcp/toolcall", { ...CALL, approval_id: id });
  expect(used.status).toBe(200);
});
