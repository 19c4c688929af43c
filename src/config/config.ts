/** Gateway configuration (§2), parsed from environment variables. Pure: no `Deno.*`. */

/** Operational log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** An operational log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Checked configuration; every value has its default applied. */
export interface Config {
  /** Listen port (0 = any free port). */
  readonly port: number;
  /** Listen address. */
  readonly host: string;
  /** Policy file path. */
  readonly policyPath: string;
  /** Local schema directory. */
  readonly schemaDir: string;
  /** True when SCHEMA_DIR was not set (the embedded `schemas/` may then be used). */
  readonly schemaDirIsDefault: boolean;
  /** True when POLICY_PATH was not set (the embedded `policies.yaml` may then be used). */
  readonly policyPathIsDefault: boolean;
  /** Audit JSON Lines file. */
  readonly auditLogPath: string;
  /** Copy audit lines to stdout. */
  readonly auditStdout: boolean;
  /** Admin bearer token; undefined = generate one at start. */
  readonly adminToken?: string;
  /** Operational log level. */
  readonly logLevel: LogLevel;
  /** Largest accepted request body. */
  readonly maxBodyBytes: number;
  /** Bound on each forwarded upstream request. */
  readonly upstreamTimeoutMs: number;
  /** Bound on starting an upstream. */
  readonly upstreamStartTimeoutMs: number;
  /** Idle time after which a gateway MCP session expires. */
  readonly sessionIdleMs: number;
  /** Extra accepted `Host` names on /mcp. */
  readonly allowedHosts: readonly string[];
  /** Extra accepted browser `Origin`s on /mcp. */
  readonly allowedOrigins: readonly string[];
  /** Rotate the audit file past this size; 0 = never. */
  readonly auditMaxBytes: number;
  /** Tool pin file. */
  readonly pinsPath: string;
  /** Bound from a connection's accept to its first complete request head (then IDLE_TIMEOUT_MS). */
  readonly headerTimeoutMs: number;
  /** Bound from a complete request head to a complete body. */
  readonly bodyTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly idleTimeoutMs: number;
  /** Connections served at once; undefined = a safe share of the descriptor limit (§12). */
  readonly maxConnections?: number;
  /** Live MCP (and decision-API) sessions one agent may hold; its oldest idle one goes first. */
  readonly maxSessionsPerAgent: number;
  /** Redis URL of the shared state (§13); undefined = in-memory, one process. */
  readonly redisUrl?: string;
  /** Namespace of every Redis key and channel of this gateway. */
  readonly redisPrefix: string;
  /** Bound on every shared-state (Redis) call, in milliseconds. */
  readonly redisTimeoutMs: number;
  /** This replica's name in every audit line; undefined = hostname + ":" + port. */
  readonly gatewayId?: string;
  /** How long a call held for approval waits for a decision (§15). */
  readonly approvalTimeoutMs: number;
  /** HTTP/1.1 server: `builtin` (the gateway's own, the default) or `deno` (`Deno.serveHttp`). */
  readonly httpServer: HttpServerKind;
}

/** The HTTP/1.1 servers `HTTP_SERVER` selects. */
export const HTTP_SERVERS = ["deno", "builtin"] as const;

/** An `HTTP_SERVER` value. */
export type HttpServerKind = typeof HTTP_SERVERS[number];

/**
 * Every environment variable the gateway reads as configuration, with the `Config` field it sets:
 * the one list `.env` checks and the debug listing use (src/config/load.ts). Add a key here when
 * `parseConfig` reads a new one (load_test.ts checks the two agree).
 */
export const CONFIG_KEYS = {
  PORT: "port",
  HOST: "host",
  POLICY_PATH: "policyPath",
  SCHEMA_DIR: "schemaDir",
  AUDIT_LOG_PATH: "auditLogPath",
  AUDIT_STDOUT: "auditStdout",
  ADMIN_TOKEN: "adminToken",
  LOG_LEVEL: "logLevel",
  MAX_BODY_BYTES: "maxBodyBytes",
  UPSTREAM_TIMEOUT_MS: "upstreamTimeoutMs",
  UPSTREAM_START_TIMEOUT_MS: "upstreamStartTimeoutMs",
  SESSION_IDLE_MS: "sessionIdleMs",
  ALLOWED_HOSTS: "allowedHosts",
  ALLOWED_ORIGINS: "allowedOrigins",
  AUDIT_MAX_BYTES: "auditMaxBytes",
  PINS_PATH: "pinsPath",
  HEADER_TIMEOUT_MS: "headerTimeoutMs",
  BODY_TIMEOUT_MS: "bodyTimeoutMs",
  IDLE_TIMEOUT_MS: "idleTimeoutMs",
  MAX_CONNECTIONS: "maxConnections",
  MAX_SESSIONS_PER_AGENT: "maxSessionsPerAgent",
  REDIS_URL: "redisUrl",
  REDIS_PREFIX: "redisPrefix",
  REDIS_TIMEOUT_MS: "redisTimeoutMs",
  GATEWAY_ID: "gatewayId",
  APPROVAL_TIMEOUT_MS: "approvalTimeoutMs",
  HTTP_SERVER: "httpServer",
} as const satisfies Record<string, keyof Config>;

/** The result of parsing: a config, or every problem found. */
export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

