import { expect } from "expect";
import { parsePolicy } from "./parse.ts";
import type { Policy } from "../types.ts";

const RULES = `rules:\n  - model: "*"\n    allow_tools: ["*"]\n`;

function load(text: string): Policy {
  const result = parsePolicy(text, { env: {} });
  if (!result.ok) throw new Error(`expected a valid policy, got:\n${result.errors.join("\n")}`);
  return result.policy;
}

function errorsOf(text: string): string[] {
  const result = parsePolicy(text, { env: {} });
  if (result.ok) throw new Error("expected the policy to be rejected");
  return result.errors;
}

Deno.test("oauth: defaults, agents by client id, and authenticated mode without agents", () => {
  const policy = load(`${RULES}oauth:
  issuer: https://login.example.com/tenant
  audience: https://gw.example.com/mcp
  required_scopes: [mcp:tools, mcp:tools]
agents:
  - id: chat
    oauth_client_id: connector-1
    models: [claude-*]
`);
  expect(policy.oauth).toEqual({
    issuer: "https://login.example.com/tenant",
    audience: "https://gw.example.com/mcp",
    requiredScopes: ["mcp:tools"],
    agentClaim: "client_id",
    algorithms: [
      "RS256",
      "RS384",
      "RS512",
      "PS256",
      "PS384",
      "PS512",
      "ES256",
      "ES384",
      "ES512",
      "EdDSA",
    ],
    clockSkewSeconds: 30,
  });
  expect(policy.agents?.[0]).toMatchObject({
    id: "chat",
    keySha256: null,
    oauthClientId: "connector-1",
  });
  const alone = load(`${RULES}oauth:
  issuer: http://127.0.0.1:9000
  audience: http://127.0.0.1:8080/mcp
  models_claim: mcp_models
  agent_claim: sub
`);
  expect(alone.agents).toEqual([]); // not open identity mode: every caller authenticates
  expect(alone.oauth?.agentClaim).toBe("sub");
});

Deno.test("oauth: check-policy names every problem", () => {
  const errors = errorsOf(`${RULES}oauth:
  issuer: http://login.example.com
  audience: https://gw.example.com/mcp#x
  jwks_uri: ftp://keys
  required_scopes: ["two words"]
  agent_claim: email
  algorithms: [HS256, none, RS256]
  clock_skew_seconds: 3600
  extra: 1
agents:
  - id: a
    oauth_client_id: c
    key_env: K
    models: [x]
`);
  expect(errors).toEqual([
    'oauth: unknown key "extra"',
    "oauth.issuer: must be an https: URL (http: only on a loopback address)",
    "oauth.audience: must not contain credentials, a query or a fragment",
    "oauth.jwks_uri: must be an https: URL (http: only on a loopback address)",
    'oauth.required_scopes[0]: must be one scope token (no spaces, quotes or "\\")',
    'oauth.agent_claim: must be "sub" or "client_id"',
    'oauth.algorithms[0]: "HS256" is not accepted (unsigned and shared-secret algorithms are never accepted); use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA',
    'oauth.algorithms[1]: "none" is not accepted (unsigned and shared-secret algorithms are never accepted); use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA',
    "oauth.clock_skew_seconds: must be a whole number of seconds from 0 to 300",
    'agents[0]: must have exactly one of "key_sha256", "key_env" and "oauth_client_id"',
  ]);
  expect(errorsOf(`${RULES}oauth:\n  issuer: https://a.example\n`)).toEqual([
    `oauth: missing required key "audience" (the gateway's own resource URL, e.g. https://gw.example/mcp)`,
  ]);
  expect(errorsOf(`${RULES}agents:
  - id: a
    oauth_client_id: c
    models: [x]
`)).toEqual(['agents[0].oauth_client_id: needs an "oauth:" section (§14) in the policy']);
});

Deno.test("upstreams: oauth_client_credentials, secret from the environment, checked", () => {
  const ok = parsePolicy(
    `${RULES}upstreams:
  crm:
    url: https://crm.example/mcp
    oauth_client_credentials:
      token_url: https://login.example.com/oauth/token
      client_id: gateway-crm
      client_secret_env: CRM_SECRET
      scope: "crm:read crm:write"
`,
    { env: { CRM_SECRET: "crm-secret-0123456789" } },
  );
  if (!ok.ok) throw new Error(ok.errors.join("\n"));
  const crm = ok.policy.upstreams.crm;
  expect(crm.kind === "http" && crm.clientCredentials).toEqual({
    tokenUrl: "https://login.example.com/oauth/token",
    clientId: "gateway-crm",
    clientSecret: "crm-secret-0123456789",
    scope: "crm:read crm:write",
    resource: "https://crm.example/mcp",
  });
  const bad = parsePolicy(
    `${RULES}upstreams:
  crm:
    url: https://crm.example/mcp
    headers:
      Authorization: "Bearer x"
    oauth_client_credentials:
      token_url: http://login.example.com/token
      client_secret_env: MISSING
      extra: 1
`,
    { env: {} },
  );
  expect(!bad.ok && bad.errors).toEqual([
    'upstreams.crm.oauth_client_credentials: unknown key "extra"',
    "upstreams.crm.oauth_client_credentials.token_url: must be an https: URL (http: only on a loopback address)",
    'upstreams.crm.oauth_client_credentials: missing required key "client_id"',
    'upstreams.crm.oauth_client_credentials.client_secret_env: environment variable "MISSING" is not set or is empty',
    "upstreams.crm: has both headers.Authorization and oauth_client_credentials: keep one of them",
  ]);
});
