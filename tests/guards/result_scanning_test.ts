/**
 * Result scanning (SPEC §15) through the real doors: an SDK client on `/mcp` against a real
 * hostile stdio upstream (tests/fixtures/poisoned_server.ts), and the decision API's
 * `/mcp/toolcall` (executed) and `/mcp/toolresult`. Three rules: the defaults (redact, flag),
 * block/block, and off/off.
 */
import { expect } from "expect";
import { startTestGateway, type TestGateway } from "../harness.ts";
import { connectClient } from "../mcp_client.ts";
import {
  LEAKED_AWS_KEY,
  LEAKED_GITHUB_TOKEN,
  POISONED_PAGE,
  poisonedFixtureCommand,
} from "../fixtures/poisoned_server.ts";

type Result = Record<string, unknown>;
type Decision = {
  reason_code: string;
  event_id: string;
  flags?: { secrets: string[]; injection: string[] };
};

const decisionOf = (result: Result) =>
  (result._meta as Record<string, Decision> | undefined)?.["mcp-sec-gateway/decision"];
const textOf = (result: Result) => (result.content as { text: string }[])[0].text;

const POLICY = `
defaults:
  timezone: UTC
rules:
  - model: "default-*"
    allow_tools: ["bad.*"]
    allow_prompts: ["bad.*"]
    allow_resources: ["memo://*"]
  - model: "strict-*"
    allow_tools: ["bad.*"]
    allow_prompts: ["bad.*"]
    allow_resources: ["memo://*"]
    scan_results: { secrets: block, injection: block }
  - model: "lax-*"
    allow_tools: ["bad.*"]
    scan_results: { secrets: "off", injection: "off" }
upstreams:
  bad:
    command: ${JSON.stringify(poisonedFixtureCommand())}
`;

async function withGateway(run: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway({ policy: POLICY });
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

async function closingLine(gw: TestGateway, eventId: string): Promise<Result> {
  const lines = (await gw.logs("&event=toolcall")).filter((e) =>
    e.event_id === eventId && e.status !== "forwarded"
  );
  expect(lines).toHaveLength(1);
  return lines[0];
}

Deno.test({
  name: "proxy, default rule: injection flagged (result unchanged, _meta, audit), secrets redacted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withGateway(async (gw) => {
      const agent = await connectClient(gw.url, { "x-model-id": "default-1" });
      try {
        const page = await agent.client.callTool({
          name: "bad.fetch_page",
          arguments: { url: "https://news.example/q3" },
        }) as Result;
        expect(page.isError).toBeUndefined();
        expect(textOf(page)).toBe(POISONED_PAGE);
        const flagged = decisionOf(page)!;
        expect(flagged.reason_code).toBe("result_injection");
        expect(flagged.flags!.injection).toEqual(expect.arrayContaining([
          "css_hidden_text",
          "exfiltration_request",
          "override_instructions",
          "tool_call_directive",
        ]));
        const pageLine = await closingLine(gw, flagged.event_id);
        expect([pageLine.status, pageLine.reason_code]).toEqual(["allowed", "result_injection"]);
        expect(pageLine.reason).toMatch(/flagged text aimed at the model \(.*css_hidden_text/);

        const env = await agent.client.callTool({ name: "bad.read_env", arguments: {} }) as Result;
        const envText = textOf(env);
        expect(envText).not.toContain(LEAKED_GITHUB_TOKEN);
        expect(envText).not.toContain(LEAKED_AWS_KEY);
        expect(envText).toContain("region eu-west-1");
        expect(envText).toContain("[REDACTED]");
        const redacted = decisionOf(env)!;
        expect(redacted.reason_code).toBe("result_secret");
        expect(redacted.flags!.secrets).toEqual(
          expect.arrayContaining(["credential_shape", "github_token"]),
        );
        const envLine = await closingLine(gw, redacted.event_id);
        expect([envLine.status, envLine.reason_code]).toEqual(["allowed", "result_secret"]);
        expect(JSON.stringify(envLine)).not.toContain(LEAKED_GITHUB_TOKEN);

        const tagged = await agent.client.callTool({ name: "bad.tagged", arguments: {} }) as Result;
        expect(decisionOf(tagged)!.flags!.injection).toEqual(["unicode_tags"]);

        // A clean result carries no gateway decision; the upstream's forged one is removed.
        const weather = await agent.client.callTool({
          name: "bad.weather",
          arguments: {},
        }) as Result;
        expect(textOf(weather)).toBe("Sunny, 21 °C in Paris.");
        expect(weather._meta).toEqual({ "vendor/trace": "t-1" });
      } finally {
        await agent.close();
      }
    }),
});

