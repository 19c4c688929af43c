import {
  checkKeys,
  childPath,
  ENV_NAME_PATTERN,
  expandedStringMap,
  expectMapping,
  expectString,
  expectUrl,
  kindOf,
  nullPrototype,
  type PolicyEnv,
  type Problems,
  quoteKey,
} from "./parse_util.ts";
import type { ClientCredentialsConfig, UpstreamConfig } from "../types.ts";
import { isLoopbackHost } from "./parse_oauth.ts";

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
const HTTP_KEYS = ["url", "headers", "prefix", "oauth_client_credentials"] as const;
const CLIENT_CREDENTIALS_KEYS = [
  "token_url",
  "client_id",
  "client_secret_env",
  "scope",
  "resource",
] as const;
const STDIO_KEYS = ["command", "env", "prefix"] as const;

/** Checks `upstreams` (absent = none); names, URLs/commands, `${VAR}` expansion and prefixes. */
export function parseUpstreams(
  value: unknown,
  env: PolicyEnv,
  problems: Problems,
): Record<string, UpstreamConfig> {
  if (value === undefined) return Object.freeze(nullPrototype<UpstreamConfig>([]));
  const map = expectMapping(value, "upstreams", problems);
  if (map === undefined) return nullPrototype<UpstreamConfig>([]);
  const upstreams: Array<[string, UpstreamConfig]> = [];
  for (const [name, raw] of Object.entries(map)) {
    if (!NAME_PATTERN.test(name)) {
      problems.add("upstreams", `name ${quoteKey(name)} must be 1-64 of A-Z a-z 0-9 _ -`);
      continue;
    }
    const upstream = parseUpstream(raw, `upstreams.${name}`, name, env, problems);
    if (upstream) upstreams.push([name, upstream]);
  }
  checkPrefixes(upstreams, problems);
  return Object.freeze(nullPrototype(upstreams));
}

function parseUpstream(
  raw: unknown,
  path: string,
  name: string,
  env: PolicyEnv,
  problems: Problems,
): UpstreamConfig | undefined {
  const map = expectMapping(raw, path, problems);
  if (map === undefined) return undefined;
  const isHttp = map.url !== undefined;
  if (isHttp === (map.command !== undefined)) {
    problems.add(path, 'must have exactly one of "url" (HTTP) and "command" (stdio)');
    return undefined;
  }
  checkKeys(map, isHttp ? HTTP_KEYS : STDIO_KEYS, path, problems);
  const prefix = parsePrefix(map.prefix, `${path}.prefix`, name, problems);
  if (isHttp) {
    const url = parseUrl(map.url, `${path}.url`, problems);
    const headers = map.headers === undefined
      ? Object.freeze(nullPrototype<string>([]))
      : expandedStringMap(
        map.headers,
        `${path}.headers`,
        problems,
        { env, keyPattern: HEADER_NAME_PATTERN, keyHint: "a valid HTTP header name" },
      );
    const clientCredentials = map.oauth_client_credentials === undefined
      ? undefined
      : parseClientCredentials(map.oauth_client_credentials, `${path}.oauth_client_credentials`, {
        env,
        problems,
        url,
      });
    if (
      map.oauth_client_credentials !== undefined &&
      Object.keys(headers).some((header) => header.toLowerCase() === "authorization")
    ) {
      problems.add(
        path,
        "has both headers.Authorization and oauth_client_credentials: keep one of them",
      );
      return undefined;
    }
    if (url === undefined || prefix === undefined) return undefined;
    if (map.oauth_client_credentials !== undefined && clientCredentials === undefined) {
      return undefined;
    }
    return Object.freeze({
      kind: "http",
      url,
      headers,
      prefix,
      ...(clientCredentials !== undefined ? { clientCredentials } : {}),
    });
  }
  const command = parseCommand(map.command, `${path}.command`, problems);
  const childEnv = map.env === undefined
    ? Object.freeze(nullPrototype<string>([]))
    : expandedStringMap(
      map.env,
      `${path}.env`,
      problems,
      { env, keyPattern: ENV_NAME_PATTERN, keyHint: "an environment variable name" },
    );
  if (command === undefined || prefix === undefined) return undefined;
  return Object.freeze({ kind: "stdio", command, env: childEnv, prefix });
}