/** Parses and checks the environment; reports every problem at once. */
export function parseConfig(env: Env): ConfigResult {
  const errors: string[] = [];
  const text = (name: string, fallback: string): string => {
    const value = env[name];
    return value === undefined || value === "" ? fallback : value;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    if (!/^\d+$/.test(raw.trim())) {
      errors.push(`${name}: must be a whole number, got "${raw}"`);
      return fallback;
    }
    const value = Number(raw.trim());
    if (value < min || value > max) {
      errors.push(`${name}: must be between ${min} and ${max}, got ${value}`);
      return fallback;
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const lowered = raw.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(lowered)) return true;
    if (["false", "0", "no", "off"].includes(lowered)) return false;
    errors.push(`${name}: must be true or false, got "${raw}"`);
    return fallback;
  };
  const list = (name: string): string[] =>
    (env[name] ?? "").split(",").map((item) => item.trim()).filter((item) => item !== "");

  const logLevel = text("LOG_LEVEL", "info").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    errors.push(`LOG_LEVEL: must be one of ${LOG_LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  const adminToken = env.ADMIN_TOKEN === undefined || env.ADMIN_TOKEN === ""
    ? undefined
    : env.ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken.length < 16) {
    errors.push("ADMIN_TOKEN: must be at least 16 characters (unset it to get a random one)");
  }
  const redisUrl = env.REDIS_URL === undefined || env.REDIS_URL.trim() === ""
    ? undefined
    : env.REDIS_URL.trim();
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    errors.push('REDIS_URL: must look like "redis://host:port" (or rediss:// for TLS)');
  }
  const redisPrefix = text("REDIS_PREFIX", "mcpsec:");
  if (!/^[A-Za-z0-9_.:{}-]{1,64}$/.test(redisPrefix)) {
    errors.push(
      `REDIS_PREFIX: 1 to 64 characters among letters, digits and _ . : { } -, got "${redisPrefix}"`,
    );
  }
  const gatewayId = env.GATEWAY_ID === undefined || env.GATEWAY_ID === ""
    ? undefined
    : env.GATEWAY_ID;
  if (gatewayId !== undefined && !/^[A-Za-z0-9_.:-]{1,128}$/.test(gatewayId)) {
    errors.push(
      `GATEWAY_ID: 1 to 128 characters among letters, digits and _ . : -, got "${gatewayId}"`,
    );
  }
  const httpServer = text("HTTP_SERVER", "builtin").trim().toLowerCase();
  if (!(HTTP_SERVERS as readonly string[]).includes(httpServer)) {
    errors.push(`HTTP_SERVER: must be one of ${HTTP_SERVERS.join(", ")}, got "${env.HTTP_SERVER}"`);
  }
  const config: Config = {
    port: int("PORT", 8080, 0, 65535),
    host: text("HOST", "127.0.0.1"),
    policyPath: text("POLICY_PATH", "policies.yaml"),
    policyPathIsDefault: !env.POLICY_PATH,
    schemaDir: text("SCHEMA_DIR", "schemas"),
    schemaDirIsDefault: !env.SCHEMA_DIR,
    auditLogPath: text("AUDIT_LOG_PATH", "audit.log"),
    auditStdout: bool("AUDIT_STDOUT", true),
    adminToken,
    logLevel: (LOG_LEVELS as readonly string[]).includes(logLevel) ? logLevel as LogLevel : "info",
    maxBodyBytes: int("MAX_BODY_BYTES", 1_048_576, 1, 1_073_741_824),
    upstreamTimeoutMs: int("UPSTREAM_TIMEOUT_MS", 30_000, 1, 86_400_000),
    upstreamStartTimeoutMs: int("UPSTREAM_START_TIMEOUT_MS", 60_000, 1, 86_400_000),
    sessionIdleMs: int("SESSION_IDLE_MS", 1_800_000, 1, 31_536_000_000),
    allowedHosts: list("ALLOWED_HOSTS"),
    allowedOrigins: list("ALLOWED_ORIGINS"),
    auditMaxBytes: int("AUDIT_MAX_BYTES", 0, 0, Number.MAX_SAFE_INTEGER),
    pinsPath: text("PINS_PATH", "pins.json"),
    headerTimeoutMs: int("HEADER_TIMEOUT_MS", 10_000, 1, 3_600_000),
    bodyTimeoutMs: int("BODY_TIMEOUT_MS", 30_000, 1, 3_600_000),
    idleTimeoutMs: int("IDLE_TIMEOUT_MS", 60_000, 1, 86_400_000),
    maxConnections: env.MAX_CONNECTIONS === undefined || env.MAX_CONNECTIONS === ""
      ? undefined
      : int("MAX_CONNECTIONS", 1, 1, 1_000_000),
    maxSessionsPerAgent: int("MAX_SESSIONS_PER_AGENT", 1000, 1, 1_000_000),
    redisUrl,
    redisPrefix,
    redisTimeoutMs: int("REDIS_TIMEOUT_MS", 250, 1, 60_000),
    gatewayId,
    approvalTimeoutMs: int("APPROVAL_TIMEOUT_MS", 120_000, 1, 86_400_000),
    httpServer: (HTTP_SERVERS as readonly string[]).includes(httpServer)
      ? httpServer as HttpServerKind
      : "builtin",
  };
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}
