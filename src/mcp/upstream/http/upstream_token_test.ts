import { expect } from "expect";
import { createClientCredentials } from "./upstream_token.ts";

const CONFIG = {
  tokenUrl: "https://idp.example/token",
  clientId: "gateway",
  clientSecret: "gateway-secret-0123456789",
  scope: "crm:read",
  resource: "https://crm.example/mcp",
};

function tokenServer(lifetimeS = 300) {
  const seen: { body: string; authorization: string | null }[] = [];
  let issued = 0;
  let release: (() => void) | undefined;
  const gate = { hold: false };
  const fetchFn = async (_url: string, init: RequestInit) => {
    seen.push({
      body: String(init.body),
      authorization: new Headers(init.headers).get("authorization"),
    });
    if (gate.hold) await new Promise<void>((resolve) => release = resolve);
    issued++;
    return Response.json({
      access_token: `tok-${issued}`,
      token_type: "Bearer",
      expires_in: lifetimeS,
    });
  };
  return { seen, fetchFn, gate, release: () => release?.(), issued: () => issued };
}

Deno.test("client credentials: one fetch for many waiting calls, cached, refreshed before expiry", async () => {
  const server = tokenServer();
  let now = 1_000_000;
  const credentials = createClientCredentials({
    name: "crm",
    config: CONFIG,
    fetch: server.fetchFn,
    clock: () => now,
  });
  server.gate.hold = true;
  const waiting = Array.from({ length: 5 }, () => credentials.authorization());
  await new Promise((resolve) => setTimeout(resolve, 0));
  server.release();
  expect(await Promise.all(waiting)).toEqual(Array(5).fill("Bearer tok-1"));
  expect(server.issued()).toBe(1); // single flight
  server.gate.hold = false;
  const form = new URLSearchParams(server.seen[0].body);
  expect(Object.fromEntries(form)).toEqual({
    grant_type: "client_credentials",
    scope: "crm:read",
    resource: "https://crm.example/mcp",
  });
  expect(server.seen[0].authorization).toBe(`Basic ${btoa("gateway:gateway-secret-0123456789")}`);
  now += 200_000; // before refreshAt (300 s - 60 s)
  expect(await credentials.authorization()).toBe("Bearer tok-1");
  expect(server.issued()).toBe(1);
  now += 50_000; // 250 s: within the refresh margin, still valid → current one, refresh behind
  expect(await credentials.authorization()).toBe("Bearer tok-1");
  await new Promise((resolve) => setTimeout(resolve, 0));
  expect(server.issued()).toBe(2);
  expect(await credentials.authorization()).toBe("Bearer tok-2");
  credentials.invalidate(); // the upstream answered 401
  expect(await credentials.authorization()).toBe("Bearer tok-3");
});

Deno.test("client credentials: a failing or odd token endpoint is an upstream error without the secret", async () => {
  const failing = createClientCredentials({
    name: "crm",
    config: CONFIG,
    fetch: () => Promise.resolve(Response.json({ error: "invalid_client" }, { status: 401 })),
  });
  const error = await failing.authorization().catch((e: Error) => e);
  expect(String(error)).toContain('Cannot get an access token for upstream "crm"');
  expect(String(error)).toContain("HTTP 401");
  expect(String(error)).not.toContain(CONFIG.clientSecret);
  const odd = createClientCredentials({
    name: "crm",
    config: CONFIG,
    fetch: () => Promise.resolve(Response.json({ access_token: "x", token_type: "mac" })),
  });
  expect(String(await odd.authorization().catch((e: Error) => e))).toContain("no bearer token");
});
