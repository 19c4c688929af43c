/**
 * Published MCP servers from npm (tests/fixtures/published_servers.ts) federated at once behind
 * one gateway: server-everything over stdio and over Streamable HTTP, server-filesystem and
 * server-memory, each used through the gateway with the SDK client and compared with the same
 * client talking to the server directly (issue 11). SKIPPED with the reason when npx or the npm
 * registry is missing.
 */
import { expect } from "expect";
// @ts-types="@modelcontextprotocol/sdk/client/index.d.ts"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp.d.ts"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  everythingStdio,
  filesystemStdio,
  memoryStdio,
  publishedUnavailable,
  SERVER_EVERYTHING,
  SERVER_FILESYSTEM,
  SERVER_MEMORY,
  startEverythingHttp,
  type StdioServer,
} from "../fixtures/published_servers.ts";
import { startTestGateway } from "../harness.ts";

type Content = { type: string; text?: string }[];
/** What a full-featured agent declares (server-everything lists some tools only to such). */
const CAPABILITIES = { sampling: {}, elicitation: {}, roots: { listChanged: true } };

const textOf = (result: Record<string, unknown>) =>
  (result.content as Content).map((part) => part.text ?? "").join("\n");

function stdioUpstream(name: string, server: StdioServer): string {
  const env = Object.keys(server.env).length ? `\n    env: ${JSON.stringify(server.env)}` : "";
  return `  ${name}:\n    command: ${JSON.stringify(server.command)}${env}`;
}

Deno.test("published servers: everything (stdio + HTTP), filesystem and memory behind one gateway", async () => {
  for (const pkg of [SERVER_EVERYTHING, SERVER_FILESYSTEM, SERVER_MEMORY]) {
    const skipped = await publishedUnavailable(pkg);
    if (skipped !== undefined) {
      console.log(`SKIPPED published servers behind the gateway: ${skipped}`);
      return;
    }
  }
  const http = await startEverythingHttp();
  const fs = await filesystemStdio();
  const memory = await memoryStdio();
  const everything = everythingStdio();
  const direct = new Client({ name: "direct-agent", version: "1.0.0" }, {
    capabilities: CAPABILITIES,
  });
  const directTransport = new StreamableHTTPClientTransport(new URL(http.url));
  let gw: Awaited<ReturnType<typeof startTestGateway>> | undefined;
  const agent = new Client({ name: "published-agent", version: "1.0.0" }, {
    capabilities: CAPABILITIES,
  });
  let agentTransport: StreamableHTTPClientTransport | undefined;
  try {
    // the HTTP server is bound to loopback only and speaks MCP directly
    expect(new URL(http.url).hostname).toBe("127.0.0.1");
    await direct.connect(directTransport);
    const directTools = (await direct.listTools()).tools.map((t: { name: string }) =>
      t.name
    ) as string[];
    expect(directTools).toContain("echo");
    const directEcho = await direct.callTool({ name: "echo", arguments: { message: "direct" } });

    gw = await startTestGateway({
      policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
    allow_resources: ["*"]
upstreams:
  web:
    url: "${http.url}"
${stdioUpstream("local", everything)}
${stdioUpstream("fs", fs)}
${stdioUpstream("memory", memory)}
`,
      env: { UPSTREAM_START_TIMEOUT_MS: "180000" },
    });
    agentTransport = new StreamableHTTPClientTransport(new URL(gw.url + "/mcp"));
    await agent.connect(agentTransport);
    const names = (await agent.listTools()).tools.map((t: { name: string }) => t.name) as string[];
    expect(names).toEqual(
      expect.arrayContaining([
        "web.echo",
        "local.echo",
        "fs.read_text_file",
        "memory.create_entities",
        "memory.read_graph",
      ]),
    );
    // what the direct client sees of server-everything over HTTP, under the gateway's prefix
    const webTools = names.filter((name) => name.startsWith("web.")).map((name) => name.slice(4));
    console.log(
      `server-everything over HTTP: ${directTools.length} tools direct, ${webTools.length} ` +
        `through the gateway; missing: ${
          directTools.filter((name) => !webTools.includes(name)).join(", ") || "none"
        }`,
    );

    const webEcho = await agent.callTool({
      name: "web.echo",
      arguments: { message: "direct" },
    });
    expect(webEcho.content).toEqual(directEcho.content);
    const localEcho = await agent.callTool({
      name: "local.echo",
      arguments: { message: "over stdio" },
    });
    expect(textOf(localEcho)).toBe("Echo: over stdio");

    const read = await agent.callTool({
      name: "fs.read_text_file",
      arguments: { path: `${fs.dir}/hello.txt` },
    });
    expect(read.isError).toBeFalsy();
    expect(textOf(read)).toContain("hello from the filesystem server");

    const created = await agent.callTool({
      name: "memory.create_entities",
      arguments: {
        entities: [{ name: "gateway", entityType: "software", observations: ["federates"] }],
      },
    });
    expect(created.isError).toBeFalsy();
    const graph = await agent.callTool({ name: "memory.read_graph", arguments: {} });
    expect(textOf(graph)).toContain("federates");
    expect(await Deno.readTextFile(memory.file)).toContain('"name":"gateway"');
  } finally {
    await agentTransport?.terminateSession().catch(() => {});
    await agent.close();
    await gw?.close();
    await directTransport.terminateSession().catch(() => {});
    await direct.close();
    await http.close();
    await fs.cleanup();
    await memory.cleanup();
  }
});