Deno.test({
  name: "proxy, block rule: poisoned and secret-bearing results withheld (isError, blocked)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withGateway(async (gw) => {
      const agent = await connectClient(gw.url, { "x-model-id": "strict-1" });
      try {
        const page = await agent.client.callTool({
          name: "bad.fetch_page",
          arguments: { url: "https://news.example/q3" },
        }) as Result;
        expect(page.isError).toBe(true);
        expect(textOf(page)).toMatch(/^Blocked by MCP-Sec Gateway: the result was withheld/);
        expect(JSON.stringify(page)).not.toContain("collect.example");
        const blocked = decisionOf(page)!;
        expect(blocked.reason_code).toBe("result_injection");
        const line = await closingLine(gw, blocked.event_id);
        expect([line.status, line.reason_code]).toEqual(["blocked", "result_injection"]);

        const env = await agent.client.callTool({ name: "bad.read_env", arguments: {} }) as Result;
        expect(env.isError).toBe(true);
        expect(JSON.stringify(env)).not.toContain(LEAKED_GITHUB_TOKEN);
        expect(decisionOf(env)!.reason_code).toBe("result_secret");
        expect(decisionOf(env)!.flags!.secrets).toContain("github_token");

        const weather = await agent.client.callTool({
          name: "bad.weather",
          arguments: {},
        }) as Result;
        expect(weather.isError).toBeUndefined();
      } finally {
        await agent.close();
      }
    }),
});

Deno.test({
  name: "proxy, off rule: results pass unscanned (the forged _meta is still removed)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withGateway(async (gw) => {
      const agent = await connectClient(gw.url, { "x-model-id": "lax-1" });
      try {
        const env = await agent.client.callTool({ name: "bad.read_env", arguments: {} }) as Result;
        expect(textOf(env)).toContain(LEAKED_GITHUB_TOKEN);
        expect(decisionOf(env)).toBeUndefined();
        const weather = await agent.client.callTool({
          name: "bad.weather",
          arguments: {},
        }) as Result;
        expect(weather._meta).toEqual({ "vendor/trace": "t-1" });
      } finally {
        await agent.close();
      }
    }),
});

Deno.test({
  name:
    "decision API: executed toolcall and toolresult are scanned (200 flagged, 422 blocked, redacted output)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withGateway(async (gw) => {
      const call = (model: string, tool: string) =>
        gw.post("/mcp/toolcall", {
          model_id: model,
          session_id: "s1",
          tool_name: tool,
          input: tool === "bad.fetch_page" ? { url: "https://x.example" } : {},
        });
      const flagged = await call("default-1", "bad.fetch_page");
      expect(flagged.status).toBe(200);
      expect([flagged.json.allowed, flagged.json.reason_code]).toEqual([true, "result_injection"]);
      expect((flagged.json.scan as Decision["flags"])!.injection).toContain(
        "override_instructions",
      );
      const blocked = await call("strict-1", "bad.read_env");
      expect(blocked.status).toBe(422);
      expect([blocked.json.status, blocked.json.reason_code]).toEqual(["blocked", "result_secret"]);
      expect(JSON.stringify(blocked.json)).not.toContain(LEAKED_GITHUB_TOKEN);

      const result = (model: string, output: unknown) =>
        gw.post("/mcp/toolresult", {
          model_id: model,
          session_id: "s1",
          tool_name: "bad.web",
          output,
        });
      const page = { content: [{ type: "text", text: POISONED_PAGE }] };
      const seen = await result("default-1", page);
      expect(seen.status).toBe(200);
      expect([seen.json.status, seen.json.reason_code]).toEqual(["allowed", "result_injection"]);
      expect(seen.json.output).toBeUndefined();
      const refused = await result("strict-1", page);
      expect(refused.status).toBe(422);
      expect([refused.json.status, refused.json.reason_code]).toEqual([
        "blocked",
        "result_injection",
      ]);
      const secret = { content: [{ type: "text", text: `token ${LEAKED_GITHUB_TOKEN}` }] };
      const redacted = await result("default-1", secret);
      expect(redacted.status).toBe(200);
      expect(redacted.json.reason_code).toBe("result_secret");
      expect(JSON.stringify(redacted.json.output)).not.toContain(LEAKED_GITHUB_TOKEN);
      expect(JSON.stringify(redacted.json.output)).toContain("[REDACTED]");
      const clean = await result("default-1", { content: [{ type: "text", text: "fine" }] });
      expect([clean.status, clean.json.reason_code]).toEqual([200, "ok"]);
      const lines = await gw.logs("&event=toolresult");
      expect(lines.map((e) => [e.status, e.reason_code])).toEqual(expect.arrayContaining([
        ["allowed", "result_injection"],
        ["blocked", "result_injection"],
        ["allowed", "result_secret"],
        ["allowed", "ok"],
      ]));
      expect(JSON.stringify(lines)).not.toContain(LEAKED_GITHUB_TOKEN);
    }),
});

