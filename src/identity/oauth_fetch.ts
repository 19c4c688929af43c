/** Bounded JSON fetches of an identity provider's metadata and keys (§14): time, size, no
 * redirects, https (http only on loopback). */
import { isLoopbackHost } from "../policy/parse/parse_oauth.ts";

/** The fetch the gateway uses for metadata and keys (injected in tests). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Bounds of one metadata or JWKS fetch. */
export interface FetchBounds {
  /** Abort after this long. */
  readonly timeoutMs: number;
  /** Refuse a body larger than this. */
  readonly maxBytes: number;
}

/** Default bounds: 5 s, 256 KiB. */
export const DEFAULT_FETCH_BOUNDS: FetchBounds = { timeoutMs: 5000, maxBytes: 256 * 1024 };

/** GETs `url` and parses JSON within the bounds; throws an Error with a short cause. */
export async function fetchJson(
  fetchFn: FetchLike,
  url: string,
  bounds: FetchBounds,
): Promise<unknown> {
  const parsed = new URL(url);
  if (
    parsed.protocol !== "https:" &&
    !(parsed.protocol === "http:" && isLoopbackHost(parsed.hostname))
  ) {
    throw new Error(`${url} is not https`);
  }
  const signal = AbortSignal.timeout(bounds.timeoutMs);
  let response: Response;
  try {
    response = await fetchFn(url, {
      headers: { accept: "application/json" },
      redirect: "error",
      signal,
    });
  } catch (error) {
    const timedOut = signal.aborted;
    throw new Error(
      timedOut
        ? `${url} did not answer within ${bounds.timeoutMs} ms`
        : `${url} cannot be reached (${(error as Error).name})`,
    );
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`${url} answered HTTP ${response.status}`);
  }
  const text = await readBounded(response, bounds.maxBytes, url);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${url} did not answer JSON`);
  }
}

async function readBounded(response: Response, maxBytes: number, url: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`${url} answered more than ${maxBytes} bytes`);
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new Error(`${url} answered more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** The metadata URLs to try for `issuer`: RFC 8414 (path inserted), then OpenID discovery. */
export function discoveryUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
}

/** Finds `jwks_uri` in the issuer's metadata; the metadata must name the same issuer exactly. */
export async function discoverJwksUri(
  fetchFn: FetchLike,
  issuer: string,
  bounds: FetchBounds,
): Promise<string> {
  const failures: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    let metadata: unknown;
    try {
      metadata = await fetchJson(fetchFn, url, bounds);
    } catch (error) {
      failures.push((error as Error).message);
      continue;
    }
    const record = typeof metadata === "object" && metadata !== null
      ? metadata as Record<string, unknown>
      : {};
    if (record.issuer !== issuer) {
      throw new Error(
        `${url} names another issuer (${JSON.stringify(String(record.issuer).slice(0, 200))})`,
      );
    }
    if (typeof record.jwks_uri !== "string") throw new Error(`${url} has no jwks_uri`);
    return record.jwks_uri;
  }
  throw new Error(`no metadata for issuer ${issuer}: ${failures.join("; ")}`);
}
