import { expect } from "expect";
import { createApp } from "./app.ts";
import { openAuditSink } from "./audit/sink/sink.ts";
import type { Limiter } from "./limits/limiter.ts";
import { silentLogger } from "./log.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { parsePolicy } from "./policy/parse/parse.ts";
import { buildSchemaRegistry, createUpstreamSchemaCache } from "./schema/registry.ts";
import { createFederation } from "./mcp/federation/federation.ts";
import { openPinStore } from "./mcp/federation/pins.ts";
import { createSessionStore } from "./mcp/server/session/sessions.ts";
import { createIdleKeys } from "./mcp/server/session/idle_keys.ts";
import { createClientRequests } from "./mcp/server/client_requests.ts";
import { createStateStore } from "./state/store.ts";

Deno.test("an unexpected failure answers 500 internal_error with no detail or stack", async () => {
  const dir = await Deno.makeTempDir();
  const audit = await openAuditSink({ path: `${dir}/audit.log` });
  try {
    const parsed = parsePolicy('rules:\n  - model: "*"\n    allow_tools: ["*"]\n', { env: {} });
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    const state = { policy: parsed.policy, schemas: buildSchemaRegistry([]).registry };
    const brokenLimiter: Limiter = {
      take() {
        throw new Error("counter store corrupted at /var/secret/path");
      },
      sweep: () => 0,
      size: () => 0,
    };
    const errors: string[] = [];
    const app = createApp({
      maxBodyBytes: 1024,
      adminToken: "admin-token-0123456789",
      store: createStateStore({
        initial: state,
        load: () => Promise.resolve({ ok: true, state }),
        now: () => 0,
      }),
      limiter: brokenLimiter,
      audit,
      clock: () => 0,
      monotonic: () => performance.now(),
      newId: () => crypto.randomUUID(),
      metrics: createMetrics(),
      log: { ...silentLogger(), error: (message) => errors.push(message) },
      assets: { files: new Map() },
      startedAt: 0,
      federation: createFederation({
        createClient: () => {
          throw new Error("no upstreams in this test");
        },
        pins: await openPinStore({ path: `${dir}/pins.json`, onError: () => {} }),
        schemaCache: createUpstreamSchemaCache(),
        startTimeoutMs: 1000,
        clock: () => 0,
        log: silentLogger(),
        onPinEvent: () => {},
      }),
      sessions: createSessionStore({ idleMs: 1000 }),
      allowedHosts: [],
      allowedOrigins: [],
      upstreamTimeoutMs: 1000,
      apiSessions: createIdleKeys(1000),
      clientRequests: createClientRequests({
        audit,
        state: () => state,
        clock: () => 0,
        newId: () => crypto.randomUUID(),
        timeoutMs: 1000,
      }),
      version: "test",
      maxSessionsPerAgent: 1000,
    });
    const response = await app.fetch(
      new Request("http://127.0.0.1/mcp/toolcall", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model_id: "m", session_id: "s", tool_name: "t" }),
      }),
    );
    expect(response.status).toBe(500);
    const body = await response.json();
    expect(body).toMatchObject({
      allowed: false,
      status: "error",
      reason_code: "internal_error",
      reason: "internal error",
    });
    expect(JSON.stringify(body)).not.toContain("secret");
    expect(errors.join("\n")).toContain("counter store corrupted");
    const [event] = audit.recent().filter((e) => e.event === "toolcall");
    expect(event).toMatchObject({ status: "error", reason_code: "internal_error" });
    expect(event.event_id).toBe(body.event_id);
  } finally {
    await audit.close();
    await Deno.remove(dir, { recursive: true });
  }
});
