/**
 * What an OAuth token costs on the request path (§14), against an agent key: `deno bench -A
 * bench/oauth_verify_bench.ts`. Keys in hand (no fetch); "first sight" verifies the signature,
 * "again" finds the token in the verified-token cache.
 */
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { authenticate } from "../src/identity/authenticate.ts";
import { bearerToken, findAgent } from "../src/identity/identify.ts";
import { createOAuthKeys } from "../src/identity/oauth_keys.ts";
import { createOAuthVerifier } from "../src/identity/oauth_verify.ts";
import { parsePolicy } from "../src/policy/parse/parse.ts";

const ISSUER = "https://idp.example";
const AUDIENCE = "https://gw.example/mcp";
const KEY = "planner-key-0123456789abcdef";

const parsed = parsePolicy(
  `oauth:
  issuer: ${ISSUER}
  audience: ${AUDIENCE}
  required_scopes: [mcp:tools]
agents:
  - id: connector
    oauth_client_id: client-a
    models: [claude-3-5-sonnet]
  - id: planner
    key_env: K
    models: [gpt-4o]
rules:
  - model: "*"
    allow_tools: ["*"]
`,
  { env: { K: KEY } },
);
if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
const policy = parsed.policy;

async function setup(alg: "ES256" | "RS256") {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...await exportJWK(publicKey), kid: "k1", alg, use: "sig" };
  const keys = createOAuthKeys({
    config: { ...policy.oauth!, jwksUri: `${ISSUER}/jwks` },
    fetch: () => Promise.resolve(Response.json({ keys: [jwk] })),
    clock: Date.now,
    timer: false,
  });
  await keys.refresh();
  const verifier = createOAuthVerifier({ config: policy.oauth!, keys, clock: Date.now });
  const sign = () =>
    new SignJWT({ client_id: "client-a", scope: "mcp:tools", jti: crypto.randomUUID() })
      .setProtectedHeader({ alg, kid: "k1" }).setIssuer(ISSUER).setAudience(AUDIENCE)
      .setIssuedAt().setExpirationTime("5m").sign(privateKey);
  return { verifier, sign };
}

const es = await setup("ES256");
const rs = await setup("RS256");
const esTokens = await Promise.all(Array.from({ length: 20_000 }, () => es.sign()));
const rsTokens = await Promise.all(Array.from({ length: 20_000 }, () => rs.sign()));
const cached = await es.sign();
await es.verifier.verify(cached, policy);
let i = 0;
let j = 0;

Deno.bench("agent key, the step before OAuth (bearerToken + findAgent)", { group: "key" }, () => {
  if (findAgent(policy.agents!, bearerToken(`Bearer ${KEY}`)!) === undefined) {
    throw new Error("refused");
  }
});

Deno.bench("agent key through authenticate() with oauth: configured", { group: "key" }, () => {
  const outcome = authenticate(`Bearer ${KEY}`, policy, es.verifier);
  if (outcome instanceof Promise || !outcome.ok) throw new Error("refused");
});

Deno.bench("agent key (sha256 + constant-time compare)", { group: "auth", baseline: true }, () => {
  const outcome = authenticate(`Bearer ${KEY}`, policy, es.verifier);
  if (outcome instanceof Promise || !outcome.ok) throw new Error("refused");
});

Deno.bench("OAuth ES256 token, first sight", { group: "auth" }, async () => {
  const outcome = await es.verifier.verify(esTokens[i++ % esTokens.length], policy);
  if (!outcome.ok) throw new Error(outcome.refusal.reason);
});

Deno.bench("OAuth RS256 token, first sight", { group: "auth" }, async () => {
  const outcome = await rs.verifier.verify(rsTokens[j++ % rsTokens.length], policy);
  if (!outcome.ok) throw new Error(outcome.refusal.reason);
});

Deno.bench("OAuth token again (verified-token cache)", { group: "auth" }, async () => {
  const outcome = await es.verifier.verify(cached, policy);
  if (!outcome.ok) throw new Error(outcome.refusal.reason);
});