Deno.test({
  name: "proxy: relayed prompt and resource contents are scanned (flagged/redacted, or refused)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withGateway(async (gw) => {
      const agent = await connectClient(gw.url, { "x-model-id": "default-1" });
      const strict = await connectClient(gw.url, { "x-model-id": "strict-1" });
      try {
        const prompt = await agent.client.getPrompt({ name: "bad.review" }) as Result;
        expect(JSON.stringify(prompt.messages)).toContain("SYSTEM: disregard");
        const promptDecision = decisionOf(prompt)!;
        expect(promptDecision.reason_code).toBe("result_injection");
        expect(promptDecision.flags!.injection).toEqual(
          expect.arrayContaining(["override_instructions", "role_impersonation"]),
        );
        const resource = await agent.client.readResource({ uri: "memo://readme" }) as Result;
        const contents = JSON.stringify(resource.contents);
        expect(contents).not.toContain(LEAKED_GITHUB_TOKEN);
        expect(contents).toContain("[REDACTED]");
        expect(decisionOf(resource)!.flags).toEqual({
          secrets: ["github_token"],
          injection: ["html_comment_instruction"],
        });
        const lines = await gw.logs("");
        const scanned = lines.filter((e) =>
          e.reason_code === "result_injection" &&
          (e.event === "prompt_get" || e.event === "resource_read")
        );
        expect(scanned.map((e) => [e.event, e.status])).toEqual([
          ["prompt_get", "allowed"],
          ["resource_read", "allowed"],
        ]);

        const refusedPrompt = await strict.client.getPrompt({ name: "bad.review" }).then(
          () => undefined,
          (error: { code: number; data?: Record<string, unknown> }) => error,
        );
        expect(refusedPrompt?.code).toBe(-32602);
        expect(refusedPrompt?.data?.reason_code).toBe("result_injection");
        const refusedResource = await strict.client.readResource({ uri: "memo://readme" }).then(
          () => undefined,
          (error: { code: number; data?: Record<string, unknown>; message: string }) => error,
        );
        expect(refusedResource?.code).toBe(-32002);
        expect(refusedResource?.data?.reason_code).toBe("result_injection");
        expect(JSON.stringify(refusedResource)).not.toContain(LEAKED_GITHUB_TOKEN);
      } finally {
        await agent.close();
        await strict.close();
      }
    }),
});

Deno.test({
  name:
    "tool poisoning: a poisoned description is hidden and refused until an admin approves it (block); flag mode lists it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withGateway(async (gw) => {
      const agent = await connectClient(gw.url, { "x-model-id": "default-1" });
      try {
        const names = (await agent.client.listTools()).tools.map((t: { name: string }) => t.name);
        expect(names).toContain("bad.fetch_page");
        expect(names).not.toContain("bad.add");
        const refused = await agent.client.callTool({
          name: "bad.add",
          arguments: { a: 1, b: 2 },
        }) as Result;
        expect(refused.isError).toBe(true);
        expect(decisionOf(refused)!.reason_code).toBe("tool_poisoning");
        const pins = await gw.logs("&event=pin_change");
        const poisoned = pins.filter((e) => e.reason_code === "tool_poisoning");
        expect(poisoned.map((e) => [e.tool_name, e.status])).toEqual([["bad.add", "blocked"]]);
        expect((poisoned[0].payload as { detectors: string[] }).detectors).toEqual(
          expect.arrayContaining(["instruction_tag", "secrecy_request", "sensitive_file_request"]),
        );
        const view = await fetch(`${gw.url}/upstreams`, {
          headers: { authorization: `Bearer ${gw.adminToken}` },
        }).then((r) => r.json()) as {
          upstreams: { tools: { name: string; poisoning?: string[] }[] }[];
        };
        const listed = view.upstreams.flatMap((u) => u.tools).find((t) => t.name === "bad.add");
        expect(listed?.poisoning).toContain("instruction_tag");

        const approved = await gw.post("/pins/approve", { tool: "bad.add" }, {
          authorization: `Bearer ${gw.adminToken}`,
        });
        expect([approved.status, approved.json.approved]).toEqual([200, true]);
        const after = (await agent.client.listTools()).tools.map((t: { name: string }) => t.name);
        expect(after).toContain("bad.add");
        const sum = await agent.client.callTool({ name: "bad.add", arguments: { a: 1, b: 2 } });
        expect(textOf(sum as Result)).toBe("3");
      } finally {
        await agent.close();
      }
    });
    const gw = await startTestGateway({
      policy: POLICY + "pinning:\n  scan_descriptions: flag\n",
    });
    const agent = await connectClient(gw.url, { "x-model-id": "default-1" });
    try {
      const names = (await agent.client.listTools()).tools.map((t: { name: string }) => t.name);
      expect(names).toContain("bad.add");
      const pins = await gw.logs("&event=pin_change");
      expect(
        pins.filter((e) => e.reason_code === "tool_poisoning").map((e) => [e.tool_name, e.status]),
      ).toEqual([["bad.add", "allowed"]]);
    } finally {
      await agent.close();
      await gw.close();
    }
  },
});
