/**
 * Who is calling (§7, §14), for the decision API and `/mcp` alike: an agent key (sha256, constant
 * time), or an OAuth access token (JWT) when the policy has `oauth:`. A key answers at once (no
 * promise, nothing of OAuth on its path); a token answers after its verification.
 */
import type { Agent, Policy } from "../policy/types.ts";
import type { ReasonCode } from "../reasons.ts";
import { bearerToken, findAgent } from "./identify.ts";
import { bearerChallenge, looksLikeJwt, type OAuthVerifier } from "./oauth_verify.ts";

/** The caller established, or why not. */
export type Authentication =
  | {
    readonly ok: true;
    /** The agent; null in open identity mode. */
    readonly agent: Agent | null;
    /** How: `open`, an agent `key`, or an `oauth` token. */
    readonly via: "open" | "key" | "oauth";
  }
  | {
    readonly ok: false;
    /** 401, 403 or 503. */
    readonly status: number;
    /** Reason code for the answer and the audit. */
    readonly reasonCode: ReasonCode;
    /** Precise reason, never the credential. */
    readonly reason: string;
    /** `WWW-Authenticate` value for the answer. */
    readonly wwwAuthenticate: string;
  };

const OPEN: Authentication = Object.freeze({ ok: true, agent: null, via: "open" });

/** Identifies the caller of a request from its `Authorization` header. */
export function authenticate(
  authorization: string | null,
  policy: Policy,
  oauth: OAuthVerifier | undefined,
): Authentication | Promise<Authentication> {
  const agents = policy.agents;
  if (agents === null) return OPEN;
  const token = bearerToken(authorization);
  if (token === undefined) {
    return {
      ok: false,
      status: 401,
      reasonCode: "unauthenticated",
      reason: policy.oauth !== undefined
        ? "missing agent key or OAuth access token in the Authorization header"
        : "missing Authorization: Bearer <agent key>",
      wwwAuthenticate: challengeOf(policy),
    };
  }
  if (policy.oauth !== undefined && looksLikeJwt(token)) {
    if (oauth === undefined) {
      return {
        ok: false,
        status: 503,
        reasonCode: "oauth_unavailable",
        reason: "OAuth tokens cannot be checked here",
        wwwAuthenticate: challengeOf(policy),
      };
    }
    return oauth.verify(token, policy).then((outcome): Authentication =>
      outcome.ok ? { ok: true, agent: outcome.identity.agent, via: "oauth" } : {
        ok: false,
        status: outcome.refusal.status,
        reasonCode: outcome.refusal.reasonCode,
        reason: outcome.refusal.reason,
        wwwAuthenticate: outcome.refusal.wwwAuthenticate ?? challengeOf(policy),
      }
    );
  }
  const agent = findAgent(agents, token);
  if (agent === undefined) {
    return {
      ok: false,
      status: 401,
      reasonCode: "unauthenticated",
      reason: "unknown agent key",
      wwwAuthenticate: challengeOf(policy),
    };
  }
  return { ok: true, agent, via: "key" };
}

const challenges = new WeakMap<object, string>();

/** The plain 401 challenge of a policy, built once per `oauth:` section (only on refusals). */
function challengeOf(policy: Policy): string {
  if (policy.oauth === undefined) return 'Bearer realm="mcp-sec-gateway"';
  let challenge = challenges.get(policy.oauth);
  if (challenge === undefined) {
    challenge = bearerChallenge(policy.oauth);
    challenges.set(policy.oauth, challenge);
  }
  return challenge;
}
