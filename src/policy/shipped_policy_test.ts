import { expect } from "expect";
import { evaluatePolicy } from "./evaluate.ts";
import { parsePolicy } from "./parse/parse.ts";

const SHIPPED = new URL("../../policies.yaml", import.meta.url);

Deno.test("policies.yaml: the shipped policy loads, starting with the seed's rule unchanged", async () => {
  const result = parsePolicy(await Deno.readTextFile(SHIPPED), { env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const { policy } = result;
  const [seed] = policy.rules;
  expect(seed.model.source).toBe("gpt-4*");
  expect(seed.allowTools.map((g) => g.source)).toEqual(["calendar.*", "search.*"]);
  expect(seed.denyTools.map((g) => g.source)).toEqual(["db.write*"]);
  expect(seed.maxCallsPerSession).toBe(5);
  expect(seed.activeHours?.map((h) => h.text)).toEqual(["08:00-18:00"]);
  expect(seed.timezone).toBeUndefined();
  expect(policy.agents).toBeNull();
  expect(policy.upstreams).toEqual({});
  expect(policy.pinning.mode).toBe("block");
  expect(policy.rules.length).toBeGreaterThan(1);
});

Deno.test("policies.yaml: a newcomer's claude-* calls work at any hour", async () => {
  const result = parsePolicy(await Deno.readTextFile(SHIPPED), { env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const facts = { modelId: "claude-sonnet-4", toolName: "calendar.create_event" };
  for (let hour = 0; hour < 24; hour++) {
    const decision = evaluatePolicy(result.policy, facts, Date.UTC(2024, 0, 15, hour));
    expect([hour, decision.kind]).toEqual([hour, "allow"]);
  }
  const denied = evaluatePolicy(result.policy, { ...facts, toolName: "db.write_row" }, 0);
  expect(denied.kind === "deny" && denied.denial.reasonCode).toBe("tool_denied");
});
