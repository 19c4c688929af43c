/** The full relay through the gateway with the official SDK client: prompts, resources,
 * completions, sampling and elicitation routed back to the client, list changes, resumption. */
import { expect } from "expect";
// @ts-types="@modelcontextprotocol/sdk/client/index.d.ts"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp.d.ts"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types.d.ts"
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { startConformanceServer } from "../fixtures/conformance_server.ts";
import { startFixtureHttpServer } from "../fixtures/http_server.ts";
import { eventually, startTestGateway } from "../harness.ts";

const POLICY = (url: string) => `
defaults:
  timezone: UTC
rules:
  - model: "*"
    allow_tools: ["conf.*"]
    allow_prompts: ["conf.*"]
    deny_prompts: ["conf.test_prompt_with_image"]
    allow_resources: ["test://*"]
upstreams:
  conformance:
    url: "${url}"
    prefix: "conf"
`;

async function connect(url: string, capabilities: Record<string, unknown>) {
  const client = new Client({ name: "relay-agent", version: "1.0.0" }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(url + "/mcp"), {
    requestInit: { headers: { "x-model-id": "gpt-4o" } },
  });
  await client.connect(transport);
  return {
    client,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

Deno.test("prompts, resources and completions are relayed, namespaced and filtered", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({ policy: POLICY(upstream.url) });
  const agent = await connect(gw.url, {});
  try {
    const { client } = agent;
    const prompts = (await client.listPrompts()).prompts.map((p: { name: string }) => p.name);
    expect(prompts.sort()).toEqual([
      "conf.test_prompt_with_arguments",
      "conf.test_prompt_with_embedded_resource",
      "conf.test_simple_prompt",
    ]);
    const got = await client.getPrompt({
      name: "conf.test_prompt_with_arguments",
      arguments: { arg1: "a", arg2: "b" },
    });
    expect(JSON.stringify(got.messages)).toContain("arg1='a', arg2='b'");
    await expect(client.getPrompt({ name: "conf.test_prompt_with_image" })).rejects.toThrow(
      /Blocked by MCP-Sec Gateway/,
    );
    const resources = (await client.listResources()).resources.map((r: { uri: string }) => r.uri);
    expect(resources).toEqual(
      expect.arrayContaining(["test://static-text", "test://static-binary"]),
    );
    const text = await client.readResource({ uri: "test://static-text" });
    expect(typeof (text.contents[0] as { text: string }).text).toBe("string");
    const binary = await client.readResource({ uri: "test://static-binary" });
    expect(typeof (binary.contents[0] as { blob: string }).blob).toBe("string");
    const templates = await client.listResourceTemplates();
    expect(templates.resourceTemplates.length).toBeGreaterThan(0);
    expect(await client.subscribeResource({ uri: "test://watched-resource" })).toEqual({});
    expect(await client.unsubscribeResource({ uri: "test://watched-resource" })).toEqual({});
    const completion = await client.complete({
      ref: { type: "ref/prompt", name: "conf.test_prompt_with_arguments" },
      argument: { name: "arg1", value: "" },
    });
    expect(Array.isArray(completion.completion.values)).toBe(true);
    const audit = await gw.logs();
    expect(audit.filter((e) => e.event === "prompt_get").map((e) => e.status)).toEqual([
      "allowed",
      "blocked",
    ]);
    expect(audit.filter((e) => e.event === "resource_read").length).toBe(2);
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("sampling and elicitation reach the client's handlers and answers go back upstream", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({ policy: POLICY(upstream.url) });
  const agent = await connect(gw.url, { sampling: {}, elicitation: {} });
  const bare = await connect(gw.url, {});
  try {
    const asked: string[] = [];
    agent.client.setRequestHandler(CreateMessageRequestSchema, (request: { params: unknown }) => {
      asked.push(JSON.stringify(request.params));
      return {
        role: "assistant",
        content: { type: "text", text: "the model's answer" },
        model: "test-model",
      };
    });
    agent.client.setRequestHandler(ElicitRequestSchema, () => ({
      action: "accept",
      content: { username: "ada", email: "ada@example.org" },
    }));
    const sampled = await agent.client.callTool({
      name: "conf.test_sampling",
      arguments: { prompt: "say hi" },
    });
    expect(JSON.stringify(sampled.content)).toContain("the model's answer");
    expect(asked[0]).toContain("say hi");
    const elicited = await agent.client.callTool({
      name: "conf.test_elicitation",
      arguments: { message: "Who are you?" },
    });
    expect(JSON.stringify(elicited.content)).toContain("ada");
    // a client that did not declare sampling is never asked; the upstream gets an error
    const refused = await bare.client.callTool({
      name: "conf.test_sampling",
      arguments: { prompt: "x" },
    });
    expect(JSON.stringify(refused)).not.toContain("the model's answer");
    const requests = await gw.logs("&event=mcp_request");
    expect(requests.map((e) => [(e.payload as { method: string }).method, e.status])).toEqual([
      ["sampling/createMessage", "allowed"],
      ["elicitation/create", "allowed"],
      ["sampling/createMessage", "blocked"],
    ]);
    expect(JSON.stringify(requests[1].payload)).toContain("Who are you?");
  } finally {
    await agent.close();
    await bare.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("an upstream's tools/list_changed reaches the client's GET stream", async () => {
  const upstream = startFixtureHttpServer();
  const gw = await startTestGateway({
    policy:
      `rules:\n  - model: "*"\n    allow_tools: ["*"]\nupstreams:\n  up:\n    url: "${upstream.url}"\n`,
  });
  const agent = await connect(gw.url, {});
  try {
    let changes = 0;
    agent.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    expect((await agent.client.listTools()).tools.length).toBeGreaterThan(0);
    await upstream.waitFor((stats) => stats.getStreams >= 1);
    await upstream.sendToolListChanged();
    await eventually(() => Promise.resolve(changes >= 1), "list_changed at the client");
  } finally {
    await agent.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("a client that drops a call's SSE stream resumes it with Last-Event-ID", async () => {
  const upstream = startFixtureHttpServer();
  const gw = await startTestGateway({
    policy:
      `rules:\n  - model: "*"\n    allow_tools: ["*"]\nupstreams:\n  up:\n    url: "${upstream.url}"\n`,
  });
  try {
    const headers = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "x-model-id": "m",
    };
    const init = await fetch(gw.url + "/mcp", {
      method: "POST",
      headers,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw" } },
      }),
    });
    await init.body?.cancel();
    const session = {
      ...headers,
      "mcp-session-id": init.headers.get("mcp-session-id")!,
      "mcp-protocol-version": "2025-11-25",
    };
    const call = await fetch(gw.url + "/mcp", {
      method: "POST",
      headers: session,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "up.progress", arguments: {}, _meta: { progressToken: "p1" } },
      }),
    });
    expect(call.headers.get("content-type")).toBe("text/event-stream");
    const reader = call.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/\nretry: \d+/.test(seen) || !/id: (s\d+\.[1-9]\d*)/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    const priming = /id: (s\d+\.0)\nretry: (\d+)\ndata: \n/.exec(seen);
    expect(priming).not.toBeNull();
    const firstId = /id: (s\d+\.1)\n/.exec(seen)![1];
    await reader.cancel();
    const resumed = await fetch(gw.url + "/mcp", {
      headers: { ...session, "last-event-id": firstId },
    });
    expect(resumed.status).toBe(200);
    const rest = await resumed.text();
    expect(rest).not.toContain(`id: ${firstId}\nevent`);
    expect(rest).toContain('"id":2');
    expect(rest).toContain('"result"');
    const unknown = await fetch(gw.url + "/mcp", {
      headers: { ...session, "last-event-id": "s999.1" },
    });
    expect(unknown.status).toBe(404);
    await unknown.body?.cancel();
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("a stdio upstream's sampling request reaches the one client whose call is running", async () => {
  const command = [
    Deno.execPath(),
    "run",
    "--quiet",
    "-A",
    "--config",
    new URL("../../deno.json", import.meta.url).pathname,
    new URL("../fixtures/conformance_server.ts", import.meta.url).pathname,
    "--stdio",
  ];
  const gw = await startTestGateway({
    policy: `
rules:
  - model: "*"
    allow_tools: ["*"]
upstreams:
  local:
    command: ${JSON.stringify(command)}
`,
  });
  const agent = await connect(gw.url, { sampling: {} });
  try {
    agent.client.setRequestHandler(CreateMessageRequestSchema, () => ({
      role: "assistant",
      content: { type: "text", text: "stdio sampled" },
      model: "test-model",
    }));
    const result = await agent.client.callTool({
      name: "local.test_sampling",
      arguments: { prompt: "hello" },
    });
    expect(JSON.stringify(result.content)).toContain("stdio sampled");
    const [asked] = await gw.logs("&event=mcp_request");
    expect(asked).toMatchObject({ status: "allowed" });
    expect((asked.payload as { upstream: string }).upstream).toBe("local");
  } finally {
    await agent.close();
    await gw.close();
  }
});
