/**
 * Property test of the decision API's door (§4, §12): random bodies, media types, `Host` and
 * `Origin` values over raw HTTP against a real gateway. Whatever arrives: never a 5xx, never
 * `allowed` for a malformed request, a foreign `Host` or a foreign `Origin`, and every answer is
 * the one JSON shape.
 */
import { expect } from "expect";
import fc from "fast-check";
import { hostIsLoopback, originIsLoopback, rawRequest, token } from "../doors_raw.ts";
import { startTestGateway } from "../harness.ts";

const POLICY = `defaults:\n  timezone: UTC\nrules:\n  - model: "gpt-4*"\n    allow_tools: ["*"]\n`;
const SHAPE_KEYS = new Set([
  "allowed",
  "status",
  "reason_code",
  "reason",
  "event_id",
  "result",
  "retry_after_ms",
]);
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** The test's own oracle of a well-formed decision body (§4), written apart from the gateway's. */
function wellFormed(path: string, body: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return false;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  const payloadKey = path === "/mcp/toolcall" ? "input" : "output";
  const isId = (v: unknown) => typeof v === "string" && v.length >= 1 && v.length <= 256;
  const payload = record[payloadKey];
  return Object.keys(record).every((key) =>
    ["model_id", "session_id", "tool_name", payloadKey].includes(key)
  ) && isId(record.model_id) && isId(record.session_id) &&
    typeof record.tool_name === "string" && TOOL_NAME.test(record.tool_name) &&
    !record.tool_name.endsWith(".output") &&
    (payload === undefined ||
      (typeof payload === "object" && payload !== null && !Array.isArray(payload)));
}

Deno.test("decision API door: random requests never get a 5xx, never an undue allow, one shape", async () => {
  const gw = await startTestGateway({ policy: POLICY });
  const port = new URL(gw.url).port;
  try {
    const host = fc.option(
      fc.oneof(
        fc.constantFrom(
          `127.0.0.1:${port}`,
          `localhost:${port}`,
          "LOCALHOST",
          "[::1]:1",
          "attacker.example",
          `attacker.example:${port}`,
          "127.0.0.1.nip.io",
          "localhost.evil",
          "[::1",
          ":80",
        ),
        token(40),
      ),
      { nil: undefined },
    );
    const origin = fc.option(
      fc.oneof(
        fc.constantFrom(
          "http://localhost:5173",
          `http://127.0.0.1:${port}`,
          "https://[::1]",
          "http://attacker.example",
          "null",
          "file://",
          "chrome-extension://abc",
        ),
        token(40),
      ),
      { nil: undefined },
    );
    const contentType = fc.option(
      fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "text/plain",
        "application/jsonx",
        "application/x-www-form-urlencoded",
      ),
      { nil: undefined },
    );
    const id = fc.oneof(fc.string({ maxLength: 8 }), fc.constant("x".repeat(257)), fc.integer());
    const decision = fc.record({
      model_id: fc.oneof(fc.constantFrom("gpt-4o", "gpt-4"), id),
      session_id: id,
      tool_name: fc.oneof(
        fc.constantFrom("search.web", "calendar.create_event", "x.output", "../etc", ""),
        fc.string({ maxLength: 10 }),
      ),
      input: fc.oneof(fc.object({ maxDepth: 2 }), fc.constant([]), fc.constant(null)),
      extra: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 5 })),
    }, { requiredKeys: [] }).map((fields) => JSON.stringify(fields));
    const body = fc.oneof(decision, decision, fc.json(), fc.string({ maxLength: 40 }));
    const path = fc.constantFrom("/mcp/toolcall", "/mcp/toolresult");

    await fc.assert(
      fc.asyncProperty(host, origin, contentType, body, path, async (h, o, ct, b, p) => {
        const headers: Record<string, string> = {};
        if (h !== undefined) headers.host = h;
        if (o !== undefined) headers.origin = o;
        if (ct !== undefined) headers["content-type"] = ct;
        const answer = await rawRequest(gw.url, { method: "POST", path: p, headers, body: b });
        expect(answer.status).toBeGreaterThanOrEqual(200);
        expect(answer.status).toBeLessThan(500);
        const json = JSON.parse(answer.body) as Record<string, unknown>;
        expect(Object.keys(json).filter((key) => !SHAPE_KEYS.has(key))).toEqual([]);
        expect(typeof json.reason_code).toBe("string");
        expect(typeof json.reason).toBe("string");
        expect(["allowed", "blocked", "error"]).toContain(json.status);
        expect(json.allowed).toBe(json.status === "allowed");
        expect(json.event_id === null || typeof json.event_id === "string").toBe(true);
        if (json.allowed) {
          expect(answer.status).toBe(200);
          expect(hostIsLoopback(h)).toBe(true);
          expect(originIsLoopback(o)).toBe(true);
          expect(ct?.split(";")[0].trim().toLowerCase()).toBe("application/json");
          expect(wellFormed(p, b)).toBe(true);
        }
        if (!hostIsLoopback(h)) expect(json.reason_code).toBe("forbidden_host");
        else if (!originIsLoopback(o)) expect(json.reason_code).toBe("forbidden_origin");
      }),
      { numRuns: 200 },
    );
    // The property is not vacuous: a well-formed call through the door is allowed.
    const allowed = await rawRequest(gw.url, {
      method: "POST",
      path: "/mcp/toolcall",
      headers: { host: `localhost:${port}`, "content-type": "application/json" },
      body: JSON.stringify({ model_id: "gpt-4o", session_id: "s", tool_name: "search.web" }),
    });
    expect(JSON.parse(allowed.body).allowed).toBe(true);
  } finally {
    await gw.close();
  }
});
