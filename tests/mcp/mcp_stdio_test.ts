/** stdio upstreams through the gateway: a shared process, id routing, isolation, crashes. */
import { expect } from "expect";
import { stdioFixtureCommand } from "../fixtures/stdio_server.ts";
import { startTestGateway } from "../harness.ts";
import { connectClient } from "../mcp_client.ts";

function policy(command: string[], name = "local") {
  return `
defaults:
  timezone: UTC
rules:
  - model: "*"
    allow_tools: ["*"]
upstreams:
  ${name}:
    command: ${JSON.stringify(command)}
    env: { FIXTURE_GREETING: "configured" }
`;
}

type Decision = { reason_code: string };
const decisionOf = (result: Record<string, unknown>) =>
  (result._meta as Record<string, Decision>)["mcp-sec-gateway/decision"];

Deno.test("a stdio upstream is shared by sessions, isolated from the gateway's env, restarted after a crash", async () => {
  Deno.env.set("MCPSEC_GATEWAY_SECRET_FOR_TEST", "must-not-leak");
  const gw = await startTestGateway({ policy: policy(stdioFixtureCommand()) });
  const first = await connectClient(gw.url, { "x-model-id": "m1" });
  const second = await connectClient(gw.url, { "x-model-id": "m2" });
  try {
    const names = (await first.client.listTools()).tools.map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining(["local.echo", "local.crash", "local.env_keys"]));
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? first : second).client.callTool({
          name: "local.echo",
          arguments: { text: `call-${i}` },
        })),
    );
    expect(
      answers.map((a: { structuredContent?: unknown }) =>
        (a.structuredContent as { text: string }).text
      ),
    ).toEqual(
      Array.from({ length: 10 }, (_, i) => `call-${i}`),
    );
    const env = await first.client.callTool({ name: "local.env_keys", arguments: {} });
    const keys = (env.structuredContent as { keys: string[] }).keys;
    expect(keys).toContain("FIXTURE_GREETING");
    expect(keys).toContain("PATH");
    expect(keys).not.toContain("MCPSEC_GATEWAY_SECRET_FOR_TEST");
    expect(keys).not.toContain("ADMIN_TOKEN");

    const crashed = await first.client.callTool({ name: "local.crash", arguments: {} });
    expect(crashed.isError).toBe(true);
    expect(decisionOf(crashed).reason_code).toBe("upstream_error");
    const after = await second.client.callTool({ name: "local.echo", arguments: { text: "back" } });
    expect(after.structuredContent).toEqual({ text: "back" });
    const events = await gw.logs("&event=toolcall&tool_name=local.crash");
    expect(events.map((e) => [e.status, e.reason_code])).toEqual([
      ["forwarded", "ok"],
      ["error", "upstream_error"],
    ]);
  } finally {
    Deno.env.delete("MCPSEC_GATEWAY_SECRET_FOR_TEST");
    await first.close();
    await second.close();
    await gw.close();
  }
});

Deno.test("the reference server-everything runs as a stdio upstream behind the gateway", async () => {
  const npx = await new Deno.Command("npx", { args: ["--version"], stdout: "null", stderr: "null" })
    .output().catch(() => undefined);
  if (!npx?.success) {
    console.log("SKIPPED server-everything test: npx (Node.js) is not installed");
    return;
  }
  const command = ["npx", "-y", "@modelcontextprotocol/server-everything@2026.8.31", "stdio"];
  const gw = await startTestGateway({
    policy: policy(command, "everything").replace(
      'allow_tools: ["*"]',
      'allow_tools: ["everything.*"]\n    deny_tools: ["everything.trigger-long-running-operation"]',
    ),
    env: { UPSTREAM_START_TIMEOUT_MS: "120000" },
  });
  const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
  try {
    const names = (await agent.client.listTools()).tools.map((t: { name: string }) => t.name);
    expect(names).toContain("everything.echo");
    expect(names).not.toContain("everything.trigger-long-running-operation");
    const echo = await agent.client.callTool({
      name: "everything.echo",
      arguments: { message: "through the gateway" },
    });
    expect(echo.isError).toBeFalsy();
    expect(JSON.stringify(echo.content)).toContain("through the gateway");
    const invalid = await agent.client.callTool({ name: "everything.echo", arguments: {} });
    expect(decisionOf(invalid).reason_code).toBe("input_invalid");
    const health = await (await fetch(gw.url + "/healthz", {
      headers: { authorization: `Bearer ${gw.adminToken}` },
    })).json();
    expect(health.upstreams.everything).toBe("up");
  } finally {
    await agent.close();
    await gw.close();
  }
});
