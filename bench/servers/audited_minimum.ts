// Scenario (f) of `deno task bench`, a reference and not the product: the least an audited
// decision costs in Deno, in one thread. The bare handler (a) plus what every decision of §4 and
// §6 must do whatever its policy: a content-type check, an event id and timestamp, the payload's
// sha256, a hash-chained JSON line appended to a file every 20 ms, and an answer carrying the
// event id and the gateway's security headers. No policy, limiter, schema, ring, metrics or
// worker: a practical ceiling for the gateway's (b), measured in the same run (the gateway does
// more, though it hashes the chain on a second thread). Prints `listening <port>` once it accepts
// connections; the audit file goes to AUDIT_FILE (default: a temporary file).
//   PORT=0 deno run --allow-net --allow-env --allow-write bench/servers/audited_minimum.ts
import { createHash } from "node:crypto";

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
const encoder = new TextEncoder();
const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };
const SECURITY_HEADERS = [
  ["x-content-type-options", "nosniff"],
  ["referrer-policy", "no-referrer"],
  ["x-frame-options", "DENY"],
] as const;
const file = await Deno.open(Deno.env.get("AUDIT_FILE") ?? await Deno.makeTempFile(), {
  append: true,
  create: true,
});
let head = "0".repeat(64);
let lines: string[] = [];
let writing = false;

async function flush(): Promise<void> {
  if (writing || lines.length === 0) return;
  writing = true;
  const text = lines.join("");
  lines = [];
  try {
    const bytes = encoder.encode(text);
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
  } finally {
    writing = false;
  }
}
setInterval(() => void flush(), 20);

// As the gateway does: the security headers set once the response is built.
function answer(body: unknown, status: number): Response {
  const response = new Response(JSON.stringify(body), { status, headers: JSON_TYPE });
  for (const [name, value] of SECURITY_HEADERS) response.headers.set(name, value);
  return response;
}

function refuse(status: number, reason: string): Response {
  return answer({ allowed: false, reason }, status);
}

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? "0"),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, async (request) => {
  if (!request.headers.get("content-type")?.startsWith("application/json")) {
    return refuse(415, "Content-Type must be application/json");
  }
  let body: { model_id?: unknown; session_id?: unknown; tool_name?: unknown; input?: unknown };
  try {
    body = await request.json();
  } catch {
    return refuse(400, "request body is not valid JSON");
  }
  const eventId = crypto.randomUUID();
  const payload = JSON.stringify(body.input ?? null);
  const prefix = `{"timestamp":"${new Date().toISOString()}","event_id":"${eventId}",` +
    `"event":"toolcall","model_id":${JSON.stringify(body.model_id)},"session_id":${
      JSON.stringify(body.session_id)
    },"tool_name":${JSON.stringify(body.tool_name)},"payload":${payload},"payload_sha256":"${
      sha256(payload)
    }","status":"allowed","reason_code":"ok","prev_hash":"${head}"`;
  head = sha256(`${prefix}}`);
  lines.push(`${prefix},"hash":"${head}"}\n`);
  return answer({
    allowed: true,
    status: "allowed",
    reason_code: "ok",
    reason: "allowed",
    event_id: eventId,
  }, 200);
});
