import { expect } from "expect";
import { CIRCULAR, isSecretKey, MAX_REDACT_DEPTH, redact, REDACTED, TOO_DEEP } from "./redact.ts";

const SECRET_KEYS = [
  "password",
  "PASSWORD",
  "db_password",
  "passwd",
  "secret",
  "client_secret",
  "Client-Secret",
  "token",
  "access_token",
  "refresh-token",
  "api_key",
  "X-Api-Key",
  "apikey",
  "myApiKey",
  "Authorization",
  "proxy-authorization",
  "cookie",
  "Set-Cookie",
  "private_key",
  "ssh-private-key",
  "credentials",
  "aws_credentials",
  // §12: the word rule
  "aws_secret_access_key",
  "SecretAccessKey",
  "client_secret",
  "passphrase",
  "private_key_pem",
  "ssh_key",
  "x-api-key",
  "auth_header",
  "auth",
  "accessToken",
  "APIKey",
  "secrets",
  "passwords",
  "api_keys",
  "cookies",
  "credential",
  "id_jwt",
  "db.password",
];

const PLAIN_KEYS = [
  "max_tokens",
  "maxTokens",
  "tokens",
  "token_count",
  "tokenCount",
  "keyboard",
  "secretary",
  "author",
  "authority",
  "key",
  "keys",
  "monkey",
  "primary_key",
  "private",
  "auth_mode",
  "oauth_url",
  "",
];

Deno.test("isSecretKey: the word rule (§12), camelCase and separators split into words", () => {
  for (const key of SECRET_KEYS) expect([key, isSecretKey(key)]).toEqual([key, true]);
  for (const key of PLAIN_KEYS) expect([key, isSecretKey(key)]).toEqual([key, false]);
});

Deno.test("redact replaces secret values at any depth, inside arrays too", () => {
  const input = {
    query: "weather",
    max_tokens: 100,
    token_count: 3,
    Authorization: "Bearer abc",
    nested: { deeper: [{ "X-Api-Key": "k1", keep: 1 }, [{ access_token: { any: "shape" } }]] },
    list: [1, "two", null, true],
  };
  expect(redact(input)).toEqual({
    query: "weather",
    max_tokens: 100,
    token_count: 3,
    Authorization: REDACTED,
    nested: { deeper: [{ "X-Api-Key": REDACTED, keep: 1 }, [{ access_token: REDACTED }]] },
    list: [1, "two", null, true],
  });
});

Deno.test("redact returns a copy and leaves the input untouched", () => {
  const input = { password: "p", inner: { a: 1 } };
  const output = redact(input) as { inner: { a: number } };
  expect(input.password).toBe("p");
  expect(output.inner).not.toBe(input.inner);
  expect(output.inner).toEqual({ a: 1 });
});

Deno.test("redact keeps primitives and null payloads as they are", () => {
  expect(redact("text")).toBe("text");
  expect(redact(42)).toBe(42);
  expect(redact(null)).toBe(null);
  expect(redact([])).toEqual([]);
});

Deno.test("redact keeps a __proto__ key as plain data without touching prototypes", () => {
  const input = JSON.parse('{"__proto__": {"polluted": true, "token": "t"}}');
  const output = redact(input) as Record<string, unknown>;
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
  expect(JSON.stringify(output)).toBe('{"__proto__":{"polluted":true,"token":"[REDACTED]"}}');
});

Deno.test("redact bounds depth with [TOO_DEEP]", () => {
  let deep: unknown = { leaf: true };
  for (let i = 0; i < 200; i++) deep = { next: deep };
  let walked = redact(deep);
  let levels = 0;
  while (typeof walked === "object" && walked !== null) {
    walked = (walked as { next: unknown }).next;
    levels++;
  }
  expect(walked).toBe(TOO_DEEP);
  expect(levels).toBe(MAX_REDACT_DEPTH);
});

Deno.test("redact never throws on cycles and makes values JSON-safe", () => {
  const cyclic: Record<string, unknown> = { name: "loop", big: 10n, fn: () => 1, nan: Number.NaN };
  cyclic.self = cyclic;
  cyclic.list = [cyclic, undefined];
  const output = redact(cyclic);
  expect(JSON.parse(JSON.stringify(output))).toEqual({
    name: "loop",
    big: "10",
    nan: null,
    self: CIRCULAR,
    list: [CIRCULAR, null],
  });
});

Deno.test("redact keeps shared (non-cyclic) references", () => {
  const shared = { a: 1 };
  expect(redact({ x: shared, y: shared })).toEqual({ x: { a: 1 }, y: { a: 1 } });
});
