/** Upstreams added, changed and removed by a policy reload take effect without a restart. */
import { expect } from "expect";
import { startFixtureHttpServer } from "../fixtures/http_server.ts";
import { startTestGateway, TEST_ADMIN_TOKEN } from "../harness.ts";
import { connectClient } from "../mcp_client.ts";

const BASE = `
defaults:
  timezone: UTC
rules:
  - model: "*"
    allow_tools: ["*"]
`;

Deno.test("a reload adds, swaps and removes upstreams while sessions keep working", async () => {
  const one = startFixtureHttpServer();
  const two = startFixtureHttpServer();
  const gw = await startTestGateway({ policy: BASE });
  const agent = await connectClient(gw.url, { "x-model-id": "m" });
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const reload = async (policy: string) => {
    await Deno.writeTextFile(gw.policyPath, policy);
    const response = await fetch(gw.url + "/reload", {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
    });
    expect(response.status).toBe(200);
    await response.body?.cancel();
  };
  const names = async () =>
    (await agent.client.listTools()).tools.map((t: { name: string }) => t.name).sort();
  try {
    expect(await names()).toEqual([]);
    await reload(`${BASE}upstreams:\n  cal:\n    url: "${one.url}"\n`);
    expect(await names()).toContain("cal.echo");
    const first = await agent.client.callTool({ name: "cal.echo", arguments: { text: "1" } });
    expect(first.structuredContent).toEqual({ text: "1" });
    const sessionsBefore = one.stats.sessionIds.length;

    // changed upstream (new URL): the old client is closed, the new one starts lazily
    await reload(`${BASE}upstreams:\n  cal:\n    url: "${two.url}"\n`);
    const second = await agent.client.callTool({ name: "cal.echo", arguments: { text: "2" } });
    expect(second.structuredContent).toEqual({ text: "2" });
    expect(two.stats.sessionIds.length).toBeGreaterThan(0);
    expect(one.stats.deletes).toBeGreaterThanOrEqual(1);
    expect(one.stats.sessionIds.length).toBe(sessionsBefore);

    // removed: its tools disappear and calls are unknown
    await reload(BASE);
    expect(await names()).toEqual([]);
    const gone = await agent.client.callTool({ name: "cal.echo", arguments: { text: "3" } });
    expect(gone.isError).toBe(true);
    expect(JSON.stringify(gone.content)).toMatch(/unknown tool/i);
    const upstreams = await (await fetch(gw.url + "/upstreams", { headers: admin })).json();
    expect(upstreams).toEqual({ upstreams: [], resource_clashes: [] });
  } finally {
    await agent.close();
    await gw.close();
    await one.close();
    await two.close();
  }
});
