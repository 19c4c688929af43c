/**
 * The gateway's own access token for an upstream (§14): OAuth client credentials, fetched on first
 * use, cached, refreshed before it expires (one fetch at a time however many calls wait), dropped
 * when the upstream answers 401. Never the caller's token.
 */
import type { ClientCredentialsConfig } from "../../../policy/types.ts";
import { fetchJson } from "../../../identity/oauth_fetch.ts";
import { UpstreamError } from "../upstream.ts";

/** What the HTTP upstream client asks of its credentials. */
export interface UpstreamCredentials {
  /** The `Authorization` value to send now (fetches or refreshes the token when needed). */
  authorization(): Promise<string>;
  /** Forgets the token (the upstream refused it); the next call fetches a new one. */
  invalidate(): void;
}

/** Effects and bounds of {@link createClientCredentials}. */
export interface ClientCredentialsOptions {
  /** The upstream's name (messages). */
  readonly name: string;
  /** The policy's `oauth_client_credentials`. */
  readonly config: ClientCredentialsConfig;
  /** Fetch (default global). */
  readonly fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Wall clock, epoch ms (default `Date.now`). */
  readonly clock?: () => number;
  /** Bound on one token request (default 10 s). */
  readonly timeoutMs?: number;
  /** Told each new token, so that it is scrubbed from what the upstream sends back (§12). */
  readonly onToken?: (token: string) => void;
}

/** Refresh this long before expiry at most (and at a fifth of the lifetime for short tokens). */
const REFRESH_MARGIN_MS = 60_000;
/** Lifetime assumed when the server names none. */
const DEFAULT_LIFETIME_S = 60;
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/** Creates the token source of one upstream. */
export function createClientCredentials(options: ClientCredentialsOptions): UpstreamCredentials {
  const { config, name } = options;
  const clock = options.clock ?? Date.now;
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  let token: { value: string; refreshAt: number; expiresAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  async function request(): Promise<string> {
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (config.scope !== undefined) form.set("scope", config.scope);
    form.set("resource", config.resource);
    const basic = btoa(
      `${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`,
    );
    let body: unknown;
    try {
      // fetchJson GETs; the token request is a POST with the same bounds, so wrap fetch.
      body = await fetchJson(
        (url, init) =>
          fetchFn(url, {
            ...init,
            method: "POST",
            headers: {
              accept: "application/json",
              "content-type": "application/x-www-form-urlencoded",
              authorization: `Basic ${basic}`,
            },
            body: form.toString(),
          }),
        config.tokenUrl,
        { timeoutMs, maxBytes: MAX_TOKEN_RESPONSE_BYTES },
      );
    } catch (error) {
      throw new UpstreamError(
        "unavailable",
        `Cannot get an access token for upstream "${name}": ${(error as Error).message}`,
      );
    }
    const record = typeof body === "object" && body !== null ? body as Record<string, unknown> : {};
    const value = record.access_token;
    const type = typeof record.token_type === "string" ? record.token_type.toLowerCase() : "";
    if (typeof value !== "string" || value === "" || /[\s\0]/.test(value) || type !== "bearer") {
      throw new UpstreamError(
        "unavailable",
        `Cannot get an access token for upstream "${name}": the token endpoint answered no bearer token`,
      );
    }
    const lifetimeS = typeof record.expires_in === "number" && record.expires_in > 0
      ? record.expires_in
      : DEFAULT_LIFETIME_S;
    options.onToken?.(value);
    const now = clock();
    const lifetimeMs = lifetimeS * 1000;
    token = {
      value,
      expiresAt: now + lifetimeMs,
      refreshAt: now + lifetimeMs - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 5),
    };
    return value;
  }

  function refresh(): Promise<string> {
    inFlight ??= request().finally(() => inFlight = undefined);
    return inFlight;
  }

  return {
    async authorization() {
      const now = clock();
      if (token !== undefined && now < token.refreshAt) return `Bearer ${token.value}`;
      if (token !== undefined && now < token.expiresAt) {
        // Still valid: refresh in the background, answer with the current one.
        void refresh().catch(() => {});
        return `Bearer ${token.value}`;
      }
      return `Bearer ${await refresh()}`;
    },
    invalidate() {
      token = undefined;
    },
  };
}
