/** The decision API over real HTTP on loopback: every status and reason code of §4. */
import { expect } from "expect";
import { join } from "node:path";
import { hashKey } from "../src/identity/identify.ts";
import { eventually, startTestGateway } from "./harness.ts";
import { HTTP_SERVERS } from "../src/config/config.ts";
import { rawRequest } from "./doors_raw.ts";

const POLICY = `
defaults:
  timezone: "UTC"
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*"]
    deny_tools: ["db.write*"]
    max_calls_per_session: 3
    active_hours: "08:00-18:00"
  - model: "claude-*"
    allow_tools: ["*"]
    rate_limit:
      per_session: "2/minute"
      per_model: "3/minute"
`;

const SCHEMAS = {
  "calendar.create_event.json": {
    type: "object",
    required: ["title", "start_time"],
    properties: {
      title: { type: "string" },
      start_time: { type: "string", format: "date-time" },
      location: { type: "string" },
    },
  },
  "calendar.create_event.output.json": {
    type: "object",
    required: ["event_id"],
    properties: { event_id: { type: "string" } },
  },
};

const GOOD_INPUT = { title: "Standup", start_time: "2026-11-25T09:00:00Z" };

function call(overrides: Record<string, unknown> = {}) {
  return {
    model_id: "gpt-4o",
    session_id: "s-1",
    tool_name: "calendar.create_event",
    input: GOOD_INPUT,
    ...overrides,
  };
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("an allowed call answers 200 and is audited with every field", async () => {
  const gw = await startTestGateway({ policy: POLICY, schemas: SCHEMAS });
  try {
    const { status, headers, json } = await gw.post("/mcp/toolcall", call());
    expect(status).toBe(200);
    expect(json).toMatchObject({ allowed: true, status: "allowed", reason_code: "ok" });
    expect(Object.fromEntries(headers)).toMatchObject({
      "content-type": "application/json; charset=utf-8",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    });
    expect(json.event_id).toMatch(/^[0-9a-f-]{36}$/);
    const events = await gw.logs("&event=toolcall");
    expect(events).toHaveLength(1);
    expect(Object.keys(events[0])).toEqual([
      "timestamp",
      "event_id",
      "event",
      "agent_id",
      "model_id",
      "session_id",
      "tool_name",
      "payload",
      "payload_sha256",
      "status",
      "reason_code",
      "reason",
      "latency_ms",
      "upstream_ms",
      "policy_version",
      "gateway_id",
      "prev_hash",
      "hash",
    ]);
    expect(events[0]).toMatchObject({
      timestamp: "2026-11-25T10:00:00.000Z",
      event_id: json.event_id,
      model_id: "gpt-4o",
      session_id: "s-1",
      tool_name: "calendar.create_event",
      payload: GOOD_INPUT,
      status: "allowed",
      upstream_ms: null,
    });
    // The payload hash is there as soon as the event is (the line hashes may still be pending).
    expect(events[0].payload_sha256).toBe(await sha256(JSON.stringify(GOOD_INPUT)));
  } finally {
    await gw.close();
  }
});

Deno.test("policy refusals answer 403 with the reason code of §3's order", async () => {
  const gw = await startTestGateway({ policy: POLICY, schemas: SCHEMAS });
  try {
    const cases: [Record<string, unknown>, string][] = [
      [{ model_id: "mistral-large" }, "no_matching_rule"],
      [{ tool_name: "db.write_row", input: {} }, "tool_denied"],
      [{ tool_name: "shell.exec", input: {} }, "tool_not_allowed"],
    ];
    for (const [overrides, reasonCode] of cases) {
      const { status, json } = await gw.post("/mcp/toolcall", call(overrides));
      expect({ status, reason_code: json.reason_code }).toEqual({
        status: 403,
        reason_code: reasonCode,
      });
      expect(json).toMatchObject({ allowed: false, status: "blocked" });
    }
    gw.clock.set(Date.parse("2026-11-25T18:00:00Z"));
    const late = await gw.post("/mcp/toolcall", call());
    expect([late.status, late.json.reason_code]).toEqual([403, "outside_active_hours"]);
    gw.clock.set(Date.parse("2026-11-25T17:59:59Z"));
    expect((await gw.post("/mcp/toolcall", call())).status).toBe(200);
  } finally {
    await gw.close();
  }
});

Deno.test("schema checks answer 422 naming the path but never the value", async () => {
  const gw = await startTestGateway({ policy: POLICY, schemas: SCHEMAS });
  try {
    const bad = await gw.post(
      "/mcp/toolcall",
      call({ input: { title: "x", start_time: "sekrit-not-a-date" } }),
    );
    expect(bad.status).toBe(422);
    expect(bad.json).toMatchObject({ status: "blocked", reason_code: "input_invalid" });
    expect(bad.json.reason).toContain("/start_time");
    expect(bad.json.reason).toContain("date-time");
    expect(bad.json.reason).not.toContain("sekrit");
    const missing = await gw.post("/mcp/toolcall", call({ input: { title: "x" } }));
    expect([missing.status, missing.json.reason_code]).toEqual([422, "input_invalid"]);
    const output = await gw.post("/mcp/toolresult", {
      model_id: "gpt-4o",
      session_id: "s-1",
      tool_name: "calendar.create_event",
      output: { event_id: 42 },
    });
    expect([output.status, output.json.reason_code]).toEqual([422, "output_invalid"]);
    expect(output.json.reason).toContain("/event_id");
    const goodOutput = await gw.post("/mcp/toolresult", {
      model_id: "gpt-4o",
      session_id: "s-1",
      tool_name: "calendar.create_event",
      output: { event_id: "e1" },
    });
    expect([goodOutput.status, goodOutput.json.reason_code]).toEqual([200, "ok"]);
    const unchecked = await gw.post("/mcp/toolresult", {
      model_id: "gpt-4o",
      session_id: "s-1",
      tool_name: "search.web",
    });
    expect(unchecked.status).toBe(200);
    expect(unchecked.json.reason).toContain("no output schema");
  } finally {
    await gw.close();
  }
});

Deno.test("session call cap answers 429 with Retry-After; results do not count", async () => {
  const gw = await startTestGateway({ policy: POLICY, schemas: SCHEMAS });
  try {
    for (let i = 0; i < 3; i++) {
      expect((await gw.post("/mcp/toolcall", call())).status).toBe(200);
      await gw.post("/mcp/toolresult", {
        model_id: "gpt-4o",
        session_id: "s-1",
        tool_name: "calendar.create_event",
        output: { event_id: "e" },
      });
    }
    const capped = await gw.post("/mcp/toolcall", call());
    expect(capped.status).toBe(429);
    expect(capped.json.reason_code).toBe("session_call_cap");
    expect(capped.json.retry_after_ms).toBe(24 * 3600 * 1000);
    expect(capped.headers.get("retry-after")).toBe(String(24 * 3600));
    // another session of the same model is not affected
    expect((await gw.post("/mcp/toolcall", call({ session_id: "s-2" }))).status).toBe(200);
    // a call that fails its schema after passing the policy has counted
    const s3 = { session_id: "s-3" };
    await gw.post("/mcp/toolcall", call({ ...s3, input: {} }));
    await gw.post("/mcp/toolcall", call(s3));
    await gw.post("/mcp/toolcall", call(s3));
    expect((await gw.post("/mcp/toolcall", call(s3))).json.reason_code).toBe("session_call_cap");
    gw.clock.advance(24 * 3600 * 1000 - 8 * 3600 * 1000); // next day, 02:00: outside hours
    gw.clock.set(Date.parse("2026-11-26T10:00:00Z"));
    expect((await gw.post("/mcp/toolcall", call())).status).toBe(200);
  } finally {
    await gw.close();
  }
});

Deno.test("rate windows answer 429 rate_limited with an exact retry_after_ms", async () => {
  const gw = await startTestGateway({ policy: POLICY, schemas: SCHEMAS });
  try {
    const claude = (session: string) =>
      call({ model_id: "claude-3", session_id: session, tool_name: "search.web", input: {} });
    expect((await gw.post("/mcp/toolcall", claude("a"))).status).toBe(200);
    expect((await gw.post("/mcp/toolcall", claude("a"))).status).toBe(200);
    const limited = await gw.post("/mcp/toolcall", claude("a"));
    expect([limited.status, limited.json.reason_code]).toEqual([429, "rate_limited"]);
    expect(typeof limited.json.retry_after_ms).toBe("number");
    expect(Number(limited.headers.get("retry-after"))).toBe(
      Math.ceil((limited.json.retry_after_ms as number) / 1000),
    );
    expect((await gw.post("/mcp/toolcall", claude("b"))).status).toBe(200);
    const perModel = await gw.post("/mcp/toolcall", claude("c"));
    expect([perModel.status, perModel.json.reason_code]).toEqual([429, "rate_limited"]);
    gw.clock.advance(limited.json.retry_after_ms as number);
    gw.clock.advance(60_000);
    expect((await gw.post("/mcp/toolcall", claude("a"))).status).toBe(200);
  } finally {
    await gw.close();
  }
});

Deno.test("malformed requests get one JSON error shape and are audited", async () => {
  const gw = await startTestGateway({
    policy: POLICY,
    schemas: SCHEMAS,
    env: { MAX_BODY_BYTES: "2048" },
  });
  try {
    const raw = async (init: RequestInit, path = "/mcp/toolcall") => {
      const response = await fetch(gw.url + path, init);
      return { status: response.status, json: await response.json() };
    };
    const json = { "content-type": "application/json" };
    const cases: [Promise<{ status: number; json: Record<string, unknown> }>, number, string][] = [
      [raw({ method: "POST", headers: json, body: "{not json" }), 400, "bad_request"],
      [raw({ method: "POST", headers: json, body: "" }), 400, "bad_request"],
      [raw({ method: "POST", headers: json, body: "[]" }), 400, "bad_request"],
      [
        // invalid UTF-8 inside a string value: refused, never decoded to U+FFFD
        raw({
          method: "POST",
          headers: json,
          body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]),
        }),
        400,
        "bad_request",
      ],
      [
        raw({ method: "POST", headers: json, body: JSON.stringify(call({ tool_name: "../x" })) }),
        400,
        "bad_request",
      ],
      [
        raw({ method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }),
        415,
        "unsupported_media_type",
      ],
      [raw({ method: "POST", body: "{}" }), 415, "unsupported_media_type"],
      [
        raw({
          method: "POST",
          headers: json,
          body: JSON.stringify(call({ input: { blob: "x".repeat(4096) } })),
        }),
        413,
        "payload_too_large",
      ],
      [
        raw({
          method: "POST",
          headers: json,
          body: new Blob(["{", " ".repeat(4096), "}"]).stream(),
        }),
        413,
        "payload_too_large",
      ],
      [raw({ method: "GET" }), 405, "method_not_allowed"],
      [raw({ method: "GET" }, "/nope"), 404, "not_found"],
    ];
    for (const [promise, status, reasonCode] of cases) {
      const answer = await promise;
      expect({ status: answer.status, reason_code: answer.json.reason_code }).toEqual({
        status,
        reason_code: reasonCode,
      });
      expect(answer.json.allowed).toBe(false);
      expect(typeof answer.json.reason).toBe("string");
      expect(JSON.stringify(answer.json)).not.toMatch(/at .*\.ts:\d+/);
    }
    // The requests above run concurrently: their audit lines may come in any order.
    const audited = await gw.logs("&event=toolcall");
    expect(audited.map((event) => event.reason_code).sort()).toEqual([
      "bad_request",
      "bad_request",
      "bad_request",
      "bad_request",
      "bad_request",
      "payload_too_large",
      "payload_too_large",
      "unsupported_media_type",
      "unsupported_media_type",
    ]);
    expect(audited.filter((event) => event.reason === "request body is not valid UTF-8"))
      .toHaveLength(1);
    expect(audited.filter((event) => event.model_id === "gpt-4o")).toEqual([
      expect.objectContaining({ reason_code: "bad_request", tool_name: null, payload: null }),
    ]);
  } finally {
    await gw.close();
  }
});

