/** Checks the `oauth:` section (§14): the gateway as an OAuth 2.1 resource server. */
import {
  checkKeys,
  expectMapping,
  expectString,
  expectUrl,
  kindOf,
  type Problems,
} from "./parse_util.ts";
import { OAUTH_ALGORITHMS, type OAuthAlgorithm, type OAuthConfig } from "../types.ts";

const OAUTH_KEYS = [
  "issuer",
  "audience",
  "jwks_uri",
  "required_scopes",
  "agent_claim",
  "models_claim",
  "algorithms",
  "clock_skew_seconds",
] as const;

/** A scope token (RFC 6749 §3.3): printable ASCII except space, `"` and `\`. */
const SCOPE_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

/** A claim name: letters, digits and `_ - . :` (a namespaced claim such as `https://x/models`
 * is written without its scheme's slashes being special). */
const CLAIM_PATTERN = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** Largest accepted `clock_skew_seconds`: the skew is meant to be small. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

/** Default tolerated clock skew, seconds. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;

/** Checks `oauth` (absent = undefined: agent keys only). */
export function parseOAuth(value: unknown, problems: Problems): OAuthConfig | undefined {
  if (value === undefined) return undefined;
  const map = expectMapping(value, "oauth", problems);
  if (map === undefined) return undefined;
  checkKeys(map, OAUTH_KEYS, "oauth", problems);
  const before = problems.list.length;
  const issuer = map.issuer === undefined
    ? (problems.add("oauth", 'missing required key "issuer"'), undefined)
    : parseOAuthUrl(map.issuer, "oauth.issuer", problems);
  const audience = map.audience === undefined
    ? (problems.add(
      "oauth",
      'missing required key "audience" (the gateway\'s own resource URL, e.g. https://gw.example/mcp)',
    ),
      undefined)
    : parseOAuthUrl(map.audience, "oauth.audience", problems);
  const jwksUri = map.jwks_uri === undefined
    ? undefined
    : parseOAuthUrl(map.jwks_uri, "oauth.jwks_uri", problems);
  const requiredScopes = map.required_scopes === undefined
    ? []
    : parseScopes(map.required_scopes, "oauth.required_scopes", problems);
  let agentClaim: "sub" | "client_id" = "client_id";
  if (map.agent_claim === "sub" || map.agent_claim === "client_id") agentClaim = map.agent_claim;
  else if (map.agent_claim !== undefined) {
    problems.add("oauth.agent_claim", 'must be "sub" or "client_id"');
  }
  let modelsClaim: string | undefined;
  if (map.models_claim !== undefined) {
    modelsClaim = expectString(map.models_claim, "oauth.models_claim", problems);
    if (modelsClaim !== undefined && !CLAIM_PATTERN.test(modelsClaim)) {
      problems.add("oauth.models_claim", "must be a claim name (A-Z a-z 0-9 _ . : / -)");
    }
  }
  const algorithms = map.algorithms === undefined
    ? [...OAUTH_ALGORITHMS]
    : parseAlgorithms(map.algorithms, "oauth.algorithms", problems);
  let clockSkewSeconds = DEFAULT_CLOCK_SKEW_SECONDS;
  if (map.clock_skew_seconds !== undefined) {
    const skew = map.clock_skew_seconds;
    if (
      typeof skew !== "number" || !Number.isInteger(skew) || skew < 0 ||
      skew > MAX_CLOCK_SKEW_SECONDS
    ) {
      problems.add(
        "oauth.clock_skew_seconds",
        `must be a whole number of seconds from 0 to ${MAX_CLOCK_SKEW_SECONDS}`,
      );
    } else clockSkewSeconds = skew;
  }
  if (problems.list.length > before || issuer === undefined || audience === undefined) {
    return undefined;
  }
  return Object.freeze({
    issuer,
    audience,
    ...(jwksUri !== undefined ? { jwksUri } : {}),
    requiredScopes: Object.freeze(requiredScopes),
    agentClaim,
    ...(modelsClaim !== undefined ? { modelsClaim } : {}),
    algorithms: Object.freeze(algorithms),
    clockSkewSeconds,
  });
}

/** True for a loopback host name, where plain http is accepted (tests, local identity servers). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** An https URL (http only on loopback) without credentials, query or fragment. */
function parseOAuthUrl(value: unknown, path: string, problems: Problems): string | undefined {
  const parsed = expectUrl(value, path, problems);
  if (parsed === undefined) return undefined;
  const { text, url } = parsed;
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    problems.add(path, "must be an https: URL (http: only on a loopback address)");
    return undefined;
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    problems.add(path, "must not contain credentials, a query or a fragment");
    return undefined;
  }
  return text;
}

function parseScopes(value: unknown, path: string, problems: Problems): string[] {
  if (!Array.isArray(value)) {
    problems.add(path, `must be a list of scope names, got ${kindOf(value)}`);
    return [];
  }
  const scopes: string[] = [];
  value.forEach((item, i) => {
    const text = expectString(item, `${path}[${i}]`, problems);
    if (text === undefined) return;
    if (!SCOPE_PATTERN.test(text)) {
      problems.add(`${path}[${i}]`, 'must be one scope token (no spaces, quotes or "\\")');
      return;
    }
    if (!scopes.includes(text)) scopes.push(text);
  });
  return scopes;
}

function parseAlgorithms(value: unknown, path: string, problems: Problems): OAuthAlgorithm[] {
  if (!Array.isArray(value) || value.length === 0) {
    problems.add(path, "must be a non-empty list of JWS algorithms");
    return [];
  }
  const algorithms: OAuthAlgorithm[] = [];
  value.forEach((item, i) => {
    if ((OAUTH_ALGORITHMS as readonly unknown[]).includes(item)) {
      algorithms.push(item as OAuthAlgorithm);
      return;
    }
    const shown = typeof item === "string" ? JSON.stringify(item.slice(0, 20)) : kindOf(item);
    const why = typeof item === "string" && /^(none|HS\d+)$/i.test(item)
      ? " (unsigned and shared-secret algorithms are never accepted)"
      : "";
    problems.add(
      `${path}[${i}]`,
      `${shown} is not accepted${why}; use ${OAUTH_ALGORITHMS.join(", ")}`,
    );
  });
  return algorithms;
}
