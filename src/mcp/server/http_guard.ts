/**
 * DNS-rebinding and browser defences of every door (§5.1, §12): `Host` and `Origin` checks for
 * `/mcp`, the decision API and the admin routes, and the same-origin check of admin writes. Pure.
 */

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** The hostname part of a `Host` header (port removed; IPv6 kept in brackets), lowercased. */
export function hostnameOf(host: string): string {
  const lowered = host.trim().toLowerCase();
  if (lowered.startsWith("[")) {
    const end = lowered.indexOf("]");
    return end === -1 ? lowered : lowered.slice(0, end + 1);
  }
  const colon = lowered.indexOf(":");
  return colon === -1 ? lowered : lowered.slice(0, colon);
}

/** True when `Host` is a loopback name (any port) or listed in `allowed` (name or name:port). */
export function isAllowedHost(host: string | null, allowed: readonly string[]): boolean {
  if (!host) return false;
  const name = hostnameOf(host);
  if (LOOPBACK_HOSTS.has(name)) return true;
  const full = host.trim().toLowerCase();
  return allowed.some((entry) => {
    const wanted = entry.trim().toLowerCase();
    return wanted === full || wanted === name;
  });
}

/** True when `Origin` is absent, a loopback origin (http/https, any port), or listed. */
export function isAllowedOrigin(origin: string | null, allowed: readonly string[]): boolean {
  if (origin === null) return true;
  if (allowed.some((entry) => entry.trim().toLowerCase() === origin.trim().toLowerCase())) {
    return true;
  }
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  return LOOPBACK_HOSTS.has(url.hostname) || url.hostname === "::1";
}

/** Why a door refuses a request before reading it: a foreign `Host` or `Origin`. */
export type DoorRefusal = "forbidden_host" | "forbidden_origin";

/**
 * The host a request was sent to: its `Host` header, else the authority of its URL. Only clients
 * that are not browsers omit `Host`: HTTP/2 ones carry `:authority`, which Deno puts in the URL,
 * and for an HTTP/1.0 request without `Host` Deno writes `localhost` there.
 */
export function requestHost(headers: Headers, url: string): string | null {
  const host = headers.get("host");
  if (host !== null) return host;
  const start = url.indexOf("://");
  if (start < 0) return null;
  const end = url.indexOf("/", start + 3);
  const authority = url.slice(start + 3, end < 0 ? url.length : end);
  return authority === "" ? null : authority;
}

/** The `Host`/`Origin` check of a door, prepared once from `ALLOWED_HOSTS`/`ALLOWED_ORIGINS`. */
export interface DoorGuard {
  /** Null when the request's host (`requestHost`) and `Origin` are acceptable, else why not. */
  check(headers: Headers, url: string): DoorRefusal | null;
  /** True when `Host` is a loopback name (any port) or listed. */
  hostAllowed(host: string | null): boolean;
}

/** Most distinct accepted `Host` values remembered (they are loopback or listed names only). */
const HOST_CACHE_LIMIT = 64;

/**
 * Builds a door guard. Accepted `Host` values are remembered exactly, so the usual request costs
 * one `Set` lookup; a foreign value is never remembered. `Origin` is parsed only when present.
 */
export function createDoorGuard(
  options: { allowedHosts: readonly string[]; allowedOrigins: readonly string[] },
): DoorGuard {
  const allowedHosts = options.allowedHosts.map((entry) => entry.trim().toLowerCase());
  const allowedOrigins = options.allowedOrigins.map((entry) => entry.trim().toLowerCase());
  const seen = new Set<string>();
  const hostAllowed = (host: string | null): boolean => {
    if (host === null) return false;
    if (seen.has(host)) return true;
    if (!isAllowedHost(host, allowedHosts)) return false;
    if (seen.size < HOST_CACHE_LIMIT) seen.add(host);
    return true;
  };
  return {
    hostAllowed,
    check(headers, url) {
      if (!hostAllowed(requestHost(headers, url))) return "forbidden_host";
      const origin = headers.get("origin");
      if (origin !== null && !isAllowedOrigin(origin, allowedOrigins)) return "forbidden_origin";
      return null;
    },
  };
}

/** Human-readable reason of a door refusal. */
export function doorRefusalReason(refusal: DoorRefusal): string {
  return refusal === "forbidden_host"
    ? "Host not allowed (DNS rebinding protection); see ALLOWED_HOSTS"
    : "Origin not allowed; see ALLOWED_ORIGINS";
}

/**
 * The same-origin check of a state-changing admin request (§12, CSRF): a browser `Origin`, when
 * present, must be exactly the gateway's own (scheme, host and port of the request's `Host`), and
 * a `Sec-Fetch-Site`, when present, must say `same-origin` or `none`. `scheme` is the request's
 * (`http` unless served over TLS, or `https` when a proxy says so in `X-Forwarded-Proto`).
 * Clients that send neither header (curl, scripts) are not browsers and pass.
 */
export function isSameOriginWrite(
  headers: { host: string | null; origin: string | null; secFetchSite: string | null },
  scheme: "http" | "https",
): boolean {
  const site = headers.secFetchSite?.trim().toLowerCase();
  if (site !== undefined && site !== "same-origin" && site !== "none") return false;
  if (headers.origin === null) return true;
  if (!headers.host) return false;
  return headers.origin.trim().toLowerCase() === `${scheme}://${headers.host.trim().toLowerCase()}`;
}
