/** The four loads of `deno task bench`: policy, schema, request bodies and MCP sessions. */
import type { RequestSpec } from "./load_spec.ts";

/** The protocol version the benchmark's MCP clients speak. */
export const BENCH_PROTOCOL_VERSION = "2025-11-25";

/** The model every benchmark request acts as. */
export const BENCH_MODEL = "gpt-4o";

/** The shipped-style policy: a gpt-4* rule with allow/deny globs, a cap high enough for the
 * run, rate windows, active hours in a named zone, and the benchmark upstream. */
export function benchPolicy(upstreamUrl: string): string {
  return `# Written by bench/main.ts for one run.
defaults:
  unknown_schema: allow
  timezone: "UTC"
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*", "bench.*"]
    deny_tools: ["db.write*", "calendar.delete*"]
    max_calls_per_session: 100000000
    active_hours: "00:00-24:00"
    rate_limit:
      per_session: "100000000/minute"
      per_model: "1000000000/minute"
  - model: "claude-*"
    allow_tools: ["search.*"]
    max_calls_per_session: 100
upstreams:
  bench:
    url: ${JSON.stringify(upstreamUrl)}
pinning:
  mode: block
`;
}

/** The draft-07 input schema of the decision API's tool (with a `date-time` field). */
export const BENCH_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  type: "object",
  required: ["title", "start_time"],
  properties: {
    title: { type: "string", maxLength: 200 },
    start_time: { type: "string", format: "date-time" },
    location: { type: "string" },
  },
} as const;

/** The decision API's tool (its schema file is `<tool>.json`). */
export const BENCH_TOOL = "calendar.create_event";

const JSON_HEADERS = { "Content-Type": "application/json" };

/** (a) and (b): the decision API body, sent to the bare handler and to `/mcp/toolcall`. */
export function decisionSpec(url: string): RequestSpec {
  return {
    url,
    headers: JSON_HEADERS,
    body: JSON.stringify({
      model_id: BENCH_MODEL,
      session_id: "bench-session-{{session}}",
      tool_name: BENCH_TOOL,
      input: { title: "Team sync", start_time: "2025-06-02T10:00:00Z", location: "Room 1" },
    }),
    sessions: 1000,
  };
}

/** (c) and (d): one `tools/call` in an MCP session (`tool` = `echo` direct, `bench.echo` via
 * the gateway). */
export function toolsCallSpec(url: string, sessionId: string, tool: string): RequestSpec {
  return {
    url,
    headers: {
      ...JSON_HEADERS,
      "Accept": "application/json, text/event-stream",
      "Mcp-Session-Id": sessionId,
      "MCP-Protocol-Version": BENCH_PROTOCOL_VERSION,
    },
    body: `{"jsonrpc":"2.0","id":{{id}},"method":"tools/call","params":{"name":${
      JSON.stringify(tool)
    },"arguments":{"text":"hello from the benchmark"}}}`,
  };
}

/** Opens an MCP session at `url` (initialize + notifications/initialized); returns its id. */
export async function openMcpSession(url: string): Promise<string> {
  const headers = {
    ...JSON_HEADERS,
    "Accept": "application/json, text/event-stream",
    "X-Model-Id": BENCH_MODEL,
  };
  const init = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: BENCH_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: BENCH_MODEL, version: "bench" },
      },
    }),
  });
  await init.body?.cancel();
  const sessionId = init.headers.get("mcp-session-id");
  if (!init.ok || sessionId === null) {
    throw new Error(`Cannot open an MCP session: initialize answered HTTP ${init.status}`);
  }
  const done = await fetch(url, {
    method: "POST",
    headers: {
      ...headers,
      "Mcp-Session-Id": sessionId,
      "MCP-Protocol-Version": BENCH_PROTOCOL_VERSION,
    },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await done.body?.cancel();
  if (!done.ok) {
    throw new Error(
      `Cannot open an MCP session: notifications/initialized got HTTP ${done.status}`,
    );
  }
  return sessionId;
}

/** Sends one request of `spec` and checks its answer (so a broken setup fails before loading). */
export async function probe(spec: RequestSpec, check: (body: string) => boolean): Promise<void> {
  const response = await fetch(spec.url, {
    method: "POST",
    headers: spec.headers as Record<string, string>,
    body: spec.body.replaceAll("{{id}}", "1").replaceAll("{{session}}", "probe"),
  });
  const text = await response.text();
  if (!response.ok || !check(text)) {
    throw new Error(
      `Cannot benchmark ${new URL(spec.url).pathname}: probe answered HTTP ${response.status}: ${
        text.slice(0, 300)
      }`,
    );
  }
}
