import { expect } from "expect";
import { parseConfig } from "./config.ts";

Deno.test("parseConfig applies every default with an empty environment", () => {
  const result = parseConfig({});
  if (!result.ok) throw new Error(result.errors.join("\n"));
  expect(result.config).toMatchObject({
    port: 8080,
    host: "127.0.0.1",
    policyPath: "policies.yaml",
    policyPathIsDefault: true,
    schemaDir: "schemas",
    auditLogPath: "audit.log",
    auditStdout: true,
    logLevel: "info",
    maxBodyBytes: 1048576,
    upstreamTimeoutMs: 30000,
    upstreamStartTimeoutMs: 60000,
    sessionIdleMs: 1800000,
    allowedHosts: [],
    allowedOrigins: [],
    auditMaxBytes: 0,
    pinsPath: "pins.json",
    approvalTimeoutMs: 120000,
    httpServer: "builtin",
  });
  expect(result.config.adminToken).toBeUndefined();
});

Deno.test("parseConfig reads every variable", () => {
  const result = parseConfig({
    PORT: "9000",
    HOST: "0.0.0.0",
    POLICY_PATH: "/etc/p.yaml",
    SCHEMA_DIR: "/s",
    AUDIT_LOG_PATH: "/var/a.log",
    AUDIT_STDOUT: "false",
    ADMIN_TOKEN: "0123456789abcdef",
    LOG_LEVEL: "DEBUG",
    MAX_BODY_BYTES: "10",
    ALLOWED_HOSTS: "gw.example, other ",
    AUDIT_MAX_BYTES: "5000",
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  expect(result.config).toMatchObject({
    port: 9000,
    host: "0.0.0.0",
    policyPath: "/etc/p.yaml",
    policyPathIsDefault: false,
    schemaDir: "/s",
    schemaDirIsDefault: false,
    auditLogPath: "/var/a.log",
    auditStdout: false,
    adminToken: "0123456789abcdef",
    logLevel: "debug",
    maxBodyBytes: 10,
    allowedHosts: ["gw.example", "other"],
    auditMaxBytes: 5000,
  });
});

Deno.test("parseConfig reports every problem at once and never echoes the admin token", () => {
  const result = parseConfig({
    PORT: "http",
    ADMIN_TOKEN: "short-secret",
    LOG_LEVEL: "loud",
    AUDIT_STDOUT: "maybe",
    MAX_BODY_BYTES: "0",
  });
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.errors).toHaveLength(5);
  expect(result.errors.join("\n")).not.toContain("short-secret");
  expect(result.errors.some((error) => error.startsWith("PORT:"))).toBe(true);
});

Deno.test("REDIS_URL, REDIS_PREFIX, REDIS_TIMEOUT_MS: defaults, checks, every error at once", () => {
  const defaults = parseConfig({});
  if (!defaults.ok) throw new Error("defaults must parse");
  expect(defaults.config.redisUrl).toBeUndefined();
  expect(defaults.config.redisPrefix).toBe("mcpsec:");
  expect(defaults.config.redisTimeoutMs).toBe(250);
  const set = parseConfig({
    REDIS_URL: "redis://:pw@10.0.0.5:6380/2",
    REDIS_PREFIX: "{gw}:",
    REDIS_TIMEOUT_MS: "50",
  });
  if (!set.ok) throw new Error(set.errors.join("; "));
  expect(set.config).toMatchObject({
    redisUrl: "redis://:pw@10.0.0.5:6380/2",
    redisPrefix: "{gw}:",
    redisTimeoutMs: 50,
  });
  const bad = parseConfig({
    REDIS_URL: "http://x",
    REDIS_PREFIX: "has space",
    REDIS_TIMEOUT_MS: "0",
  });
  expect(bad.ok ? [] : bad.errors.map((e) => e.split(":")[0])).toEqual([
    "REDIS_URL",
    "REDIS_PREFIX",
    "REDIS_TIMEOUT_MS",
  ]);
});

Deno.test("GATEWAY_ID: optional, checked", () => {
  const set = parseConfig({ GATEWAY_ID: "gw-a:8081" });
  expect(set.ok && set.config.gatewayId).toBe("gw-a:8081");
  const unset = parseConfig({});
  expect(unset.ok && unset.config.gatewayId).toBeUndefined();
  const bad = parseConfig({ GATEWAY_ID: "a b\n" });
  expect(bad.ok ? [] : bad.errors.map((e) => e.split(":")[0])).toEqual(["GATEWAY_ID"]);
});

Deno.test("parseConfig checks APPROVAL_TIMEOUT_MS (§15)", () => {
  const good = parseConfig({ APPROVAL_TIMEOUT_MS: "5000" });
  expect(good.ok && good.config.approvalTimeoutMs).toBe(5000);
  expect(parseConfig({ APPROVAL_TIMEOUT_MS: "0" })).toEqual({
    ok: false,
    errors: ["APPROVAL_TIMEOUT_MS: must be between 1 and 86400000, got 0"],
  });
  expect(parseConfig({ APPROVAL_TIMEOUT_MS: "2m" })).toEqual({
    ok: false,
    errors: ['APPROVAL_TIMEOUT_MS: must be a whole number, got "2m"'],
  });
});

Deno.test("parseConfig checks HTTP_SERVER (deno or builtin)", () => {
  const builtin = parseConfig({ HTTP_SERVER: "builtin" });
  expect(builtin.ok && builtin.config.httpServer).toBe("builtin");
  expect(parseConfig({ HTTP_SERVER: "hyper" })).toEqual({
    ok: false,
    errors: ['HTTP_SERVER: must be one of deno, builtin, got "hyper"'],
  });
});