Deno.test("unknown_schema: deny blocks tools without a schema (schema_missing)", async () => {
  const gw = await startTestGateway({
    policy: `defaults:\n  unknown_schema: deny\n  timezone: UTC\n${
      POLICY.replace('defaults:\n  timezone: "UTC"\n', "")
    }`,
    schemas: SCHEMAS,
  });
  try {
    const missing = await gw.post("/mcp/toolcall", call({ tool_name: "search.web", input: {} }));
    expect([missing.status, missing.json.reason_code]).toEqual([403, "schema_missing"]);
    expect((await gw.post("/mcp/toolcall", call())).status).toBe(200);
  } finally {
    await gw.close();
  }
});

Deno.test("agents mode: 401 without a key, 403 forbidden_model, quotas kept apart", async () => {
  const policy = `
agents:
  - id: planner
    key_sha256: "${hashKey("planner-key-0123456789")}"
    models: ["gpt-4o"]
  - id: other
    key_env: OTHER_AGENT_KEY
    models: ["gpt-4*"]
${POLICY}`;
  const gw = await startTestGateway({
    policy,
    schemas: SCHEMAS,
    env: { OTHER_AGENT_KEY: "other-key-0123456789" },
  });
  try {
    const planner = { authorization: "Bearer planner-key-0123456789" };
    const other = { authorization: "Bearer other-key-0123456789" };
    const none = await gw.post("/mcp/toolcall", call());
    expect([none.status, none.json.reason_code]).toEqual([401, "unauthenticated"]);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(none.headers.get("x-frame-options")).toBe("DENY"); // refusals are secured too
    const wrong = await gw.post("/mcp/toolcall", call(), { authorization: "Bearer nope" });
    expect([wrong.status, wrong.json.reason_code]).toEqual([401, "unauthenticated"]);
    const admin = await gw.post("/mcp/toolcall", call(), {
      authorization: `Bearer ${gw.adminToken}`,
    });
    expect(admin.status).toBe(401);
    const forbidden = await gw.post("/mcp/toolcall", call({ model_id: "gpt-4-turbo" }), planner);
    expect([forbidden.status, forbidden.json.reason_code]).toEqual([403, "forbidden_model"]);
    for (let i = 0; i < 3; i++) {
      expect((await gw.post("/mcp/toolcall", call(), planner)).status).toBe(200);
    }
    expect((await gw.post("/mcp/toolcall", call(), planner)).status).toBe(429);
    // same model, same session id, another agent: its own quota
    expect((await gw.post("/mcp/toolcall", call(), other)).status).toBe(200);
    const failures = await gw.logs("&event=auth_failure");
    expect(failures.map((event) => event.reason_code)).toEqual([
      "unauthenticated",
      "unauthenticated",
      "unauthenticated",
      "forbidden_model",
    ]);
    expect(failures[3].agent_id).toBe("planner");
    const calls = await gw.logs("&event=toolcall&status=allowed");
    expect(calls.map((event) => event.agent_id)).toEqual([
      "planner",
      "planner",
      "planner",
      "other",
    ]);
    const health = await (await fetch(gw.url + "/healthz", {
      headers: { authorization: `Bearer ${gw.adminToken}` },
    })).json();
    expect(health.identity_mode).toBe("agents");
    expect(JSON.stringify(await gw.logs())).not.toContain("planner-key-0123456789");
  } finally {
    await gw.close();
  }
});

