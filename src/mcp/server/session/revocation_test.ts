import { expect } from "expect";
import { hashKey } from "../../../identity/identify.ts";
import { parsePolicy } from "../../../policy/parse/parse.ts";
import type { Policy } from "../../../policy/types.ts";
import { createIdleKeys } from "./idle_keys.ts";
import { revocationReason, revokeAfterReload, revokedOwners } from "./revocation.ts";
import { createSessionStore, type McpSession } from "./sessions.ts";

function load(agents: string): Policy {
  const parsed = parsePolicy(`${agents}\nrules:\n  - model: "*"\n    allow_tools: ["*"]\n`, {
    env: {},
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.policy;
}

const agent = (id: string, key: string, models: string[]) =>
  `  - id: ${id}\n    key_sha256: "${hashKey(key)}"\n    models: ${JSON.stringify(models)}\n`;

const V1 = load("agents:\n" + agent("a", "key-a", ["claude-*"]) + agent("b", "key-b", ["gpt"]));
const A = { agentId: "a", keySha256: hashKey("key-a"), modelId: "claude-1" };

Deno.test("revocationReason: removed, re-keyed, model narrowed, mode switched; else accepted", () => {
  expect(revocationReason(A, V1)).toBeUndefined();
  const removed = load("agents:\n" + agent("b", "key-b", ["gpt"]));
  expect(revocationReason(A, removed)).toBe('agent "a" was removed from the policy');
  const rekeyed = load("agents:\n" + agent("a", "key-a2", ["claude-*"]));
  expect(revocationReason(A, rekeyed)).toBe('the key of agent "a" was changed');
  const narrowed = load("agents:\n" + agent("a", "key-a", ["claude-2"]));
  expect(revocationReason(A, narrowed)).toBe('agent "a" may no longer act as model "claude-1"');
  const open = load("");
  expect(revocationReason(A, open)).toContain("open identity mode");
  const openSession = { agentId: null, keySha256: null, modelId: "m" };
  expect(revocationReason(openSession, open)).toBeUndefined();
  expect(revocationReason(openSession, V1)).toBe("the policy now requires agent keys");
});

Deno.test("revokedOwners: API sessions of removed or re-keyed agents, and of the open pool", () => {
  const next = load(
    "agents:\n" + agent("a", "key-a", ["x"]) + agent("b", "key-b2", ["gpt"]) +
      agent("c", "key-c", ["gpt"]),
  );
  // a: models changed only (checked per request) → kept; b: re-keyed; d: removed; null: open pool
  expect(revokedOwners(V1, next, ["a", "b", "d", null])).toEqual(["b", "d", null]);
  expect(revokedOwners(V1, load(""), ["a", null])).toEqual(["a"]);
});

Deno.test("revokeAfterReload ends revoked sessions once, keeps their record, and re-stamps the rest", () => {
  const sessions = createSessionStore({ idleMs: 10_000 });
  const base = { protocolVersion: "2025-11-25", clientInfo: {}, clientCapabilities: {} };
  const make = (fields: typeof A) => {
    const outcome = sessions.create({ ...base, ...fields, policyVersion: V1.version }, 0);
    if (!outcome.ok) throw new Error(outcome.reason);
    return outcome.session;
  };
  const a = make(A);
  const b = make({ agentId: "b", keySha256: hashKey("key-b"), modelId: "gpt" });
  const apiSessions = createIdleKeys(10_000);
  apiSessions.touch("api:a:1", 0, "a");
  apiSessions.touch("api:b:1", 0, "b");
  const ended: [McpSession, string][] = [];
  const closed: string[] = [];
  const next = load("agents:\n" + agent("b", "key-b", ["gpt"]));
  const deps = {
    sessions,
    apiSessions,
    endSession: (session: McpSession, reason: string) => ended.push([session, reason]),
    closeApiSession: (key: string) => closed.push(key),
  };
  expect(revokeAfterReload(V1, next, deps)).toBe(1);
  expect(ended).toEqual([[
    a,
    'session revoked by a policy reload: agent "a" was removed from the policy',
  ]]);
  expect(a.revoked).toBe('agent "a" was removed from the policy');
  expect(sessions.get(a.id, 1)).toBe(a); // kept for the 403 of its next request
  expect(b.revoked).toBeUndefined();
  expect(b.policyVersion).toBe(next.version);
  expect(closed).toEqual(["api:a:1"]);
  expect(apiSessions.countFor("b")).toBe(1);
  // A second pass changes nothing.
  expect(revokeAfterReload(next, next, deps)).toBe(0);
  expect(ended.length).toBe(1);
});
