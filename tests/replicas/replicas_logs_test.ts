// `/logs` on any replica reads every replica's recent events (SPEC §13): two gateway processes on
// one real redis-server; events audited on B show on A's /logs (gateway_id B), merged by time with
// A's own and filtered alike; Redis killed: A's /logs still answers with its own events and names
// the replica it could not read.
import { expect } from "expect";
import { join } from "node:path";
import { type GatewayProcess, serveGateway } from "../gateway_process.ts";
import { redisSkipReason, startRedis } from "../redis_server.ts";

const skip = redisSkipReason();
if (skip) console.log(`replicas_logs_test: ${skip}`);

const ADMIN_TOKEN = "admin-token-0123456789";
const POLICY =
  `defaults:\n  timezone: UTC\nrules:\n  - model: "*"\n    allow_tools: ["search.*"]\n`;

interface Line {
  timestamp: string;
  event_id: string;
  event: string;
  session_id: string | null;
  status: string;
  gateway_id: string;
}

async function call(gw: GatewayProcess, session: string, tool = "search.web") {
  const response = await fetch(gw.url + "/mcp/toolcall", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model_id: "m1", session_id: session, tool_name: tool }),
  });
  return (await response.json()) as { event_id: string };
}

async function logs(gw: GatewayProcess, query = "") {
  const response = await fetch(`${gw.url}/logs?limit=1000${query}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return {
    status: response.status,
    lines: (await response.json()) as Line[],
    read: response.headers.get("x-logs-replicas"),
    unavailable: response.headers.get("x-logs-unavailable"),
  };
}

/** Reads A's /logs until `ok` holds (bounded: 15 s); the last answer. */
async function logsUntil(gw: GatewayProcess, query: string, ok: (l: Line[]) => boolean) {
  const deadline = performance.now() + 15_000;
  let last = await logs(gw, query);
  while (!ok(last.lines) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await logs(gw, query);
  }
  return last;
}

Deno.test({
  name:
    "/logs on replica A shows B's events too (merged by time, filtered alike); Redis down → A's own",
  ignore: skip !== undefined,
  async fn() {
    const redis = await startRedis();
    const cwd = await Deno.makeTempDir();
    await Deno.writeTextFile(join(cwd, "policies.yaml"), POLICY);
    const start = (i: number) =>
      serveGateway(cwd, {
        REDIS_URL: redis.url,
        REDIS_PREFIX: "l:",
        REDIS_TIMEOUT_MS: "300",
        GATEWAY_ID: `replica-${i}`,
        AUDIT_LOG_PATH: join(cwd, `audit-${i}.log`),
        PINS_PATH: join(cwd, `pins-${i}.json`),
        ADMIN_TOKEN,
      });
    const [a, b] = await Promise.all([start(0), start(1)]);
    try {
      const onA = [await call(a, "sa"), await call(a, "sa", "db.drop")];
      const onB = [await call(b, "sb"), await call(b, "sb", "db.drop"), await call(b, "sa")];
      const wanted = [...onA, ...onB].map((x) => x.event_id);
      const seen = await logsUntil(a, "&event=toolcall", (lines) => {
        const ids = new Set(lines.map((l) => l.event_id));
        return wanted.every((id) => ids.has(id));
      });
      expect(seen.status).toBe(200);
      const byId = new Map(seen.lines.map((l) => [l.event_id, l]));
      for (const x of onA) expect(byId.get(x.event_id)?.gateway_id).toBe("replica-0");
      for (const x of onB) expect(byId.get(x.event_id)?.gateway_id).toBe("replica-1");
      expect(seen.read).toBe("replica-1");
      expect(seen.unavailable).toBe("");
      // Merged by time, oldest first, as one replica's /logs is.
      const times = seen.lines.map((l) => Date.parse(l.timestamp));
      expect(times).toEqual([...times].sort((x, y) => x - y));
      // Filters apply to every replica's events alike.
      const blocked = await logs(a, "&status=blocked&event=toolcall");
      expect(blocked.lines.map((l) => l.gateway_id).sort()).toEqual(["replica-0", "replica-1"]);
      const session = await logs(a, "&session_id=sa&event=toolcall");
      expect(session.lines.map((l) => l.event_id).sort()).toEqual(
        [onA[0], onA[1], onB[2]].map((x) => x.event_id).sort(),
      );
      const limited = await logs(a, "&event=toolcall");
      const two = await fetch(`${a.url}/logs?limit=2&event=toolcall`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect((await two.json()).map((l: Line) => l.event_id)).toEqual(
        limited.lines.slice(-2).map((l) => l.event_id),
      );
      // And B sees A's.
      const fromB = await logsUntil(b, "&event=toolcall", (lines) => lines.length >= 5);
      expect(new Set(fromB.lines.map((l) => l.gateway_id))).toEqual(
        new Set(["replica-0", "replica-1"]),
      );

      // Redis gone: A's own events, and the replica it could not read named.
      await redis.kill();
      const alone = await logs(a, "&event=toolcall");
      expect(alone.status).toBe(200);
      expect(alone.lines.map((l) => l.gateway_id).every((g) => g === "replica-0")).toBe(true);
      expect(alone.lines.length).toBe(onA.length);
      expect(alone.unavailable).toBe("replica-1");
    } finally {
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