Deno.test("secrets in payloads are redacted in the audit log and /logs", async () => {
  const gw = await startTestGateway({ policy: POLICY, schemas: SCHEMAS });
  try {
    await gw.post(
      "/mcp/toolcall",
      call({
        tool_name: "search.web",
        input: {
          q: "x",
          api_key: "sk-live-123",
          nested: [{ Access_Token: "tok-456" }],
          max_tokens: 9,
        },
      }),
    );
    const [event] = await gw.logs("&tool_name=search.web");
    expect(event.payload).toEqual({
      q: "x",
      api_key: "[REDACTED]",
      nested: [{ Access_Token: "[REDACTED]" }],
      max_tokens: 9,
    });
    await gw.gateway.shutdown();
    const file = await Deno.readTextFile(gw.auditPath);
    expect(file).not.toContain("sk-live-123");
    expect(file).not.toContain("tok-456");
  } finally {
    await gw.close();
  }
});

Deno.test("audit failure fails closed with 503 and loses nothing once writable again", async () => {
  const gw = await startTestGateway({ policy: POLICY, schemas: SCHEMAS });
  try {
    expect((await gw.post("/mcp/toolcall", call())).status).toBe(200);
    const auditDir = join(gw.dir, "audit");
    // a file where the audit directory was: every write (and any mkdir) now fails, even as root
    await Deno.remove(auditDir, { recursive: true });
    await Deno.writeTextFile(auditDir, "");
    await gw.post("/mcp/toolcall", call({ session_id: "trigger" }));
    await eventually(
      async () => (await (await fetch(gw.url + "/healthz")).json()).status === "degraded",
      "/healthz to turn degraded",
    );
    const refused = await gw.post("/mcp/toolcall", call({ session_id: "refused" }));
    expect([refused.status, refused.json.reason_code]).toEqual([503, "audit_unavailable"]);
    await Deno.remove(auditDir);
    await Deno.mkdir(auditDir);
    await eventually(
      async () => (await (await fetch(gw.url + "/healthz")).json()).status === "ok",
      "/healthz to recover",
    );
    expect((await gw.post("/mcp/toolcall", call({ session_id: "after" }))).status).toBe(200);
    await gw.gateway.shutdown();
    const lines = (await Deno.readTextFile(gw.auditPath)).trim().split("\n").map((line) =>
      JSON.parse(line)
    );
    const sessions = lines.filter((event) => event.event === "toolcall").map((event) =>
      event.session_id
    );
    expect(sessions).toEqual(expect.arrayContaining(["trigger", "refused", "after"]));
  } finally {
    await gw.close();
  }
});