/** Checks `oauth_client_credentials` (§14): the gateway's own token for this upstream. */
function parseClientCredentials(
  value: unknown,
  path: string,
  context: { env: PolicyEnv; problems: Problems; url: string | undefined },
): ClientCredentialsConfig | undefined {
  const { env, problems } = context;
  const map = expectMapping(value, path, problems);
  if (map === undefined) return undefined;
  checkKeys(map, CLIENT_CREDENTIALS_KEYS, path, problems);
  const before = problems.list.length;
  const need = (key: string) => {
    if (map[key] === undefined) problems.add(path, `missing required key "${key}"`);
    return map[key] !== undefined;
  };
  const tokenUrl = need("token_url")
    ? parseTokenUrl(map.token_url, `${path}.token_url`, problems)
    : undefined;
  const clientId = need("client_id")
    ? expectString(map.client_id, `${path}.client_id`, problems)
    : undefined;
  let clientSecret: string | undefined;
  if (need("client_secret_env")) {
    const name = expectString(map.client_secret_env, `${path}.client_secret_env`, problems);
    if (name !== undefined && !ENV_NAME_PATTERN.test(name)) {
      problems.add(`${path}.client_secret_env`, "must be an environment variable name");
    } else if (name !== undefined) {
      clientSecret = env[name];
      if (clientSecret === undefined || clientSecret === "") {
        problems.add(
          `${path}.client_secret_env`,
          `environment variable "${name}" is not set or is empty`,
        );
      }
    }
  }
  const scope = map.scope === undefined
    ? undefined
    : expectString(map.scope, `${path}.scope`, problems);
  if (
    scope !== undefined && !/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(scope)
  ) {
    problems.add(`${path}.scope`, "must be scope tokens separated by single spaces");
  }
  const resource = map.resource === undefined
    ? context.url
    : parseUrl(map.resource, `${path}.resource`, problems);
  if (
    problems.list.length > before || tokenUrl === undefined || clientId === undefined ||
    clientSecret === undefined || resource === undefined
  ) return undefined;
  return Object.freeze({
    tokenUrl,
    clientId,
    clientSecret,
    ...(scope !== undefined ? { scope } : {}),
    resource,
  });
}

/** A token endpoint: https, or http on loopback only (a client secret never crosses in clear). */
function parseTokenUrl(value: unknown, path: string, problems: Problems): string | undefined {
  const text = parseUrl(value, path, problems);
  if (text === undefined) return undefined;
  const url = new URL(text);
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    problems.add(path, "must be an https: URL (http: only on a loopback address)");
    return undefined;
  }
  return text;
}

function parsePrefix(
  value: unknown,
  path: string,
  name: string,
  problems: Problems,
): string | undefined {
  if (value === undefined) return name;
  if (typeof value !== "string") {
    problems.add(path, `must be a string, got ${kindOf(value)}`);
    return undefined;
  }
  if (value === "" || (value.length <= 120 && PREFIX_PATTERN.test(value))) return value;
  problems.add(path, 'must be "" or dot-separated parts of A-Z a-z 0-9 _ - (at most 120)');
  return undefined;
}

function parseUrl(value: unknown, path: string, problems: Problems): string | undefined {
  const parsed = expectUrl(value, path, problems);
  if (parsed === undefined) return undefined;
  const { text, url } = parsed;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    problems.add(path, "must be an http: or https: URL");
    return undefined;
  }
  if (url.username !== "" || url.password !== "") {
    problems.add(path, "must not contain credentials (put them in headers with ${VAR})");
    return undefined;
  }
  return text;
}

function parseCommand(value: unknown, path: string, problems: Problems): string[] | undefined {
  if (!Array.isArray(value)) {
    problems.add(path, `must be a list of strings (program, then arguments), got ${kindOf(value)}`);
    return undefined;
  }
  if (value.length === 0) {
    problems.add(path, "must not be empty");
    return undefined;
  }
  let ok = true;
  value.forEach((item, i) => {
    const itemPath = `${path}[${i}]`;
    if (typeof item !== "string") {
      problems.add(itemPath, `must be a string, got ${kindOf(item)}`);
      ok = false;
    } else if (item.includes("\0")) {
      problems.add(itemPath, "must not contain NUL");
      ok = false;
    } else if (i === 0 && item === "") {
      problems.add(itemPath, "must not be empty (it is the program to run)");
      ok = false;
    }
  });
  return ok ? Object.freeze([...value]) as string[] : undefined;
}

/** Equal prefixes, or a non-empty prefix that, with a dot, starts another, are load errors. */
function checkPrefixes(upstreams: Array<[string, UpstreamConfig]>, problems: Problems): void {
  for (let i = 0; i < upstreams.length; i++) {
    for (let j = 0; j < i; j++) {
      const [name, { prefix }] = upstreams[i];
      const [other, { prefix: otherPrefix }] = upstreams[j];
      if (overlaps(prefix, otherPrefix)) {
        problems.add(
          childPath(`upstreams.${name}`, "prefix"),
          `overlapping prefixes: "${prefix}" and "${otherPrefix}" (upstream "${other}")`,
        );
      }
    }
  }
}

function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  return (a !== "" && b.startsWith(`${a}.`)) || (b !== "" && a.startsWith(`${b}.`));
}
