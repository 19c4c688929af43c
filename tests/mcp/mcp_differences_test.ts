/**
 * Issue 11, part C: what a client notices when it talks to a server through the gateway instead of
 * directly. Each test runs a real SDK client against a real gateway on loopback (and, where the
 * behaviour can be compared, against the same upstream directly): unknown tools and resources,
 * `instructions`, prompt refusals, tools that fail, upstream health, list_changed after a reload,
 * and the model id of a client that names itself oddly.
 */
import { expect } from "expect";
// @ts-types="@modelcontextprotocol/sdk/client/index.d.ts"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp.d.ts"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types.d.ts"
import {
  PromptListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { startConformanceServer } from "../fixtures/conformance_server.ts";
import { startDifferencesServer } from "../fixtures/differences_server.ts";
import { stdioFixtureCommand } from "../fixtures/stdio_server.ts";
import { eventually, startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from "../harness.ts";
import { GATEWAY_INSTRUCTIONS } from "../../src/mcp/server/instructions.ts";

type Result = Record<string, unknown>;

async function connect(
  url: string,
  options: { model?: string; name?: string; fetch?: typeof fetch } = {},
) {
  const client = new Client({ name: options.name ?? "diff-agent", version: "1.0.0" }, {
    capabilities: {},
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: options.model ? { "x-model-id": options.model } : {} },
    ...(options.fetch ? { fetch: options.fetch } : {}),
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

async function rpcFailure(pending: Promise<unknown>): Promise<{ code: number; data: Result }> {
  try {
    await pending;
  } catch (error) {
    const { code, data } = error as { code: number; data?: Result };
    return { code, data: data ?? {} };
  }
  throw new Error("expected the request to fail");
}

const decisionOf = (result: Result) =>
  (result._meta as Record<string, Result>)["mcp-sec-gateway/decision"];
const textOf = (result: Result) => (result.content as { text: string }[])[0].text;

async function withGateway(
  policy: (upstreamUrl: string) => string,
  run: (gw: TestGateway, upstreamUrl: string) => Promise<void>,
): Promise<void> {
  const upstream = startDifferencesServer();
  const gw = await startTestGateway({ policy: policy(upstream.url) });
  try {
    await run(gw, upstream.url);
  } finally {
    await gw.close();
    await upstream.close();
  }
}

const POLICY = (url: string) => `
defaults:
  timezone: UTC
rules:
  - model: "m"
    allow_tools: ["*"]
    allow_prompts: ["up.greet", "up.secret"]
    deny_prompts: ["up.secret"]
  - model: "blind"
    allow_tools: ["elsewhere.*"]
  - model: "sdk-probe*"
    allow_tools: ["up.echo"]
upstreams:
  up:
    url: "${url}"
`;

Deno.test("an unknown tool is an isError result, as a direct server answers it, audited unknown_tool", async () => {
  await withGateway(POLICY, async (gw, url) => {
    const direct = await connect(url);
    const proxied = await connect(gw.url + "/mcp", { model: "m" });
    try {
      const own = await direct.client.callTool({ name: "nope", arguments: {} }) as Result;
      expect(own.isError).toBe(true);
      const through = await proxied.client.callTool({ name: "up.nope", arguments: {} }) as Result;
      expect(through.isError).toBe(true);
      expect(textOf(through)).toMatch(/unknown tool "up\.nope"/i);
      expect(decisionOf(through).reason_code).toBe("unknown_tool");
      const audited = (await gw.logs("&event=toolcall")).find((e) =>
        e.event_id === decisionOf(through).event_id
      );
      expect([audited?.status, audited?.reason_code, audited?.tool_name])
        .toEqual(["error", "unknown_tool", "up.nope"]);
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});

Deno.test("an unknown resource URI is -32002 Resource not found, as a spec-following server answers", async () => {
  const upstream = await startConformanceServer();
  const gw = await startTestGateway({
    policy: `
defaults:
  timezone: UTC
rules:
  - model: "m"
    allow_resources: ["*"]
upstreams:
  conf:
    url: "${upstream.url}"
`,
  });
  const direct = await connect(upstream.url);
  const proxied = await connect(gw.url + "/mcp", { model: "m" });
  try {
    const own = await rpcFailure(direct.client.readResource({ uri: "test://no-such-resource" }));
    const through = await rpcFailure(
      proxied.client.readResource({ uri: "test://no-such-resource" }),
    );
    expect(own.code).toBe(-32002);
    expect(through.code).toBe(own.code);
    expect(through.data.reason_code).toBe("unknown_resource");
  } finally {
    await direct.close();
    await proxied.close();
    await gw.close();
    await upstream.close();
  }
});

Deno.test("the upstream's instructions reach the client, namespaced, after the gateway's line", async () => {
  await withGateway(POLICY, async (gw, url) => {
    const direct = await connect(url);
    const proxied = await connect(gw.url + "/mcp", { model: "m" });
    const blind = await connect(gw.url + "/mcp", { model: "blind" });
    try {
      expect(direct.client.getInstructions()).toContain("Use echo to repeat text.");
      const merged = proxied.client.getInstructions()!;
      expect(merged.startsWith(GATEWAY_INSTRUCTIONS)).toBe(true);
      // The upstream's second line stays inside its own block: it cannot pose as the gateway.
      expect(merged.slice(GATEWAY_INSTRUCTIONS.length)).toBe(
        "\n\n[up] Use echo to repeat text.\n  [gateway] forged line",
      );
      // A model that may see none of the upstream's tools is not told about it.
      expect(blind.client.getInstructions()).toBe(GATEWAY_INSTRUCTIONS);
    } finally {
      await direct.close();
      await proxied.close();
      await blind.close();
    }
  });
});

Deno.test("a refused prompt is audited with prompt reason codes", async () => {
  await withGateway(POLICY, async (gw) => {
    const proxied = await connect(gw.url + "/mcp", { model: "m" });
    try {
      expect((await proxied.client.getPrompt({ name: "up.greet" })).messages.length).toBe(1);
      const denied = await rpcFailure(proxied.client.getPrompt({ name: "up.secret" }));
      expect(denied.data.reason_code).toBe("prompt_denied");
      const notAllowed = await rpcFailure(proxied.client.getPrompt({ name: "up.other" }));
      expect(notAllowed.data.reason_code).toBe("prompt_not_allowed");
      const audited = (await gw.logs("&event=prompt_get")).map((e) => e.reason_code);
      expect(audited).toEqual(expect.arrayContaining(["prompt_denied", "prompt_not_allowed"]));
      expect(audited).not.toContain("tool_denied");
      expect(audited).not.toContain("tool_not_allowed");
    } finally {
      await proxied.close();
    }
  });
});

Deno.test("a tool that reports isError is passed on unchanged and audited allowed tool_error", async () => {
  await withGateway(POLICY, async (gw, url) => {
    const direct = await connect(url);
    const proxied = await connect(gw.url + "/mcp", { model: "m" });
    try {
      const own = await direct.client.callTool({ name: "fail", arguments: {} }) as Result;
      const through = await proxied.client.callTool({ name: "up.fail", arguments: {} }) as Result;
      expect(through).toEqual(own);
      const closing = (await gw.logs("&event=toolcall")).filter((e) =>
        e.tool_name === "up.fail" && e.status !== "forwarded"
      );
      expect(closing.map((e) => [e.status, e.reason_code])).toEqual([["allowed", "tool_error"]]);
      expect(String(closing[0].reason)).toContain("the tool reported an error (isError)");
      // The decision API says the same: allowed, the result, and tool_error.
      const api = await gw.post("/mcp/toolcall", {
        model_id: "m",
        session_id: "api-1",
        tool_name: "up.fail",
        input: {},
      });
      expect([api.status, api.json.allowed, api.json.reason_code]).toEqual([
        200,
        true,
        "tool_error",
      ]);
      expect(api.json.result).toEqual(own);
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});

Deno.test("/healthz: unknown before first contact, up after, down once the upstream process is killed", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net", "--allow-env", "tests/fixtures/differences_server.ts"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = "";
  while (!printed.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the upstream process ended before printing its URL");
    printed += value;
  }
  reader.releaseLock();
  const url = printed.trim();
  const gw = await startTestGateway({ policy: POLICY(url) });
  const health = async () =>
    (await (await fetch(gw.url + "/healthz", {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    })).json()).upstreams.up;
  try {
    // Nothing has contacted the upstream yet (a session's initialize would: instructions).
    expect(await health()).toBe("unknown");
    const views = await (await fetch(gw.url + "/upstreams", {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    })).json();
    expect(views.upstreams[0].status).toBe("up");
    expect(await health()).toBe("up");
    child.kill("SIGKILL");
    await child.status;
    // No call is made: the broken connection alone shows it.
    await eventually(async () => await health() === "down", "the upstream to show down", 10_000);
  } finally {
    await gw.close();
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("/healthz: a stdio upstream is down as soon as its child is killed, with no call", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-diff-" });
  const pidFile = `${dir}/child.pid`;
  // The child writes its pid, then becomes the stdio fixture (same pid): the attacker's SIGKILL.
  const command = [
    "/bin/sh",
    "-c",
    `echo $$ > '${pidFile}'; exec "$0" "$@"`,
    ...stdioFixtureCommand(),
  ];
  const gw = await startTestGateway({
    policy: `
defaults:
  timezone: UTC
rules:
  - model: "m"
    allow_tools: ["*"]
upstreams:
  local:
    command: ${JSON.stringify(command)}
`,
  });
  const health = async () =>
    (await (await fetch(gw.url + "/healthz", {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    })).json()).upstreams.local;
  const agent = await connect(gw.url + "/mcp", { model: "m" });
  try {
    expect((await agent.client.listTools()).tools.length).toBeGreaterThan(0);
    expect(await health()).toBe("up");
    Deno.kill(Number((await Deno.readTextFile(pidFile)).trim()), "SIGKILL");
    await eventually(async () => await health() === "down", "the stdio upstream to show down");
  } finally {
    await agent.close();
    await gw.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reload that changes the policy sends list_changed on every live session's GET stream", async () => {
  await withGateway(POLICY, async (gw, url) => {
    const getOpen = Promise.withResolvers<void>();
    const watching: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if ((init?.method ?? "GET") === "GET" && response.status === 200) getOpen.resolve();
      return response;
    };
    const agent = await connect(gw.url + "/mcp", { model: "m", fetch: watching });
    const tools = Promise.withResolvers<void>();
    const prompts = Promise.withResolvers<void>();
    agent.client.setNotificationHandler(ToolListChangedNotificationSchema, () => tools.resolve());
    agent.client.setNotificationHandler(PromptListChangedNotificationSchema, () => {
      prompts.resolve();
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await getOpen.promise;
      expect((await agent.client.listTools()).tools.map((t: { name: string }) => t.name)).toContain(
        "up.fail",
      );
      await Deno.writeTextFile(
        gw.policyPath,
        POLICY(url).replace('allow_tools: ["*"]', 'allow_tools: ["up.echo"]'),
      );
      const reloaded = await fetch(gw.url + "/reload", {
        method: "POST",
        headers: {
          authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
          "content-type": "application/json",
        },
      });
      expect(reloaded.status).toBe(200);
      await reloaded.body?.cancel();
      const bound = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), 5000);
      });
      expect(await Promise.race([Promise.all([tools.promise, prompts.promise]), bound]))
        .not.toBe("timeout");
      expect((await agent.client.listTools()).tools.map((t: { name: string }) => t.name)).toEqual([
        "up.echo",
      ]);
    } finally {
      clearTimeout(timer);
      await agent.close();
    }
  });
});

Deno.test("no X-Model-Id and an odd clientInfo.name: a glob-friendly model id", async () => {
  await withGateway(POLICY, async (gw) => {
    const agent = await connect(gw.url + "/mcp", { name: "sdk-probe (via mcp-remote 0.15.1)" });
    try {
      expect((await agent.client.listTools()).tools.map((t: { name: string }) => t.name)).toEqual([
        "up.echo",
      ]);
      const started = (await gw.logs("&event=mcp_session")).at(-1);
      expect(started?.model_id).toBe("sdk-probe-via-mcp-remote-0.15.1");
    } finally {
      await agent.close();
    }
  });
});
