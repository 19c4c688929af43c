/**
 * OAuth 2.1 end to end (§14): a real authorization server (`oidc-provider`) on loopback, the MCP
 * SDK's client discovering it from the gateway's 401, and the refusals an attacker would try.
 */
import { expect } from "expect";
import {
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";
// @ts-types="@modelcontextprotocol/sdk/client/index.d.ts"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp.d.ts"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/auth.d.ts"
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
// @ts-types="@modelcontextprotocol/sdk/shared/auth.d.ts"
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
// @ts-types="@modelcontextprotocol/sdk/client/auth-extensions.d.ts"
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import {
  type AuthServer,
  signInAndConsent,
  signingKey,
  startAuthServer,
  type TestClient,
} from "./fixtures/auth_server.ts";
import { startFixtureHttpServer } from "./fixtures/http_server.ts";
import { startEchoAuthServer } from "./fixtures/echo_auth_server.ts";
import { startTestGateway, testClock, type TestGateway } from "./harness.ts";

const CONNECTOR: TestClient = {
  clientId: "chat-connector",
  clientSecret: "connector-secret-0123456789abcdef",
  scope: "mcp:tools other",
};
const NO_SCOPE: TestClient = {
  clientId: "scopeless",
  clientSecret: "scopeless-secret-0123456789abcdef",
  scope: "other",
};
const STRANGER: TestClient = {
  clientId: "stranger",
  clientSecret: "stranger-secret-0123456789abcdef",
  scope: "mcp:tools",
};
const AGENT_KEY = "planner-key-0123456789abcdef";
const GATEWAY_CLIENT: TestClient = {
  clientId: "gateway-upstream",
  clientSecret: "gateway-upstream-secret-0123456789",
  scope: "mcp:tools",
};

/** POSTs a decision (session "s1", empty input) to the gateway with a bearer token or key. */
function decide(gw: TestGateway, call: { model: string; tool: string; bearer: string }) {
  return gw.post("/mcp/toolcall", {
    model_id: call.model,
    session_id: "s1",
    tool_name: call.tool,
    input: {},
  }, { authorization: `Bearer ${call.bearer}` });
}

/** A free loopback port (the gateway's audience names it before it starts). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function policy(
  issuer: string,
  audience: string,
  upstreamUrl: string,
  upstreamExtra = "",
  extraAgents = "",
): string {
  return `oauth:
  issuer: ${issuer}
  audience: ${audience}
  required_scopes: [mcp:tools]
agents:
  - id: connector
    oauth_client_id: ${CONNECTOR.clientId}
    models: [claude-3-5-sonnet]
  - id: scopeless
    oauth_client_id: ${NO_SCOPE.clientId}
    models: [claude-3-5-sonnet]
  - id: planner
    key_env: PLANNER_KEY
    models: [gpt-4o]
${extraAgents}rules:
  - model: "*"
    allow_tools: ["calendar.echo", "search.*"]
upstreams:
  calendar:
    url: "${upstreamUrl}"
${upstreamExtra}`;
}

interface Setup {
  as: AuthServer;
  gw: TestGateway;
  audience: string;
  upstream: ReturnType<typeof startFixtureHttpServer>;
  close(): Promise<void>;
}

async function setup(
  options: { upstreamAuth?: boolean; clients?: TestClient[]; agents?: string } = {},
): Promise<Setup> {
  const as = await startAuthServer({
    clients: [CONNECTOR, NO_SCOPE, STRANGER, GATEWAY_CLIENT, ...options.clients ?? []],
  });
  const upstream = startFixtureHttpServer();
  const port = freePort();
  const audience = `http://127.0.0.1:${port}/mcp`;
  const upstreamAuth = options.upstreamAuth
    ? `    oauth_client_credentials:
      token_url: ${as.tokenEndpoint}
      client_id: ${GATEWAY_CLIENT.clientId}
      client_secret_env: CALENDAR_CLIENT_SECRET
      scope: mcp:tools
`
    : "";
  const gw = await startTestGateway({
    policy: policy(as.issuer, audience, upstream.url, upstreamAuth, options.agents),
    env: {
      PORT: String(port),
      PLANNER_KEY: AGENT_KEY,
      CALENDAR_CLIENT_SECRET: GATEWAY_CLIENT.clientSecret,
    },
    clock: testClock(Date.now()),
  });
  return {
    as,
    gw,
    audience,
    upstream,
    async close() {
      await gw.close();
      await upstream.close();
      await as.close();
    },
  };
}

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
  },
};

async function initialize(gw: TestGateway, token?: string): Promise<Response> {
  return await fetch(`${gw.url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(INIT),
  });
}

async function tokenFor(as: AuthServer, client: TestClient, resource: string): Promise<string> {
  const got = await as.token(client, { resource, scope: client.scope });
  if (got.status !== 200) throw new Error(`token endpoint: ${JSON.stringify(got.body)}`);
  return got.body.access_token as string;
}

Deno.test({
  name: "an SDK client with only the gateway URL and its client credentials calls a tool",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await setup();
    try {
      const provider = new ClientCredentialsProvider({
        clientId: CONNECTOR.clientId,
        clientSecret: CONNECTOR.clientSecret,
        // The SDK's client-credentials provider asks for the scopes it is configured with (it
        // does not take them from the 401's challenge as its authorization-code flow does).
        scope: "mcp:tools",
      });
      const client = new Client({ name: "hosted-connector", version: "1.0.0" });
      const transport = new StreamableHTTPClientTransport(new URL(`${s.gw.url}/mcp`), {
        authProvider: provider,
      });
      await client.connect(transport);
      const { tools } = await client.listTools();
      expect(tools.map((tool: { name: string }) => tool.name)).toEqual(["calendar.echo"]);
      const result = await client.callTool({ name: "calendar.echo", arguments: { text: "hi" } });
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toEqual({ text: "hi" });
      const token = provider.tokens()?.access_token as string;
      expect(token.startsWith("eyJ")).toBe(true);
      await transport.terminateSession().catch(() => {});
      await client.close();

      // The caller's token never goes upstream, in any header of any request.
      expect(s.upstream.stats.requests.length).toBeGreaterThan(0);
      for (const request of s.upstream.stats.requests) {
        expect(Object.values(request.headers).some((value) => value.includes(token))).toBe(false);
        expect(request.headers.authorization).toBeUndefined();
      }
      // An agent key keeps working beside OAuth.
      const keyed = await decide(s.gw, { model: "gpt-4o", tool: "search.web", bearer: AGENT_KEY });
      expect(keyed.status).toBe(200);
      // The audit names the agent and never holds the token.
      const events = await s.gw.logs();
      expect(events.some((e) => e.event === "toolcall" && e.agent_id === "connector")).toBe(true);
      await s.gw.gateway.shutdown();
      expect(await Deno.readTextFile(s.gw.auditPath)).not.toContain(token.split(".")[2]);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name:
    "refusals: no token, another resource, missing scope, unknown client, expired, unknown key, wrong issuer",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await setup();
    try {
      // 401 with the metadata URL; the metadata names the issuer and the scope.
      const bare = await initialize(s.gw);
      expect(bare.status).toBe(401);
      await bare.body?.cancel();
      const metadataUrl = `${s.gw.url}/.well-known/oauth-protected-resource/mcp`;
      expect(bare.headers.get("www-authenticate")).toContain(`resource_metadata="${metadataUrl}"`);
      const metadata = await (await fetch(metadataUrl)).json();
      expect(metadata).toMatchObject({
        resource: s.audience,
        authorization_servers: [s.as.issuer],
        scopes_supported: ["mcp:tools"],
      });
      const root = await fetch(`${s.gw.url}/.well-known/oauth-protected-resource`);
      expect((await root.json()).resource).toBe(s.audience);

      const expectRefused = async (
        token: string,
        status: number,
        text: string,
      ): Promise<Response> => {
        const response = await initialize(s.gw, token);
        const body = await response.json();
        expect({ status: response.status, message: body.error?.message }).toMatchObject({
          status,
          message: expect.stringContaining(text),
        });
        return response;
      };

      // A token the same issuer made for another resource (RFC 8707), replayed here.
      const elsewhere = await tokenFor(s.as, CONNECTOR, "http://127.0.0.1:1/other-mcp");
      const replay = await expectRefused(elsewhere, 401, "wrong audience");
      expect(replay.headers.get("www-authenticate")).toContain('error="invalid_token"');

      const scopeless = await tokenFor(s.as, NO_SCOPE, s.audience);
      const noScope = await expectRefused(scopeless, 403, 'lacks the scope "mcp:tools"');
      expect(noScope.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
      expect(noScope.headers.get("www-authenticate")).toContain('scope="mcp:tools"');

      await expectRefused(
        await tokenFor(s.as, STRANGER, s.audience),
        403,
        "is not an agent of this gateway",
      );

      // Signed by a key the issuer never published.
      const rogue = await generateKeyPair("ES256");
      const forged = await new SignJWT({ client_id: CONNECTOR.clientId, scope: "mcp:tools" })
        .setProtectedHeader({ alg: "ES256", kid: "rogue", typ: "at+jwt" })
        .setIssuer(s.as.issuer).setAudience(s.audience).setIssuedAt()
        .setExpirationTime("5m").sign(rogue.privateKey);
      await expectRefused(forged, 401, "unknown signing key");

      // Signed with the issuer's real key but naming another issuer.
      const issuerKey = await importJWK(s.as.keys[0], "ES256");
      const otherIssuer = await new SignJWT({ client_id: CONNECTOR.clientId, scope: "mcp:tools" })
        .setProtectedHeader({ alg: "ES256", kid: s.as.keys[0].kid, typ: "at+jwt" })
        .setIssuer("http://127.0.0.1:1").setAudience(s.audience).setIssuedAt()
        .setExpirationTime("5m").sign(issuerKey);
      await expectRefused(otherIssuer, 401, "wrong issuer");

      // A good token, then the same token once expired (300 s lifetime, 30 s skew).
      const good = await tokenFor(s.as, CONNECTOR, s.audience);
      const accepted = await initialize(s.gw, good);
      expect(accepted.status).toBe(200);
      await accepted.body?.cancel();
      s.gw.clock.advance(331_000);
      await expectRefused(good, 401, "token expired");

      // The decision API refuses the same way, with the challenge.
      const decision = await decide(s.gw, {
        model: "claude-3-5-sonnet",
        tool: "search.web",
        bearer: good,
      });
      expect(decision.status).toBe(401);
      expect(decision.json.reason_code).toBe("invalid_token");
      expect(decision.headers.get("www-authenticate")).toContain("resource_metadata=");

      const failures = (await s.gw.logs("&event=auth_failure")).map((e) =>
        `${e.reason_code}: ${e.reason}`
      );
      expect(failures).toEqual([
        "unauthenticated: missing agent key or OAuth access token in the Authorization header",
        "invalid_token: OAuth token refused: wrong audience: the token is for another resource",
        'insufficient_scope: OAuth token of "scopeless" lacks the scope "mcp:tools"',
        'forbidden_client: OAuth client "stranger" is not an agent of this gateway (no agents[].oauth_client_id)',
        "invalid_token: OAuth token refused: unknown signing key",
        "invalid_token: OAuth token refused: wrong issuer",
        "invalid_token: OAuth token refused: token expired",
        "invalid_token: OAuth token refused: token expired",
      ]);
      await s.gw.gateway.shutdown();
      const audit = await Deno.readTextFile(s.gw.auditPath);
      for (const token of [elsewhere, scopeless, forged, good]) {
        expect(audit).not.toContain(token.split(".")[2]);
      }
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "rotated JWKS: the new key is accepted after a refresh, the removed one refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await setup();
    try {
      const before = await tokenFor(s.as, CONNECTOR, s.audience);
      const first = await initialize(s.gw, before);
      expect(first.status).toBe(200);
      await first.body?.cancel();
      s.as.rotate([await signingKey("key-2")]);
      const after = await tokenFor(s.as, CONNECTOR, s.audience);
      s.gw.clock.advance(31_000); // past the refresh cooldown
      const reads = s.as.jwksReads();
      const second = await initialize(s.gw, after);
      expect(second.status).toBe(200);
      await second.body?.cancel();
      expect(s.as.jwksReads()).toBe(reads + 1);
      const old = await initialize(s.gw, before);
      expect(old.status).toBe(401);
      expect((await old.json()).error.message).toContain("unknown signing key");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "issuer unreachable: OAuth tokens fail closed (503), agent keys work, /healthz degraded",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freePort();
    const audience = `http://127.0.0.1:${port}/mcp`;
    const deadIssuer = `http://127.0.0.1:${freePort()}`;
    const upstream = startFixtureHttpServer();
    const gw = await startTestGateway({
      policy: policy(deadIssuer, audience, upstream.url),
      env: { PORT: String(port), PLANNER_KEY: AGENT_KEY },
      clock: testClock(Date.now()),
    });
    try {
      const { privateKey, publicKey } = await generateKeyPair("ES256");
      const jwk: JWK = await exportJWK(publicKey);
      const token = await new SignJWT({ client_id: CONNECTOR.clientId, scope: "mcp:tools" })
        .setProtectedHeader({ alg: "ES256", kid: jwk.kid ?? "k" })
        .setIssuer(deadIssuer).setAudience(audience).setIssuedAt().setExpirationTime("5m")
        .sign(privateKey);
      const refused = await initialize(gw, token);
      expect(refused.status).toBe(503);
      await refused.body?.cancel();
      const keyed = await decide(gw, { model: "gpt-4o", tool: "search.web", bearer: AGENT_KEY });
      expect(keyed.status).toBe(200);
      const health = await fetch(`${gw.url}/healthz`, {
        headers: { authorization: `Bearer ${gw.adminToken}` },
      });
      const body = await health.json();
      expect(body.status).toBe("degraded");
      expect(body.oauth).toMatchObject({ issuer: deadIssuer, state: "unavailable", keys: 0 });
      expect(body.oauth.error).toContain("cannot be reached");
    } finally {
      await gw.close();
      await upstream.close();
    }
  },
});

Deno.test({
  name: "an upstream behind client credentials gets the gateway's own token, never the caller's",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await setup({ upstreamAuth: true });
    try {
      const callerToken = await tokenFor(s.as, CONNECTOR, s.audience);
      const client = new Client({ name: "hosted-connector", version: "1.0.0" });
      const transport = new StreamableHTTPClientTransport(new URL(`${s.gw.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${callerToken}` } },
      });
      await client.connect(transport);
      const result = await client.callTool({ name: "calendar.echo", arguments: { text: "hi" } });
      expect(result.structuredContent).toEqual({ text: "hi" });
      await transport.terminateSession().catch(() => {});
      await client.close();

      // What the upstream received: the gateway's token for the upstream, one for all requests.
      const received = new Set(s.upstream.stats.requests.map((r) => r.headers.authorization));
      expect(received.size).toBe(1);
      const [authorization] = [...received];
      expect(authorization).toMatch(/^Bearer eyJ/);
      expect(authorization).not.toContain(callerToken);
      const jwks = createRemoteJWKSet(new URL(`${s.as.issuer}/jwks`));
      const { payload } = await jwtVerify(authorization!.slice(7), jwks, {
        issuer: s.as.issuer,
        audience: s.upstream.url,
      });
      expect(payload.client_id).toBe(GATEWAY_CLIENT.clientId);
      expect(payload.scope).toBe("mcp:tools");
      // The client secret is in no answer and no audit line.
      await s.gw.gateway.shutdown();
      expect(await Deno.readTextFile(s.gw.auditPath)).not.toContain(GATEWAY_CLIENT.clientSecret);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "reload: OAuth turned on takes effect at once; a client removed later loses its session",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await setup();
    try {
      const withOAuth = await Deno.readTextFile(s.gw.policyPath);
      // Start over from a policy with keys only, then reload the OAuth one.
      const keysOnly = withOAuth.replace(/^oauth:\n(?: {2}.*\n)+/m, "").replace(
        / {2}- id: connector\n.*\n.*\n {2}- id: scopeless\n.*\n.*\n/,
        "",
      );
      await Deno.writeTextFile(s.gw.policyPath, keysOnly);
      expect((await s.gw.gateway.store.reload()).ok).toBe(true);
      const token = await tokenFor(s.as, CONNECTOR, s.audience);
      const before = await initialize(s.gw, token);
      expect(before.status).toBe(401); // a JWT is just an unknown agent key without oauth:
      await before.body?.cancel();
      expect((await fetch(`${s.gw.url}/.well-known/oauth-protected-resource`)).status).toBe(404);

      await Deno.writeTextFile(s.gw.policyPath, withOAuth);
      expect((await s.gw.gateway.store.reload()).ok).toBe(true);
      const opened = await initialize(s.gw, token);
      expect(opened.status).toBe(200);
      const sessionId = opened.headers.get("mcp-session-id")!;
      await opened.body?.cancel();
      const list = () =>
        fetch(`${s.gw.url}/mcp`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            authorization: `Bearer ${token}`,
            "mcp-session-id": sessionId,
            "mcp-protocol-version": "2025-11-25",
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
        });
      const listed = await list();
      expect(listed.status).toBe(200);
      await listed.body?.cancel();

      // The connector is removed from agents: its live session is revoked on its next request.
      await Deno.writeTextFile(
        s.gw.policyPath,
        withOAuth.replace(/ {2}- id: connector\n.*\n.*\n/, ""),
      );
      expect((await s.gw.gateway.store.reload()).ok).toBe(true);
      const revoked = await list();
      expect(revoked.status).toBe(403);
      await revoked.body?.cancel();
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "a hostile upstream cannot echo the gateway's own upstream token back to an agent",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const as = await startAuthServer({ clients: [GATEWAY_CLIENT] });
    const upstream = startEchoAuthServer();
    const gw = await startTestGateway({
      policy: `agents:
  - id: planner
    key_env: PLANNER_KEY
    models: [gpt-4o]
rules:
  - model: "*"
    allow_tools: ["echo.*"]
upstreams:
  echo:
    url: "${upstream.url}"
    oauth_client_credentials:
      token_url: ${as.tokenEndpoint}
      client_id: ${GATEWAY_CLIENT.clientId}
      client_secret_env: ECHO_CLIENT_SECRET
      scope: mcp:tools
`,
      env: { PLANNER_KEY: AGENT_KEY, ECHO_CLIENT_SECRET: GATEWAY_CLIENT.clientSecret },
      clock: testClock(Date.now()),
    });
    try {
      const called = await decide(gw, { model: "gpt-4o", tool: "echo.whoami", bearer: AGENT_KEY });
      expect(called.status).toBe(200);
      const token = upstream.received.find((value) => value !== null)!.slice("Bearer ".length);
      expect(token.startsWith("eyJ")).toBe(false); // an opaque token: no shape to catch
      expect(token.length).toBeGreaterThan(20);
      const text = JSON.stringify(called.json);
      expect(text).toContain("you sent: ");
      expect(text).not.toContain(token);
      await gw.gateway.shutdown();
      expect(await Deno.readTextFile(gw.auditPath)).not.toContain(token);
    } finally {
      await gw.close();
      await upstream.close();
      await as.close();
    }
  },
});

const REDIRECT_URI = "http://127.0.0.1:9/callback";
const IDE: TestClient = {
  clientId: "ide-agent",
  clientSecret: "",
  scope: "mcp:tools",
  redirectUri: REDIRECT_URI,
};

/** An OAuth client provider as an IDE would have: a pre-registered public client, PKCE, and a
 * "browser" the test drives (`authorizationUrl` is where the user would be sent). */
class IdeProvider implements OAuthClientProvider {
  authorizationUrl?: URL;
  private saved?: OAuthTokens;
  private verifier = "";
  get redirectUrl(): string {
    return REDIRECT_URI;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "ide",
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation(): OAuthClientInformationMixed {
    return { client_id: IDE.clientId };
  }
  tokens(): OAuthTokens | undefined {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }
  codeVerifier(): string {
    return this.verifier;
  }
}

Deno.test({
  name:
    "an IDE client: authorization code with PKCE, a user signs in and consents, then a tool call",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await setup({
      clients: [IDE],
      agents: `  - id: ide
    oauth_client_id: ${IDE.clientId}
    models: [claude-3-5-sonnet]
`,
    });
    try {
      const provider = new IdeProvider();
      const url = new URL(`${s.gw.url}/mcp`);
      const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
      const client = new Client({ name: "ide", version: "1.0.0" });
      // The 401 sends the client to the issuer: it stops there until the user has signed in.
      await expect(client.connect(first)).rejects.toThrow(/Unauthorized/);
      const authorizationUrl = provider.authorizationUrl!;
      expect(authorizationUrl.origin).toBe(s.as.issuer);
      expect(authorizationUrl.searchParams.get("resource")).toBe(s.audience);
      expect(authorizationUrl.searchParams.get("code_challenge_method")).toBe("S256");
      const code = await signInAndConsent(authorizationUrl.href, "alice");
      await first.finishAuth(code);
      const second = new StreamableHTTPClientTransport(url, { authProvider: provider });
      await client.connect(second);
      const result = await client.callTool({ name: "calendar.echo", arguments: { text: "hi" } });
      expect(result.structuredContent).toEqual({ text: "hi" });
      const token = provider.tokens()!.access_token;
      const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      expect(claims).toMatchObject({ sub: "alice", client_id: IDE.clientId, aud: s.audience });
      await second.terminateSession().catch(() => {});
      await client.close();
      const events = await s.gw.logs("&event=toolcall");
      expect(events.some((e) => e.agent_id === "ide" && e.status === "allowed")).toBe(true);
    } finally {
      await s.close();
    }
  },
});
