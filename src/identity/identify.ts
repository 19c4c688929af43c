import { createHash, timingSafeEqual } from "node:crypto";
import type { Agent } from "../policy/types.ts";

/** Lowercase sha256 hex of a key, as written in `agents[].key_sha256`. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/**
 * Finds the agent whose key hash equals the sha256 of `key`. Every agent is compared, in
 * constant time per comparison, so the timing does not reveal which agent (if any) matched.
 */
export function findAgent(agents: readonly Agent[], key: string): Agent | undefined {
  const presented = createHash("sha256").update(key, "utf8").digest();
  let found: Agent | undefined;
  for (const agent of agents) {
    if (agent.keySha256 === null) continue; // an OAuth client (§14): no key to present
    const expected = Buffer.from(agent.keySha256, "hex");
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) {
      found ??= agent;
    }
  }
  return found;
}

/** True when `modelId` matches one of the agent's model globs. */
export function agentMayUseModel(agent: Agent, modelId: string): boolean {
  return agent.models.some((glob) => glob.test(modelId));
}

/** The agent's default model: its first model glob with no wildcard, if any. */
export function defaultModel(agent: Agent): string | undefined {
  return agent.models.find((glob) => !/[*?]/.test(glob.source))?.source;
}

/** Compares two secrets in constant time (lengths are hashed first so they do not leak). */
export function secretsEqual(presented: string, expected: string): boolean {
  const a = createHash("sha256").update(presented, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** Extracts the token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}
