/**
 * OAuth 2.1 access tokens (§14): a JWT verified with jose against the issuer's keys — allowed
 * algorithms only, `iss`, `aud` (RFC 8707: this gateway's resource), `exp`/`nbf` with a small
 * skew on an injected clock — then mapped to an agent and its models, scopes checked. Verified
 * tokens are cached by their sha256 until they expire or the key set changes.
 */
import { createHash } from "node:crypto";
import { errors, type JWTPayload, jwtVerify } from "jose";
import type { Agent, Glob, OAuthConfig, Policy } from "../policy/types.ts";
import type { OAuthKeys } from "./oauth_keys.ts";

/** An agent established from a token. */
export interface OAuthIdentity {
  /** The policy's agent (by `oauth_client_id`), or one made from the models claim. */
  readonly agent: Agent;
}

/** Why a token is refused: HTTP status, reason code, precise reason, `WWW-Authenticate` value. */
export interface OAuthRefusal {
  /** 401, 403 or 503. */
  readonly status: 401 | 403 | 503;
  /** Reason code for the answer and the audit. */
  readonly reasonCode:
    | "invalid_token"
    | "insufficient_scope"
    | "forbidden_client"
    | "oauth_unavailable";
  /** Precise reason (never the token). */
  readonly reason: string;
  /** The `WWW-Authenticate` header to send, if any. */
  readonly wwwAuthenticate?: string;
}

/** The outcome of verifying one token. */
export type OAuthOutcome =
  | { readonly ok: true; readonly identity: OAuthIdentity }
  | { readonly ok: false; readonly refusal: OAuthRefusal };

/** A token verifier for one `oauth:` section and its keys. */
export interface OAuthVerifier {
  /** Verifies `token` against the policy in force (agents, models). */
  verify(token: string, policy: Policy): Promise<OAuthOutcome>;
}

/** True when `token` has the shape of a JWS compact JWT (`eyJ…` header, three parts). */
export function looksLikeJwt(token: string): boolean {
  return token.startsWith("eyJ") && token.split(".", 4).length === 3;
}

