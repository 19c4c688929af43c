import { expect } from "expect";
import type { Agent, Glob } from "../policy/types.ts";
import {
  agentMayUseModel,
  bearerToken,
  defaultModel,
  findAgent,
  hashKey,
  secretsEqual,
} from "./identify.ts";

function glob(source: string): Glob {
  const pattern = new RegExp(
    "^" + source.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") +
      "$",
  );
  return { source, test: (value) => pattern.test(value) };
}

const planner: Agent = { id: "planner", keySha256: hashKey("key-one"), models: [glob("gpt-4*")] };
const writer: Agent = {
  id: "writer",
  keySha256: hashKey("key-two"),
  models: [glob("claude-*"), glob("claude-3-haiku")],
};

Deno.test("hashKey is the sha256 hex used in agents[].key_sha256", () => {
  expect(hashKey("test")).toBe("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
});

Deno.test("findAgent finds the agent by key and refuses unknown keys", () => {
  expect(findAgent([planner, writer], "key-two")?.id).toBe("writer");
  expect(findAgent([planner, writer], "key-one")?.id).toBe("planner");
  expect(findAgent([planner, writer], "key-three")).toBeUndefined();
  expect(findAgent([planner, writer], "")).toBeUndefined();
});

Deno.test("agentMayUseModel and defaultModel follow the agent's globs", () => {
  expect(agentMayUseModel(planner, "gpt-4o")).toBe(true);
  expect(agentMayUseModel(planner, "claude-3")).toBe(false);
  expect(defaultModel(planner)).toBeUndefined();
  expect(defaultModel(writer)).toBe("claude-3-haiku");
});

Deno.test("bearerToken and secretsEqual", () => {
  expect(bearerToken("Bearer abc")).toBe("abc");
  expect(bearerToken("bearer abc ")).toBe("abc");
  expect(bearerToken("Basic abc")).toBeUndefined();
  expect(bearerToken("Bearer a b")).toBeUndefined();
  expect(bearerToken(null)).toBeUndefined();
  expect(secretsEqual("same-secret-value", "same-secret-value")).toBe(true);
  expect(secretsEqual("same-secret-valuE", "same-secret-value")).toBe(false);
  expect(secretsEqual("short", "same-secret-value")).toBe(false);
});
