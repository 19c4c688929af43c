// Scenarios (c) and (d) of `deno task bench`: a tiny, fast Streamable HTTP MCP server. JSON
// answers only (no SSE), sessions issued at `initialize` and checked afterwards, one tool
// `echo`. Prints `listening <port>` on stdout once it accepts connections.
//   PORT=0 deno run --allow-net --allow-env bench/servers/upstream_server.ts

const PROTOCOL_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"];
const JSON_HEADERS = { "content-type": "application/json" };
const ECHO_TOOL = {
  name: "echo",
  description: "Echoes its text argument.",
  inputSchema: {
    type: "object",
    properties: { text: { type: "string", maxLength: 1000 } },
    required: ["text"],
  },
};
const sessions = new Set<string>();

function rpc(id: unknown, result: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id, result }), {
    headers: { ...JSON_HEADERS, ...headers },
  });
}

function rpcError(status: number, id: unknown, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id, error: { code, message } }), {
    status,
    headers: JSON_HEADERS,
  });
}

function initialize(message: Record<string, unknown>): Response {
  const params = (message.params ?? {}) as Record<string, unknown>;
  const asked = String(params.protocolVersion ?? "");
  const id = crypto.randomUUID();
  sessions.add(id);
  return rpc(message.id, {
    protocolVersion: PROTOCOL_VERSIONS.includes(asked) ? asked : PROTOCOL_VERSIONS[0],
    capabilities: { tools: { listChanged: false } },
    serverInfo: { name: "bench-upstream", version: "1.0.0" },
  }, { "mcp-session-id": id });
}

function call(message: Record<string, unknown>): Response {
  const params = (message.params ?? {}) as Record<string, unknown>;
  if (params.name !== "echo") return rpcError(200, message.id, -32602, "unknown tool");
  const args = (params.arguments ?? {}) as Record<string, unknown>;
  return rpc(message.id, { content: [{ type: "text", text: String(args.text ?? "") }] });
}

async function handle(request: Request): Promise<Response> {
  const session = request.headers.get("mcp-session-id");
  if (request.method === "DELETE") {
    if (session !== null) sessions.delete(session);
    return new Response(null, { status: 200 });
  }
  if (request.method !== "POST") return new Response(null, { status: 405 });
  let message: Record<string, unknown>;
  try {
    message = await request.json();
  } catch {
    return rpcError(400, null, -32700, "parse error");
  }
  if (message.method === "initialize") return initialize(message);
  if (session === null) return rpcError(400, null, -32000, "Mcp-Session-Id required");
  if (!sessions.has(session)) return rpcError(404, null, -32001, "session not found");
  if (message.id === undefined) return new Response(null, { status: 202 });
  switch (message.method) {
    case "tools/call":
      return call(message);
    case "tools/list":
      return rpc(message.id, { tools: [ECHO_TOOL] });
    case "ping":
      return rpc(message.id, {});
    default:
      return rpcError(200, message.id, -32601, "method not found");
  }
}

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? "0"),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, handle);
