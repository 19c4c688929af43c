/**
 * The OAuth side of the gateway at run time (§14): one key cache per issuer and `jwks_uri`, kept
 * across reloads that do not change them, and one verifier per `oauth:` section in force.
 */
import type { OAuthConfig, Policy } from "../policy/types.ts";
import type { FetchLike } from "./oauth_fetch.ts";
import {
  createOAuthKeys,
  type OAuthKeys,
  type OAuthKeysStatus,
  type OAuthKeysTiming,
} from "./oauth_keys.ts";
import { createOAuthVerifier, type OAuthVerifier } from "./oauth_verify.ts";

/** OAuth at run time: verifiers for the policy in force, key prefetch, health. */
export interface OAuthRuntime {
  /** The verifier of `policy.oauth`, or undefined when the policy has none. */
  verifierFor(policy: Policy): OAuthVerifier | undefined;
  /** Fetches the keys of `policy.oauth` now (start-up, reload); never throws. */
  apply(policy: Policy): Promise<void>;
  /** The key cache's state, or null without `oauth:`. */
  status(): OAuthKeysStatus | null;
  /** Stops refresh timers. */
  close(): void;
}

/** Creates the runtime; `fetch` and `clock` are the effects. */
export function createOAuthRuntime(options: {
  fetch: FetchLike;
  clock: () => number;
  log?: { warn(message: string): void; info(message: string): void };
  timing?: Partial<OAuthKeysTiming>;
  timer?: boolean;
}): OAuthRuntime {
  let keys: { id: string; keys: OAuthKeys } | undefined;
  let verifier: { config: OAuthConfig; verifier: OAuthVerifier } | undefined;
  let active = false;

  function keysFor(config: OAuthConfig): OAuthKeys {
    const id = `${config.issuer}\n${config.jwksUri ?? ""}`;
    if (keys?.id !== id) {
      keys?.keys.close();
      keys = {
        id,
        keys: createOAuthKeys({
          config,
          fetch: options.fetch,
          clock: options.clock,
          log: options.log,
          timing: options.timing,
          timer: options.timer,
        }),
      };
    }
    return keys.keys;
  }

  return {
    verifierFor(policy) {
      const config = policy.oauth;
      active = config !== undefined;
      if (config === undefined) return undefined;
      if (verifier?.config !== config) {
        verifier = {
          config,
          verifier: createOAuthVerifier({ config, keys: keysFor(config), clock: options.clock }),
        };
      }
      return verifier.verifier;
    },
    async apply(policy) {
      active = policy.oauth !== undefined;
      if (policy.oauth === undefined) {
        keys?.keys.close();
        keys = undefined;
        verifier = undefined;
        return;
      }
      await keysFor(policy.oauth).refresh();
    },
    status: () => (active && keys !== undefined ? keys.keys.status() : null),
    close() {
      keys?.keys.close();
    },
  };
}
