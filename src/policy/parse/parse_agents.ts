import { createHash } from "node:crypto";
import {
  checkKeys,
  ENV_NAME_PATTERN,
  expectMapping,
  expectString,
  globList,
  kindOf,
  type PolicyEnv,
  type Problems,
} from "./parse_util.ts";
import type { Agent } from "../types.ts";

/** Shortest plaintext key accepted through `key_env` (same floor as `ADMIN_TOKEN`). */
const MIN_KEY_LENGTH = 16;

const AGENT_KEYS = ["id", "key_sha256", "key_env", "oauth_client_id", "models"] as const;

/** An OAuth client id as written under `agents[].oauth_client_id`. */
const CLIENT_ID_PATTERN = /^[\x21-\x7E]{1,256}$/;

/** Checks `agents`: undefined (absent) means open identity mode and yields null, unless `oauth:`
 * is configured (`withOAuth`), which makes it an empty list (every caller authenticates). */
export function parseAgents(
  value: unknown,
  env: PolicyEnv,
  problems: Problems,
  withOAuth = false,
): Agent[] | null {
  if (value === undefined) return withOAuth ? [] : null;
  if (!Array.isArray(value)) {
    problems.add("agents", `must be a list of agents, got ${kindOf(value)}`);
    return [];
  }
  if (value.length === 0) {
    problems.add("agents", "must contain at least one agent (leave it out for open identity mode)");
    return [];
  }
  const agents: Agent[] = [];
  const idAt = new Map<string, number>();
  const keyAt = new Map<string, number>();
  const clientAt = new Map<string, number>();
  value.forEach((raw, index) => {
    const path = `agents[${index}]`;
    const agent = parseAgent(raw, path, env, problems);
    if (agent === undefined) return;
    const sameId = idAt.get(agent.id);
    if (sameId !== undefined) problems.add(`${path}.id`, `repeats the id of agents[${sameId}]`);
    if (sameId === undefined) idAt.set(agent.id, index);
    if (agent.keySha256 !== null) {
      const sameKey = keyAt.get(agent.keySha256);
      if (sameKey !== undefined) problems.add(path, `has the same key as agents[${sameKey}]`);
      else keyAt.set(agent.keySha256, index);
    }
    if (agent.oauthClientId !== undefined) {
      if (!withOAuth) {
        problems.add(`${path}.oauth_client_id`, 'needs an "oauth:" section (§14) in the policy');
      }
      const sameClient = clientAt.get(agent.oauthClientId);
      if (sameClient !== undefined) {
        problems.add(`${path}.oauth_client_id`, `repeats the client of agents[${sameClient}]`);
      } else clientAt.set(agent.oauthClientId, index);
    }
    agents.push(agent);
  });
  return agents;
}

function parseAgent(
  raw: unknown,
  path: string,
  env: PolicyEnv,
  problems: Problems,
): Agent | undefined {
  const map = expectMapping(raw, path, problems);
  if (map === undefined) return undefined;
  checkKeys(map, AGENT_KEYS, path, problems);
  let id: string | undefined;
  if (map.id === undefined) problems.add(path, 'missing required key "id"');
  else {
    id = expectString(map.id, `${path}.id`, problems);
    if (id !== undefined && (id.length > 128 || /[\p{Cc}\p{Cf}]/u.test(id))) {
      problems.add(`${path}.id`, "must be at most 128 characters without control characters");
      id = undefined;
    } else if (id?.startsWith("oauth:")) {
      problems.add(`${path}.id`, 'must not start with "oauth:" (kept for OAuth clients, §14)');
      id = undefined;
    }
  }
  const models = () =>
    map.models === undefined
      ? (problems.add(path, 'missing required key "models"'), [])
      : globList(map.models, `${path}.models`, problems, { toolNames: false, nonEmpty: true });
  if (map.oauth_client_id !== undefined) {
    if (map.key_sha256 !== undefined || map.key_env !== undefined) {
      problems.add(path, 'must have exactly one of "key_sha256", "key_env" and "oauth_client_id"');
      return undefined;
    }
    const clientId = expectString(map.oauth_client_id, `${path}.oauth_client_id`, problems);
    if (clientId !== undefined && !CLIENT_ID_PATTERN.test(clientId)) {
      problems.add(`${path}.oauth_client_id`, "must be 1-256 printable ASCII characters");
      return undefined;
    }
    const globs = models();
    if (id === undefined || clientId === undefined || globs.length === 0) return undefined;
    return Object.freeze({ id, keySha256: null, oauthClientId: clientId, models: globs });
  }
  const keySha256 = parseKey(map, path, env, problems);
  const globs = models();
  if (id === undefined || keySha256 === undefined || globs.length === 0) return undefined;
  return Object.freeze({ id, keySha256, models: globs });
}

/** The lowercase sha256 hex of the agent's key, from `key_sha256` or the `key_env` variable. */
function parseKey(
  map: Record<string, unknown>,
  path: string,
  env: PolicyEnv,
  problems: Problems,
): string | undefined {
  const hasHash = map.key_sha256 !== undefined;
  const hasEnv = map.key_env !== undefined;
  if (hasHash === hasEnv) {
    problems.add(path, 'must have exactly one of "key_sha256", "key_env" and "oauth_client_id"');
    return undefined;
  }
  if (hasHash) {
    const hash = expectString(map.key_sha256, `${path}.key_sha256`, problems);
    if (hash === undefined) return undefined;
    if (/^[0-9a-fA-F]{64}$/.test(hash)) return hash.toLowerCase();
    problems.add(`${path}.key_sha256`, "must be 64 hexadecimal characters (a sha256 digest)");
    return undefined;
  }
  const name = expectString(map.key_env, `${path}.key_env`, problems);
  if (name === undefined) return undefined;
  if (!ENV_NAME_PATTERN.test(name)) {
    problems.add(`${path}.key_env`, "must be an environment variable name");
    return undefined;
  }
  const key = env[name];
  if (key === undefined || key === "") {
    problems.add(`${path}.key_env`, `environment variable "${name}" is not set or is empty`);
    return undefined;
  }
  if (key.length < MIN_KEY_LENGTH) {
    problems.add(
      `${path}.key_env`,
      `environment variable "${name}" holds a key shorter than ${MIN_KEY_LENGTH} characters`,
    );
    return undefined;
  }
  return createHash("sha256").update(key, "utf8").digest("hex");
}
