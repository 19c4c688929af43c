import { expect } from "expect";
import fc from "fast-check";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { parsePolicy } from "../policy/parse/parse.ts";
import type { Policy } from "../policy/types.ts";
import { createOAuthKeys } from "./oauth_keys.ts";
import type { FetchLike } from "./oauth_fetch.ts";
import { createOAuthVerifier, looksLikeJwt, resourceMetadataUrl } from "./oauth_verify.ts";

const ISSUER = "https://idp.example";
const AUDIENCE = "https://gw.example/mcp";
const NOW = Date.parse("2026-12-04T10:00:00Z");

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk: JWK = { ...await exportJWK(publicKey), kid, alg: "ES256", use: "sig" };
  return { privateKey, jwk, kid };
}

function policyText(extra = ""): Policy {
  const parsed = parsePolicy(
    `oauth:
  issuer: ${ISSUER}
  audience: ${AUDIENCE}
  required_scopes: [mcp:tools]
${extra}
agents:
  - id: chat-connector
    oauth_client_id: client-a
    models: [claude-3-5-sonnet]
rules:
  - model: "*"
    allow_tools: ["*"]
`,
    { env: {} },
  );
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.policy;
}

/** An identity provider the test controls: metadata and a JWKS it can swap, counting fetches. */
function fakeIssuer(initial: JWK[]) {
  const state = { keys: initial, jwksFetches: 0, down: false };
  const fetchFn: FetchLike = (url) => {
    if (state.down) return Promise.reject(new TypeError("connection refused"));
    if (url === `${ISSUER}/.well-known/oauth-authorization-server`) {
      return Promise.resolve(Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` }));
    }
    if (url === `${ISSUER}/jwks`) {
      state.jwksFetches++;
      return Promise.resolve(Response.json({ keys: state.keys }));
    }
    return Promise.resolve(new Response("no", { status: 404 }));
  };
  return { state, fetchFn };
}

async function token(
  key: { privateKey: Parameters<SignJWT["sign"]>[0]; kid: string },
  claims: Record<string, unknown> = {},
  options: { iat?: number; exp?: number; alg?: string } = {},
): Promise<string> {
  const iat = options.iat ?? Math.floor(NOW / 1000);
  return await new SignJWT({ client_id: "client-a", scope: "mcp:tools other", ...claims })
    .setProtectedHeader({ alg: options.alg ?? "ES256", kid: key.kid, typ: "at+jwt" })
    .setIssuer((claims.iss as string) ?? ISSUER)
    .setAudience((claims.aud as string) ?? AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(options.exp ?? iat + 300)
    .sign(key.privateKey);
}

async function setup(extraPolicy = "") {
  const signing = await keyPair("k1");
  const issuer = fakeIssuer([signing.jwk]);
  let now = NOW;
  const clock = () => now;
  const keys = createOAuthKeys({
    config: policyText(extraPolicy).oauth!,
    fetch: issuer.fetchFn,
    clock,
    timer: false,
  });
  await keys.refresh();
  const policy = policyText(extraPolicy);
  const verifier = createOAuthVerifier({ config: policy.oauth!, keys, clock });
  return {
    signing,
    issuer,
    keys,
    policy,
    verifier,
    advance: (ms: number) => void (now += ms),
  };
}

Deno.test("a token of the issuer for this gateway maps to the agent of its client id", async () => {
  const { signing, verifier, policy } = await setup();
  const outcome = await verifier.verify(await token(signing), policy);
  expect(outcome.ok && outcome.identity.agent.id).toBe("chat-connector");
});

Deno.test("refusals an attacker would try, each with its precise reason", async () => {
  const { signing, verifier, policy, advance } = await setup();
  const refused = async (jwt: string) => {
    const outcome = await verifier.verify(jwt, policy);
    if (outcome.ok) throw new Error("accepted");
    return outcome.refusal;
  };
  const wrongAudience = await refused(await token(signing, { aud: "https://other.example/mcp" }));
  expect(wrongAudience.status).toBe(401);
  expect(wrongAudience.reason).toContain("wrong audience");
  expect(wrongAudience.wwwAuthenticate).toContain(
    'resource_metadata="https://gw.example/.well-known/oauth-protected-resource/mcp"',
  );
  expect(wrongAudience.wwwAuthenticate).toContain('error="invalid_token"');
  expect((await refused(await token(signing, { iss: "https://evil.example" }))).reason)
    .toContain("wrong issuer");
  const good = await token(signing);
  const [head, body, signature] = good.split(".");
  const forged = JSON.parse(atob(body.replace(/-/g, "+").replace(/_/g, "/")));
  forged.client_id = "someone-else";
  const forgedBody = btoa(JSON.stringify(forged)).replace(/=+$/, "").replace(/\+/g, "-")
    .replace(/\//g, "_");
  expect((await refused(`${head}.${forgedBody}.${signature}`)).reason).toContain("bad signature");
  const unsignedHead = btoa(JSON.stringify({ alg: "none", kid: "k1" })).replace(/=+$/, "");
  expect((await refused(`${unsignedHead}.${body}.`)).reason).toMatch(/not allowed|malformed/);
  // HS256 keyed with the public key's text (algorithm confusion).
  const hs = await new SignJWT({ client_id: "client-a", scope: "mcp:tools" })
    .setProtectedHeader({ alg: "HS256", kid: "k1" }).setIssuer(ISSUER).setAudience(AUDIENCE)
    .setExpirationTime(Math.floor(NOW / 1000) + 60)
    .sign(new TextEncoder().encode(JSON.stringify(signing.jwk)));
  expect((await refused(hs)).reason).toContain("algorithm not allowed");
  const scopeless = await refused(await token(signing, { scope: "other" }));
  expect(scopeless.status).toBe(403);
  expect(scopeless.reasonCode).toBe("insufficient_scope");
  expect(scopeless.wwwAuthenticate).toContain('error="insufficient_scope"');
  expect(scopeless.wwwAuthenticate).toContain('scope="mcp:tools"');
  const stranger = await refused(await token(signing, { client_id: "client-z" }));
  expect(stranger.status).toBe(403);
  expect(stranger.reasonCode).toBe("forbidden_client");
  // Accepted now, then refused once expired (the verified-token cache does not outlive exp).
  expect((await verifier.verify(good, policy)).ok).toBe(true);
  advance(300_000 + 31_000);
  const expired = await refused(good);
  expect(expired.reason).toContain("token expired");
  expect(JSON.stringify(expired)).not.toContain(good);
});

Deno.test("a token within the clock skew is accepted; one not yet valid is refused", async () => {
  const { signing, verifier, policy, advance } = await setup();
  const jwt = await token(signing, {}, { exp: Math.floor(NOW / 1000) + 10 });
  advance(20_000); // 10 s past exp, within the 30 s skew
  expect((await verifier.verify(jwt, policy)).ok).toBe(true);
  const early = await token(signing, { nbf: Math.floor(NOW / 1000) + 3600 });
  const outcome = await verifier.verify(early, policy);
  expect(!outcome.ok && outcome.refusal.reason).toContain("not yet valid");
});

Deno.test("unknown kid: one refresh, rate-limited; a rotated key is accepted, a removed one refused", async () => {
  const { signing, verifier, policy, issuer, advance } = await setup();
  const stranger = await keyPair("k-unknown");
  const early = await verifier.verify(await token(stranger, { jti: "early" }), policy);
  expect(!early.ok && early.refusal.reason).toContain("unknown signing key");
  expect(issuer.state.jwksFetches).toBe(1); // fetched at start-up just now: cooldown holds
  advance(31_000);
  const first = await verifier.verify(await token(stranger), policy);
  expect(!first.ok && first.refusal.reason).toContain("unknown signing key");
  expect(issuer.state.jwksFetches).toBe(2); // start-up + one refresh for the unknown kid
  await verifier.verify(await token(stranger, { jti: "again" }), policy);
  expect(issuer.state.jwksFetches).toBe(2); // within the cooldown: no fetch
  const oldToken = await token(signing);
  expect((await verifier.verify(oldToken, policy)).ok).toBe(true);
  // Rotation: the issuer now publishes k2 only.
  const rotated = await keyPair("k2");
  issuer.state.keys = [rotated.jwk];
  advance(31_000);
  expect((await verifier.verify(await token(rotated), policy)).ok).toBe(true);
  expect(issuer.state.jwksFetches).toBe(3);
  const removed = await verifier.verify(oldToken, policy); // cached before; the key set changed
  expect(!removed.ok && removed.refusal.reason).toContain("unknown signing key");
});

Deno.test("issuer unreachable from the start: OAuth tokens fail closed with 503", async () => {
  const signing = await keyPair("k1");
  const issuer = fakeIssuer([signing.jwk]);
  issuer.state.down = true;
  const policy = policyText();
  const keys = createOAuthKeys({
    config: policy.oauth!,
    fetch: issuer.fetchFn,
    clock: () => NOW,
    timer: false,
  });
  await keys.refresh();
  expect(keys.status().state).toBe("unavailable");
  expect(keys.status().error).toContain("cannot be reached");
  const verifier = createOAuthVerifier({ config: policy.oauth!, keys, clock: () => NOW });
  const outcome = await verifier.verify(await token(signing), policy);
  expect(!outcome.ok && outcome.refusal.status).toBe(503);
  expect(!outcome.ok && outcome.refusal.reasonCode).toBe("oauth_unavailable");
});

Deno.test("a JWKS with private or symmetric keys keeps only public signing keys; size is bounded", async () => {
  const signing = await keyPair("k1");
  const { publicSigningKeys } = await import("./oauth_keys.ts");
  const kept = publicSigningKeys({
    keys: [signing.jwk, { kty: "oct", k: "c2VjcmV0", kid: "s" }, { ...signing.jwk, d: "x" }],
  });
  expect(kept.keys.length).toBe(1);
  const huge: FetchLike = () => Promise.resolve(new Response("x".repeat(300_000)));
  const keys = createOAuthKeys({
    config: { ...policyText().oauth!, jwksUri: `${ISSUER}/jwks` },
    fetch: huge,
    clock: () => NOW,
    timer: false,
  });
  await keys.refresh();
  expect(keys.status().error).toContain("more than");
});

Deno.test("models from a claim for clients not listed under agents", async () => {
  const { signing, verifier } = await setup("  models_claim: mcp_models");
  const policy = policyText("  models_claim: mcp_models");
  const outcome = await verifier.verify(
    await token(signing, { client_id: "ide-7", mcp_models: ["gpt-4o"] }),
    policy,
  );
  expect(outcome.ok && outcome.identity.agent.id).toBe("oauth:ide-7");
  expect(outcome.ok && outcome.identity.agent.models[0].test("gpt-4o")).toBe(true);
  expect(outcome.ok && outcome.identity.agent.models[0].test("gpt-4o-mini")).toBe(false);
});

Deno.test("helpers: JWT shape, metadata URL", () => {
  expect(looksLikeJwt("eyJhbGciOi.eyJzdWIi.sig")).toBe(true);
  expect(looksLikeJwt("agent-key-0123456789abcdef")).toBe(false);
  expect(resourceMetadataUrl("https://gw.example/mcp")).toBe(
    "https://gw.example/.well-known/oauth-protected-resource/mcp",
  );
  expect(resourceMetadataUrl("https://gw.example")).toBe(
    "https://gw.example/.well-known/oauth-protected-resource",
  );
});

Deno.test("a discovered jwks_uri that stops answering is discovered again on the next fetch", async () => {
  const signing = await keyPair("k1");
  let jwksPath = "/jwks";
  const fetched: string[] = [];
  const fetchFn: FetchLike = (url) => {
    fetched.push(url);
    if (url === `${ISSUER}/.well-known/oauth-authorization-server`) {
      return Promise.resolve(Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}${jwksPath}` }));
    }
    if (url === `${ISSUER}${jwksPath}`) {
      return Promise.resolve(Response.json({ keys: [signing.jwk] }));
    }
    return Promise.resolve(new Response("gone", { status: 404 }));
  };
  const keys = createOAuthKeys({
    config: policyText().oauth!,
    fetch: fetchFn,
    clock: () => NOW,
    timer: false,
  });
  await keys.refresh();
  expect(keys.status()).toMatchObject({ state: "ready", jwksUri: `${ISSUER}/jwks` });
  jwksPath = "/keys-v2";
  await keys.refresh(); // the old URL answers 404: keys in hand kept, URL forgotten
  expect(keys.status().state).toBe("ready");
  await keys.refresh();
  expect(keys.status()).toMatchObject({
    state: "ready",
    jwksUri: `${ISSUER}/keys-v2`,
    error: null,
  });
  expect(fetched.filter((url) => url.includes("oauth-authorization-server")).length).toBe(2);
});

Deno.test("hostile bearer values: never accepted, never thrown, always a 401 with a reason", async () => {
  const { signing, verifier, policy } = await setup();
  const good = await token(signing);
  const [head, body, signature] = good.split(".");
  const part = fc.oneof(
    fc.string(),
    fc.base64String(),
    fc.constantFrom(head, body, signature, "", "eyJ", "e30"),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(part, { minLength: 1, maxLength: 5 }), async (parts) => {
      const candidate = parts.join(".");
      fc.pre(candidate !== good);
      const outcome = await verifier.verify(candidate, policy);
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.refusal.status).toBe(401);
        expect(outcome.refusal.reason).not.toContain(candidate.length > 8 ? candidate : "\0");
      }
    }),
    { numRuns: 300 },
  );
  const huge = await verifier.verify(`eyJ${"A".repeat(20_000)}.x.y`, policy);
  expect(!huge.ok && huge.refusal.reason).toContain("token too long");
});