/** The RFC 9728 metadata URL of the resource `audience` (path appended after the well-known). */
export function resourceMetadataUrl(audience: string): string {
  const url = new URL(audience);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** The `WWW-Authenticate` challenge of a 401/403 (RFC 6750 §3 with RFC 9728's parameter). */
export function bearerChallenge(
  config: OAuthConfig,
  error?: { code: "invalid_token" | "insufficient_scope"; description: string; scope?: string },
): string {
  const parts = [`resource_metadata="${resourceMetadataUrl(config.audience)}"`];
  if (error !== undefined) {
    parts.push(`error="${error.code}"`);
    parts.push(`error_description="${error.description.replace(/["\\\r\n]/g, "")}"`);
  }
  const scope = error?.scope ?? config.requiredScopes.join(" ");
  if (scope !== "") parts.push(`scope="${scope}"`);
  return `Bearer ${parts.join(", ")}`;
}

/** Longest token looked at (a bigger one is refused before any parsing). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Largest number of verified tokens remembered. */
export const VERIFIED_CACHE_SIZE = 10_000;

/** Creates the verifier; `clock` is epoch ms. */
export function createOAuthVerifier(options: {
  config: OAuthConfig;
  keys: OAuthKeys;
  clock: () => number;
}): OAuthVerifier {
  const { config, keys, clock } = options;
  const cache = new Map<
    string,
    { agent: Agent; expiresAt: number; generation: number; policy: Policy }
  >();

  const invalid = (reason: string): OAuthOutcome => ({
    ok: false,
    refusal: {
      status: 401,
      reasonCode: "invalid_token",
      reason: `OAuth token refused: ${reason}`,
      wwwAuthenticate: bearerChallenge(config, { code: "invalid_token", description: reason }),
    },
  });

  async function verifySignature(token: string): Promise<
    { ok: true; payload: JWTPayload; generation: number } | { ok: false; outcome: OAuthOutcome }
  > {
    for (let attempt = 0; attempt < 2; attempt++) {
      const set = keys.current();
      if (set === undefined) {
        if (attempt === 0 && await keys.refreshForUnknownKey()) continue;
        return {
          ok: false,
          outcome: {
            ok: false,
            refusal: {
              status: 503,
              reasonCode: "oauth_unavailable",
              reason:
                `OAuth tokens cannot be checked: the keys of issuer ${config.issuer} are not available`,
            },
          },
        };
      }
      try {
        const { payload } = await jwtVerify(token, set.getKey, {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: [...config.algorithms],
          clockTolerance: config.clockSkewSeconds,
          currentDate: new Date(clock()),
          requiredClaims: ["exp"],
        });
        return { ok: true, payload, generation: set.generation };
      } catch (error) {
        if (error instanceof errors.JWKSNoMatchingKey && attempt === 0) {
          // A new key at the issuer (rotation): fetch once, within the cooldown's bound.
          if (await keys.refreshForUnknownKey()) continue;
        }
        return { ok: false, outcome: invalid(describeJoseError(error)) };
      }
    }
    return { ok: false, outcome: invalid("unknown signing key") };
  }

  return {
    async verify(token, policy) {
      if (token.length > MAX_TOKEN_LENGTH) return invalid("token too long");
      const now = clock();
      const digest = createHash("sha256").update(token, "utf8").digest("base64");
      const cached = cache.get(digest);
      const generation = keys.current()?.generation;
      if (cached !== undefined) {
        if (
          cached.expiresAt > now && cached.generation === generation && cached.policy === policy
        ) {
          return { ok: true, identity: { agent: cached.agent } };
        }
        cache.delete(digest);
      }
      const checked = await verifySignature(token);
      if (!checked.ok) return checked.outcome;
      const { payload } = checked;
      const missing = missingScopes(payload, config.requiredScopes);
      if (missing.length > 0) {
        const scope = config.requiredScopes.join(" ");
        const client = payload[config.agentClaim];
        const of = typeof client === "string" ? ` of ${JSON.stringify(client.slice(0, 64))}` : "";
        const reason = `OAuth token${of} lacks the scope ${
          missing.map((s) => JSON.stringify(s)).join(", ")
        }`;
        return {
          ok: false,
          refusal: {
            status: 403,
            reasonCode: "insufficient_scope",
            reason,
            wwwAuthenticate: bearerChallenge(config, {
              code: "insufficient_scope",
              description: `missing scope ${missing.join(" ")}`,
              scope,
            }),
          },
        };
      }
      const mapped = agentOf(payload, config, policy);
      if (typeof mapped === "string") {
        return {
          ok: false,
          refusal: { status: 403, reasonCode: "forbidden_client", reason: mapped },
        };
      }
      const expiresAt = Math.min((payload.exp as number) * 1000, now + 10 * 60_000);
      if (cache.size >= VERIFIED_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(digest, { agent: mapped, expiresAt, generation: checked.generation, policy });
      return { ok: true, identity: { agent: mapped } };
    },
  };
}

/** The required scopes the token does not hold (`scope` string or `scp` list). */
export function missingScopes(payload: JWTPayload, required: readonly string[]): string[] {
  if (required.length === 0) return [];
  const held = new Set<string>();
  if (typeof payload.scope === "string") { for (const s of payload.scope.split(" ")) held.add(s); }
  if (Array.isArray(payload.scp)) {
    for (const s of payload.scp) if (typeof s === "string") held.add(s);
  }
  return required.filter((scope) => !held.has(scope));
}

/** The agent a verified token acts as, or why there is none. */
export function agentOf(payload: JWTPayload, config: OAuthConfig, policy: Policy): Agent | string {
  const value = payload[config.agentClaim];
  if (typeof value !== "string" || value === "" || value.length > 256) {
    return `OAuth token has no usable "${config.agentClaim}" claim`;
  }
  const listed = policy.agents?.find((agent) => agent.oauthClientId === value);
  if (listed !== undefined) return listed;
  const shown = JSON.stringify(value.slice(0, 64));
  if (config.modelsClaim === undefined) {
    return `OAuth client ${shown} is not an agent of this gateway (no agents[].oauth_client_id)`;
  }
  const raw = payload[config.modelsClaim];
  const list = typeof raw === "string" ? raw.split(" ") : Array.isArray(raw) ? raw : [];
  const models = list.filter((m): m is string =>
    typeof m === "string" && m !== "" && m.length <= 256
  ).slice(0, 64);
  if (models.length === 0) {
    return `OAuth token of ${shown} names no model in its "${config.modelsClaim}" claim`;
  }
  return Object.freeze({
    id: `oauth:${value}`,
    keySha256: null,
    oauthClientId: value,
    models: Object.freeze(models.map(exactModel)),
  });
}

/** A model named by a token: matched exactly (a token never carries globs). */
function exactModel(model: string): Glob {
  return Object.freeze({ source: model, test: (value: string) => value === model });
}

/** A precise, token-free reason for a jose failure. */
export function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "aud") return "wrong audience: the token is for another resource";
    if (error.claim === "iss") return "wrong issuer";
    if (error.claim === "nbf") return "token not yet valid";
    if (error.claim === "exp") return "token has no expiry";
    return `claim "${error.claim}" is invalid`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "unknown signing key";
  if (error instanceof errors.JWKSMultipleMatchingKeys) return "ambiguous signing key";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (error instanceof errors.JOSEAlgNotAllowed) return "signing algorithm not allowed";
  if (error instanceof errors.JOSENotSupported) return "signing algorithm not supported";
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) {
    return "malformed token";
  }
  return "token cannot be verified";
}
