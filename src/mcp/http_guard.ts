/** DNS-rebinding and browser defences of `/mcp` (§5.1): `Host` and `Origin` checks. Pure. */

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
