/**
 * Secrets never echoed (§12), attacked through both doors: a hostile upstream that echoes the
 * request headers it received (the gateway's upstream credential among them) and quotes the
 * `password` argument in its errors. Neither value may reach the agent, `/logs`, the audit file
 * or `/metrics`.
 */
import { expect } from "expect";
import { connectClient } from "../mcp_client.ts";
import { startHostileUpstream } from "../fixtures/hostile_upstream.ts";
import { eventually, startTestGateway, TEST_ADMIN_TOKEN } from "../harness.ts";

const UPSTREAM_TOKEN = "upstream-cred-7f3a9c2e51b84d06";
const PASSWORD = "hunter2-Pa55w0rd-Xq";

function policy(url: string): string {
  return `defaults:
  timezone: UTC
rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*"]
upstreams:
  calendar:
    url: "${url}"
    headers: { Authorization: "Bearer \${H5_UPSTREAM_TOKEN}" }
`;
}

/** Every place a secret leaked, so that a failure names all of them at once. */
function leaksIn(what: string, text: string, leaks: string[]): void {
  if (text.includes(UPSTREAM_TOKEN)) leaks.push(`${what}: upstream token`);
  if (text.includes(PASSWORD)) leaks.push(`${what}: password`);
}

Deno.test("a hostile upstream cannot make the gateway echo its credential or the caller's password", async () => {
  const upstream = startHostileUpstream();
  const gw = await startTestGateway({
    policy: policy(upstream.url),
    env: { H5_UPSTREAM_TOKEN: UPSTREAM_TOKEN },
  });
  const leaks: string[] = [];
  let echoedText = "";
  const expectClean = (what: string, text: string) => leaksIn(what, text, leaks);
  try {
    // --- through the MCP proxy ---
    const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
    try {
      const echoed = await agent.client.callTool({ name: "calendar.echo_headers", arguments: {} });
      expect(echoed.isError).toBeFalsy();
      expectClean("proxy echo_headers result", JSON.stringify(echoed));
      echoedText = JSON.stringify(echoed);
      for (const name of ["calendar.fail_password", "calendar.error_password"]) {
        const failed = await agent.client.callTool({
          name,
          arguments: { user: "admin", password: PASSWORD },
        });
        expect(failed.isError).toBe(true);
        expect(JSON.stringify(failed)).toMatch(/password|Upstream failure/);
        expectClean(`proxy ${name} result`, JSON.stringify(failed));
      }
    } finally {
      await agent.close();
    }

    // --- through the decision API's execution (§4) ---
    for (const tool of ["echo_headers", "fail_password", "error_password"]) {
      const response = await fetch(gw.url + "/mcp/toolcall", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model_id: "gpt-4o",
          session_id: "s-secrets",
          tool_name: `calendar.${tool}`,
          input: { user: "admin", password: PASSWORD },
        }),
      });
      const text = await response.text();
      expect(text).toContain("event_id");
      expectClean(`decision API ${tool} answer`, text);
    }
    // 6 calls reached the upstream: the credential and the password were really sent out.
    expect(upstream.methods.filter((method) => method === "tools/call")).toHaveLength(6);

    // --- /logs, the audit file, /metrics ---
    const logs = await gw.logs();
    expect(logs.filter((e) => e.event === "toolcall").length).toBeGreaterThanOrEqual(6);
    expectClean("/logs", JSON.stringify(logs));
    const lastId = logs.at(-1)!.event_id as string;
    let file = "";
    await eventually(async () => {
      file = await Deno.readTextFile(gw.auditPath).catch(() => "");
      return file.includes(lastId);
    }, "the audit lines to be written");
    expectClean("audit file", file);
    const metrics = await (await fetch(gw.url + "/metrics", {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    })).text();
    expect(metrics).toContain("mcpsec_decisions_total");
    expectClean("/metrics", metrics);
    expect(leaks).toEqual([]);
    // The upstream really got the credential; the agent sees where it was taken out.
    expect(echoedText).toContain("[REDACTED]");
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("credential-shaped text in an upstream error never reaches the agent or the audit", async () => {
  const upstream = startHostileUpstream();
  const gw = await startTestGateway({
    policy: policy(upstream.url),
    env: { H5_UPSTREAM_TOKEN: UPSTREAM_TOKEN },
  });
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVlLTEyMzQ";
  try {
    // The hostile upstream quotes the argument back; under a plain key name, only its shape can
    // tell that it is a credential.
    const response = await gw.post("/mcp/toolcall", {
      model_id: "gpt-4o",
      session_id: "s-shape",
      tool_name: "calendar.fail_password",
      input: { note: `Bearer ${jwt}` },
    });
    expect(response.json.reason_code).toBe("upstream_error");
    expect(String(response.json.reason)).toContain("invalid password");
    expect(JSON.stringify(response.json)).not.toContain(jwt);
    expect(JSON.stringify(await gw.logs())).not.toContain(jwt);
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("an upstream cannot leak the gateway's credential through tools/list either", async () => {
  const upstream = startHostileUpstream();
  const gw = await startTestGateway({
    policy: policy(upstream.url),
    env: { H5_UPSTREAM_TOKEN: UPSTREAM_TOKEN },
  });
  try {
    const agent = await connectClient(gw.url, { "x-model-id": "gpt-4o" });
    try {
      const listed = await agent.client.listTools();
      const leaky = listed.tools.find((tool: { name: string }) => tool.name === "calendar.leaky") as
        | { description?: string }
        | undefined;
      expect(leaky?.description).toBe("authorized with [REDACTED]");
      expect(JSON.stringify(listed)).not.toContain(UPSTREAM_TOKEN);
    } finally {
      await agent.close();
    }
    const upstreams = await (await fetch(gw.url + "/upstreams", {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    })).text();
    expect(upstreams).toContain("leaky");
    expect(upstreams).not.toContain(UPSTREAM_TOKEN);
  } finally {
    await gw.close();
    await upstream.close();
  }
});
