// Held calls shared by two gateway processes on one real redis-server (SPEC §15, §13): a call
// held on replica A (a real SDK client waiting through A's /mcp) is listed and approved on
// replica B, and A's waiting client gets the result; a decision-API call held on A is approved
// and used on B, once; with Redis gone a new call is refused, never run unapproved.
import { expect } from "expect";
import { join } from "node:path";
import { type GatewayProcess, serveGateway } from "../gateway_process.ts";
import { stdioFixtureCommand } from "../fixtures/stdio_server.ts";
import { connectClient } from "../mcp_client.ts";
import { eventually } from "../harness.ts";
import { redisSkipReason, startRedis } from "../redis_server.ts";

const skip = redisSkipReason();
if (skip) console.log(`replicas_approvals_test: ${skip}`);

const TOKEN = "admin-token-0123456789";
const admin = { authorization: `Bearer ${TOKEN}` };
const POLICY =
  `rules:\n  - model: "*"\n    allow_tools: ["*"]\n    require_approval: ["local.echo"]\n` +
  `upstreams:\n  local:\n    command: ${JSON.stringify(stdioFixtureCommand())}\n`;

async function startPair(cwd: string, redisUrl: string): Promise<GatewayProcess[]> {
  await Deno.writeTextFile(join(cwd, "policies.yaml"), POLICY);
  const env = (i: number) => ({
    REDIS_URL: redisUrl,
    REDIS_PREFIX: "a:",
    REDIS_TIMEOUT_MS: "300",
    AUDIT_LOG_PATH: join(cwd, `audit-${i}.log`),
    PINS_PATH: join(cwd, `pins-${i}.json`),
    ADMIN_TOKEN: TOKEN,
  });
  return await Promise.all([serveGateway(cwd, env(0)), serveGateway(cwd, env(1))]);
}

async function pendingOn(gw: GatewayProcess): Promise<string[]> {
  const response = await fetch(`${gw.url}/approvals`, { headers: admin });
  const body = await response.json();
  return (body.approvals ?? []).map((item: { approval_id: string }) => item.approval_id);
}

async function post(gw: GatewayProcess, path: string, body: unknown) {
  const response = await fetch(gw.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...admin },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

Deno.test({
  name:
    "two replicas on one Redis: a call held on A is approved on B and A's client gets the result",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await startRedis();
    const cwd = await Deno.makeTempDir();
    const [a, b] = await startPair(cwd, redis.url);
    const agent = await connectClient(a.url, { "x-model-id": "m1" });
    try {
      const waiting = agent.client.callTool(
        { name: "local.echo", arguments: { text: "held on A" } },
        undefined,
        { timeout: 60_000 },
      );
      waiting.catch(() => {});
      let ids: string[] = [];
      await eventually(
        async () => (ids = await pendingOn(b)).length === 1,
        "B lists A's call",
        20_000,
      );
      const decided = await post(b, `/approvals/${ids[0]}`, { decision: "approve", note: "on B" });
      expect(decided.status).toBe(200);
      const result = await waiting;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toEqual({ text: "held on A" });
      // Decided once for both replicas.
      const again = await post(a, `/approvals/${ids[0]}`, { decision: "deny" });
      expect([again.status, again.json.reason_code]).toEqual([409, "approval_conflict"]);

      // Decision API: held on A, approved on B, used on B once; a replay on A is refused.
      const call = { model_id: "m1", session_id: "api-1", tool_name: "local.echo" };
      const held = await post(a, "/mcp/toolcall", { ...call, input: { text: "api" } });
      expect(held.status).toBe(202);
      const id = held.json.approval_id as string;
      expect(await pendingOn(b)).toEqual([id]);
      await post(b, `/approvals/${id}`, { decision: "approve" });
      const used = await post(b, "/mcp/toolcall", {
        ...call,
        input: { text: "api" },
        approval_id: id,
      });
      expect(used.status).toBe(200);
      const replay = await post(a, "/mcp/toolcall", {
        ...call,
        input: { text: "api" },
        approval_id: id,
      });
      expect([replay.status, replay.json.reason_code]).toEqual([409, "approval_conflict"]);

      // Redis gone: nothing is held (so nothing can be approved elsewhere): refused, fail closed.
      await redis.kill();
      const refused = await post(a, "/mcp/toolcall", { ...call, input: { text: "down" } });
      expect(refused.status).toBe(503);
      expect(refused.json.reason_code).toBe("state_unavailable");
    } finally {
      await agent.close().catch(() => {});
      for (const gw of [a, b]) {
        gw.child.kill("SIGTERM");
        await gw.child.status;
        await gw.drained;
      }
      await redis.stop();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