for (const server of HTTP_SERVERS) {
  Deno.test(`every hot-route answer carries its content type and the security headers [${server}]`, async () => {
    const gw = await startTestGateway({
      policy: POLICY,
      schemas: SCHEMAS,
      env: { HTTP_SERVER: server },
    });
    try {
      const secured = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
      };
      const answers = [
        await gw.post("/mcp/toolcall", call()), // allowed
        await gw.post("/mcp/toolcall", { model_id: 7 }), // refused (400)
        await gw.post("/mcp/toolresult", { nope: true }), // refused (400)
      ];
      for (const { status, headers } of answers) {
        expect({ status, ...Object.fromEntries(headers) }).toMatchObject({
          "content-type": "application/json; charset=utf-8",
          ...secured,
        });
      }
      // A client that does not ask for compression (fetch always does): nothing else reads the
      // answer's headers before the server writes it.
      const plain = await rawRequest(gw.url, {
        method: "POST",
        path: "/mcp/toolcall",
        headers: { host: new URL(gw.url).host, "content-type": "application/json" },
        body: JSON.stringify(call()),
      });
      expect({ status: plain.status, ...plain.headers }).toMatchObject({
        status: 200,
        "content-type": "application/json; charset=utf-8",
        ...secured,
      });
      const mcp = await fetch(`${gw.url}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: "{",
      });
      await mcp.body?.cancel();
      expect({ status: mcp.status, ...Object.fromEntries(mcp.headers) }).toMatchObject({
        status: 406,
        ...secured,
      });
    } finally {
      await gw.close();
    }
  });
}
