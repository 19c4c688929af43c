/**
 * The issuer's signing keys (§14): discovered and fetched at start-up and on reload, refreshed
 * on a timer and when a token names an unknown `kid` (at most once per cooldown), kept while the
 * issuer is briefly away, dropped when too old (then OAuth tokens fail closed; agent keys work).
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWK } from "jose";
import type { OAuthConfig } from "../policy/types.ts";
import {
  DEFAULT_FETCH_BOUNDS,
  discoverJwksUri,
  type FetchBounds,
  fetchJson,
  type FetchLike,
} from "./oauth_fetch.ts";

/** A key getter as jose's `jwtVerify` takes it. */
export type KeyGetter = ReturnType<typeof createLocalJWKSet>;

/** What `/healthz` shows of the issuer's keys. */
export interface OAuthKeysStatus {
  /** `ready` (keys in hand), `starting` (first fetch running) or `unavailable`. */
  readonly state: "ready" | "starting" | "unavailable";
  /** The issuer. */
  readonly issuer: string;
  /** Where the keys come from, once known. */
  readonly jwksUri: string | null;
  /** Keys usable for signatures. */
  readonly keys: number;
  /** Epoch ms of the last good fetch, or null. */
  readonly refreshedAt: number | null;
  /** Why the last fetch failed, if it did (no secrets: URLs and causes only). */
  readonly error: string | null;
}

/** Timing and bounds of the key cache. */
export interface OAuthKeysTiming {
  /** Refresh every this long (default 5 min). */
  readonly refreshMs: number;
  /** At most one unknown-`kid` refresh per this long (default 30 s). */
  readonly cooldownMs: number;
  /** Keys older than this (issuer unreachable since) are dropped (default 1 h). */
  readonly maxAgeMs: number;
  /** Bounds of each fetch. */
  readonly fetch: FetchBounds;
}

/** Default timing. */
export const DEFAULT_KEYS_TIMING: OAuthKeysTiming = {
  refreshMs: 5 * 60_000,
  cooldownMs: 30_000,
  maxAgeMs: 60 * 60_000,
  fetch: DEFAULT_FETCH_BOUNDS,
};

/** The issuer's keys, as the verifier uses them. */
export interface OAuthKeys {
  /** The key set now, or undefined when none is usable (fail closed). */
  current(): { readonly getKey: KeyGetter; readonly generation: number } | undefined;
  /** Fetches again if the cooldown allows; true when a fetch ran and brought a new key set. */
  refreshForUnknownKey(): Promise<boolean>;
  /** Fetches now (start-up, reload, timer). */
  refresh(): Promise<void>;
  /** State for `/healthz`. */
  status(): OAuthKeysStatus;
  /** Stops the timer. */
  close(): void;
}

/** Effects and timing of {@link createOAuthKeys}. */
export interface OAuthKeysOptions {
  /** The `oauth:` section in force. */
  readonly config: OAuthConfig;
  /** Fetch for metadata and keys. */
  readonly fetch: FetchLike;
  /** Wall clock, epoch ms. */
  readonly clock: () => number;
  /** Timing (defaults above). */
  readonly timing?: Partial<OAuthKeysTiming>;
  /** Operational messages. */
  readonly log?: { warn(message: string): void; info(message: string): void };
  /** Start the periodic refresh timer (default true; tests drive `refresh`). */
  readonly timer?: boolean;
}

/** Private key members that must never be in a published key set. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"] as const;

/** Keeps the public asymmetric signing keys of a JWKS document; throws when it is not one. */
export function publicSigningKeys(document: unknown): JSONWebKeySet {
  const record = typeof document === "object" && document !== null
    ? document as Record<string, unknown>
    : {};
  if (!Array.isArray(record.keys)) throw new Error("the JWKS has no keys list");
  const keys = record.keys.filter((key): key is JWK =>
    typeof key === "object" && key !== null &&
    ["RSA", "EC", "OKP"].includes((key as JWK).kty as string) &&
    ((key as JWK).use === undefined || (key as JWK).use === "sig") &&
    PRIVATE_MEMBERS.every((member) => !(member in key))
  ).slice(0, 100);
  return { keys };
}

/** Creates the key cache for one `oauth:` section; call `refresh()` to fetch the first time. */
export function createOAuthKeys(options: OAuthKeysOptions): OAuthKeys {
  const { config, clock } = options;
  const timing = { ...DEFAULT_KEYS_TIMING, ...options.timing };
  let jwksUri: string | null = config.jwksUri ?? null;
  let set: { getKey: KeyGetter; generation: number; fetchedAt: number; count: number } | undefined;
  let generation = 0;
  let error: string | null = null;
  let started = false;
  let lastAttempt = -Infinity;
  let inFlight: Promise<boolean> | undefined;
  let fingerprint = "";

  async function fetchOnce(): Promise<boolean> {
    lastAttempt = clock();
    try {
      jwksUri ??= await discoverJwksUri(options.fetch, config.issuer, timing.fetch);
      const keys = publicSigningKeys(await fetchJson(options.fetch, jwksUri, timing.fetch));
      const text = JSON.stringify(keys);
      const changed = text !== fingerprint;
      if (changed) {
        fingerprint = text;
        generation++;
        set = {
          getKey: createLocalJWKSet(keys),
          generation,
          fetchedAt: clock(),
          count: keys.keys.length,
        };
      } else if (set !== undefined) set.fetchedAt = clock();
      if (error !== null) options.log?.info(`OAuth keys of ${config.issuer} fetched again`);
      error = null;
      return changed;
    } catch (cause) {
      // A discovered jwks_uri is looked up again next time: the issuer may have moved its keys.
      if (config.jwksUri === undefined) jwksUri = null;
      const message = (cause as Error).message;
      if (error !== message) {
        options.log?.warn(
          `Cannot fetch the OAuth keys of ${config.issuer}: ${message}; OAuth tokens are ` +
            (set === undefined ? "refused until it answers" : "checked against the keys in hand"),
        );
      }
      error = message;
      return false;
    } finally {
      started = true;
    }
  }

  function single(): Promise<boolean> {
    inFlight ??= fetchOnce().finally(() => inFlight = undefined);
    return inFlight;
  }

  const timer = options.timer === false
    ? undefined
    : setInterval(() => void single(), timing.refreshMs);
  if (timer !== undefined) Deno.unrefTimer(timer);

  function usable() {
    if (set === undefined) return undefined;
    if (clock() - set.fetchedAt > timing.maxAgeMs) return undefined;
    return set;
  }

  return {
    current: () => usable(),
    async refreshForUnknownKey() {
      if (inFlight !== undefined) return await inFlight;
      if (clock() - lastAttempt < timing.cooldownMs) return false;
      return await single();
    },
    async refresh() {
      await single();
    },
    status() {
      const keys = usable();
      return {
        state: keys !== undefined ? "ready" : started ? "unavailable" : "starting",
        issuer: config.issuer,
        jwksUri,
        keys: keys?.count ?? 0,
        refreshedAt: set?.fetchedAt ?? null,
        error: keys === undefined && set !== undefined && error === null
          ? "the keys in hand are too old and the issuer did not answer"
          : error,
      };
    },
    close() {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
