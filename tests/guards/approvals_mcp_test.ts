/**
 * Human approval through the MCP proxy (§15): a real SDK client's `tools/call` waits, kept alive
 * by progress notifications, until an admin approves (the result arrives), denies
 * (`approval_denied`), nobody decides (`approval_timeout`) or the client cancels (withdrawn).
 */
import { expect } from "expect";
import { connectClient } from "../mcp_client.ts";
import { startFixtureHttpServer } from "../fixtures/http_server.ts";
import { eventually, startTestGateway, type TestGateway } from "../harness.ts";

function policy(upstreamUrl: string): string {
  return `rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*"]
    require_approval: ["calendar.echo"]
upstreams:
  calendar:
    url: "${upstreamUrl}"
`;
}

type Decision = { reason_code: string; event_id: string };

function decisionOf(result: Record<string, unknown>): Decision {
  return (result._meta as Record<string, Decision>)["mcp-sec-gateway/decision"];
}

const admin = (gw: TestGateway) => ({ authorization: `Bearer ${gw.adminToken}` });

async function pendingIds(gw: TestGateway): Promise<string[]> {
  const response = await fetch(`${gw.url}/approvals`, { headers: admin(gw) });
  const body = await response.json();
  return (body.approvals as { approval_id: string }[]).map((item) => item.approval_id);
}

/** Waits until exactly one call is held and returns its approval id. */
async function heldId(gw: TestGateway): Promise<string> {
  let ids: string[] = [];
  await eventually(async () => (ids = await pendingIds(gw)).length === 1, "a held call", 20_000);
  return ids[0];
}

async function withProxy(
  options: { env?: Record<string, string> },
  body: (gw: TestGateway, client: Awaited<ReturnType<typeof connectClient>>) => Promise<void>,
): Promise<void> {
  const upstream = startFixtureHttpServer();
  const gw = await startTestGateway({ policy: policy(upstream.url), env: options.env });
  const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
  try {
    await body(gw, agent);
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
}

const OPTIONS = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "proxy: a held call waits with progress, is approved, and the SDK client gets the result",
  ...OPTIONS,
  fn: () =>
    withProxy({}, async (gw, agent) => {
      const progress: unknown[] = [];
      const firstProgress = Promise.withResolvers<void>();
      const call = agent.client.callTool(
        { name: "calendar.echo", arguments: { text: "hi" } },
        undefined,
        {
          onprogress: (value: unknown) => {
            progress.push(value);
            firstProgress.resolve();
          },
          resetTimeoutOnProgress: true,
          timeout: 60_000,
        },
      );
      await firstProgress.promise;
      const id = await heldId(gw);
      // Another call needs no approval and is not held behind it.
      const other = await agent.client.callTool({ name: "calendar.progress", arguments: {} });
      expect(other.isError).toBeFalsy();
      const decided = await gw.post(
        `/approvals/${id}`,
        { decision: "approve", note: "ok" },
        admin(gw),
      );
      expect(decided.status).toBe(200);
      const result = await call;
      expect([result.isError, JSON.stringify(result.content)]).toEqual([
        undefined,
        '[{"type":"text","text":"hi"}]',
      ]);
      expect(result.structuredContent).toEqual({ text: "hi" });
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(progress[0]).toMatchObject({ progress: 0 });

      const lines = (await gw.logs("&event=toolcall")).filter((line) =>
        line.tool_name === "calendar.echo"
      );
      expect(lines.map((line) => [line.status, line.reason_code])).toEqual([
        ["pending", "approval_pending"],
        ["forwarded", "ok"],
        ["allowed", "ok"],
      ]);
      expect(new Set(lines.map((line) => line.event_id)).size).toBe(1);
      expect(lines[2].reason as string).toContain(
        `approved by admin (token) (approval ${id}): "ok"`,
      );
      // Used: a second decision or a replay through the decision API is refused.
      const again = await gw.post(`/approvals/${id}`, { decision: "approve" }, admin(gw));
      expect([again.status, again.json.reason_code]).toEqual([409, "approval_conflict"]);
    }),
});

Deno.test({
  name: "proxy: a denied call is an isError result approval_denied; the tool never runs",
  ...OPTIONS,
  fn: () =>
    withProxy({}, async (gw, agent) => {
      const call = agent.client.callTool({ name: "calendar.echo", arguments: { text: "no" } });
      const id = await heldId(gw);
      await gw.post(`/approvals/${id}`, { decision: "deny", note: "not today" }, admin(gw));
      const result = await call;
      expect(result.isError).toBe(true);
      expect(decisionOf(result).reason_code).toBe("approval_denied");
      const text = (result.content as { text: string }[])[0].text;
      expect(text).toContain("denied by admin (token)");
      const lines = await gw.logs("&event=toolcall&tool_name=calendar.echo");
      expect(lines.map((line) => line.status)).toEqual(["pending", "blocked"]);
      expect(lines[0].event_id).toBe(lines[1].event_id);
    }),
});

