import {
  checkKeys,
  childPath,
  ENV_NAME_PATTERN,
  expandedStringMap,
  expectMapping,
  expectString,
  kindOf,
  nullPrototype,
  type PolicyEnv,
  type Problems,
  quoteKey,
} from "./parse_util.ts";
import type { UpstreamConfig } from "./types.ts";

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
const HTTP_KEYS = ["url", "headers", "prefix"] as const;
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
    if (url === undefined || prefix === undefined) return undefined;
    return Object.freeze({ kind: "http", url, headers, prefix });
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
  const text = expectString(value, path, problems);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.add(path, "is not a valid URL");
    return undefined;
  }
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
