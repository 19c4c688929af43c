/**
 * The gateway's tool catalog is read on an upstream session that declares every client capability
 * the gateway relays (sampling, elicitation form and url, roots), because servers list some tools
 * only to clients that declared them (server-everything: `trigger-sampling-request`, …). Before,
 * it declared nothing and a client that declared them never saw those tools (issue 11).
 */
import { expect } from "expect";
import { initializeAnswer, type RawCall, startRawHttpServer } from "../fixtures/raw_http_server.ts";
import { connectClient } from "../mcp_client.ts";
import { startTestGateway } from "../harness.ts";

const tool = (name: string) => ({ name, inputSchema: { type: "object", properties: {} } });

Deno.test("a tool the upstream lists only to clients that declared sampling is in the catalog", async () => {
  const declared = new Map<string, Record<string, unknown>>();
  let sessions = 0;
  const upstream = startRawHttpServer((call: RawCall) => {
    const method = call.body?.method;
    if (call.httpMethod === "POST" && method === "initialize") {
      const id = `session-${++sessions}`;
      const params = call.body!.params as { capabilities?: Record<string, unknown> };
      declared.set(id, params.capabilities ?? {});
      return initializeAnswer(call.body!.id, id);
    }
    if (call.httpMethod === "POST" && call.body !== undefined && !("id" in call.body)) {
      return new Response(null, { status: 202 });
    }
    if (call.httpMethod === "POST" && method === "tools/list") {
      const caps = declared.get(call.headers.get("mcp-session-id") ?? "") ?? {};
      const tools = [tool("plain"), ...(caps.sampling ? [tool("needs-sampling")] : [])];
      return Response.json({ jsonrpc: "2.0", id: call.body!.id, result: { tools } });
    }
    if (call.httpMethod === "GET") return new Response(null, { status: 405 });
    return new Response(null, { status: 200 });
  });
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
upstreams:
  up:
    url: "${upstream.url}"
`,
  });
  const agent = await connectClient(gw.url);
  try {
    const names = (await agent.client.listTools()).tools.map((t: { name: string }) => t.name);
    expect(names.sort()).toEqual(["up.needs-sampling", "up.plain"]);
    expect([...declared.values()][0]).toEqual({
      sampling: {},
      elicitation: { form: {}, url: {} },
      roots: {},
    });
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});