Deno.test({
  name: "proxy: nobody decides within APPROVAL_TIMEOUT_MS → approval_timeout",
  ...OPTIONS,
  fn: () =>
    withProxy({ env: { APPROVAL_TIMEOUT_MS: "300" } }, async (gw, agent) => {
      const result = await agent.client.callTool({
        name: "calendar.echo",
        arguments: { text: "x" },
      });
      expect(result.isError).toBe(true);
      expect(decisionOf(result).reason_code).toBe("approval_timeout");
      expect(await pendingIds(gw)).toEqual([]);
      const lines = await gw.logs("&event=toolcall&tool_name=calendar.echo");
      expect(lines.map((line) => line.reason_code)).toEqual([
        "approval_pending",
        "approval_timeout",
      ]);
    }),
});

Deno.test({
  name: "proxy: the client cancelling withdraws the held call; it can no longer be approved",
  ...OPTIONS,
  fn: () =>
    withProxy({}, async (gw, agent) => {
      const controller = new AbortController();
      const call = agent.client.callTool(
        { name: "calendar.echo", arguments: { text: "bye" } },
        undefined,
        { signal: controller.signal },
      ).catch((error: Error) => error);
      const id = await heldId(gw);
      controller.abort();
      expect(await call).toBeInstanceOf(Error);
      await eventually(async () => (await pendingIds(gw)).length === 0, "the withdrawal", 20_000);
      const late = await gw.post(`/approvals/${id}`, { decision: "approve" }, admin(gw));
      expect([late.status, late.json.reason_code]).toEqual([409, "approval_conflict"]);
      await eventually(async () =>
        (await gw.logs("&event=toolcall&tool_name=calendar.echo")).some((line) =>
          line.reason_code === "approval_withdrawn"
        ), "the withdrawn line");
    }),
});

Deno.test({
  name: "decision API on an upstream tool: 202, approved, re-POSTed once → executed upstream",
  ...OPTIONS,
  fn: () =>
    withProxy({}, async (gw) => {
      const call = { model_id: "gpt-4o", session_id: "api-1", tool_name: "calendar.echo" };
      const held = await gw.post("/mcp/toolcall", { ...call, input: { text: "later" } });
      expect([held.status, held.json.status]).toEqual([202, "pending"]);
      const id = held.json.approval_id as string;
      // Bound to the exact call: the same approval for another input is refused.
      await gw.post(`/approvals/${id}`, { decision: "approve" }, admin(gw));
      const other = await gw.post("/mcp/toolcall", {
        ...call,
        input: { text: "something else" },
        approval_id: id,
      });
      expect([other.status, other.json.reason_code]).toEqual([409, "approval_conflict"]);
      const ran = await gw.post("/mcp/toolcall", {
        ...call,
        input: { text: "later" },
        approval_id: id,
      });
      expect(ran.status).toBe(200);
      expect((ran.json.result as Record<string, unknown>).structuredContent).toEqual({
        text: "later",
      });
      const replay = await gw.post("/mcp/toolcall", {
        ...call,
        input: { text: "later" },
        approval_id: id,
      });
      expect([replay.status, replay.json.reason_code]).toEqual([409, "approval_conflict"]);
    }),
});

Deno.test({
  name: "proxy: the session ending (DELETE) withdraws its held call",
  ...OPTIONS,
  fn: () =>
    withProxy({}, async (gw, agent) => {
      const call = agent.client.callTool({ name: "calendar.echo", arguments: { text: "x" } });
      call.catch(() => {}); // the session is gone: the client closes below
      const id = await heldId(gw);
      await agent.transport.terminateSession();
      await eventually(async () => (await pendingIds(gw)).length === 0, "the withdrawal", 20_000);
      const response = await fetch(`${gw.url}/approvals/${id}`, { headers: admin(gw) });
      expect((await response.json()).status).toBe("withdrawn");
      await eventually(async () =>
        (await gw.logs("&event=toolcall&tool_name=calendar.echo")).some((line) =>
          line.reason_code === "approval_withdrawn" && line.status === "error"
        ), "the withdrawn line");
    }),
});

Deno.test({
  name: "proxy: a reload that refuses the tool while the call waits wins over the approval",
  ...OPTIONS,
  fn: () =>
    withProxy({}, async (gw, agent) => {
      const call = agent.client.callTool({ name: "calendar.echo", arguments: { text: "x" } });
      const id = await heldId(gw);
      const current = await Deno.readTextFile(gw.policyPath);
      await Deno.writeTextFile(
        gw.policyPath,
        current.replace(
          'allow_tools: ["calendar.*"]',
          'allow_tools: ["calendar.*"]\n    deny_tools: ["calendar.echo"]',
        ),
      );
      expect((await gw.post("/reload", {}, admin(gw))).json.reloaded).toBe(true);
      // The held call survived the reload and can still be decided...
      expect(await pendingIds(gw)).toEqual([id]);
      await gw.post(`/approvals/${id}`, { decision: "approve" }, admin(gw));
      // ...but the policy in force now refuses the tool: it never runs.
      const result = await call;
      expect(result.isError).toBe(true);
      expect(decisionOf(result).reason_code).toBe("tool_denied");
      const lines = await gw.logs("&event=toolcall&tool_name=calendar.echo");
      expect(lines.map((line) => line.status)).toEqual(["pending", "blocked"]);
    }),
});
