/** A compiled glob: `*` any run of characters (dots included), `?` one character, rest literal. */
export interface Glob {
  /** The glob as written in the policy. */
  readonly source: string;
  /** True when `value` matches the whole glob (case-sensitive). */
  test(value: string): boolean;
}

/** A rate written as "N/second|minute|hour|day", parsed once at load. */
export interface RateSpec {
  /** The text as written, for messages. */
  readonly text: string;
  /** Calls admitted per window. */
  readonly limit: number;
  /** Window length in milliseconds. */
  readonly windowMs: number;
}

/** A daily time range in minutes since midnight: start included, end excluded; start = end = all day. */
export interface HourRange {
  /** Start minute, 0..1439. */
  readonly start: number;
  /** End minute, 0..1439; less than start means the range wraps midnight. */
  readonly end: number;
  /** The text as written. */
  readonly text: string;
}

/** One checked, compiled policy rule. */
export interface Rule {
  /** Position in `rules` (0-based), for messages and the dashboard. */
  readonly index: number;
  /** Model glob. */
  readonly model: Glob;
  /** Tool globs that may be called; empty means none. */
  readonly allowTools: readonly Glob[];
  /** Tool globs that are always refused (deny wins). */
  readonly denyTools: readonly Glob[];
  /** Prompt globs (exposed names) the MCP proxy relays; empty means none. */
  readonly allowPrompts: readonly Glob[];
  /** Prompt globs that are never relayed (deny wins). */
  readonly denyPrompts: readonly Glob[];
  /** Resource URI globs the MCP proxy lists, reads and subscribes to; empty or absent = none. */
  readonly allowResources?: readonly Glob[];
  /** Resource URI globs that are never relayed (deny wins); absent = none. */
  readonly denyResources?: readonly Glob[];
  /** Calls per (agent, model, session) per 24 h from the first call; undefined = no cap. */
  readonly maxCallsPerSession?: number;
  /** Active time ranges (any may match); undefined = always. */
  readonly activeHours?: readonly HourRange[];
  /** Active days, 0 = Sunday … 6 = Saturday; undefined = every day. */
  readonly activeDays?: ReadonlySet<number>;
  /** IANA zone for hours and days; undefined = defaults.timezone or server local time. */
  readonly timezone?: string;
  /** Sliding-window rate limits. */
  readonly rateLimit: { readonly perModel?: RateSpec; readonly perSession?: RateSpec };
  /** Result scanning (§15); undefined = the defaults (`DEFAULT_SCAN_SETTINGS`). */
  readonly scanResults?: ScanResults;
  /** Tool globs whose allowed calls wait for a person's approval (§15); absent = none. */
  readonly requireApproval?: readonly Glob[];
}

/** A rule's `scan_results` (§15): what to do with secrets and with text aimed at the model. */
export interface ScanResults {
  /** `redact` (default), `block` (`result_secret`) or `off`. */
  readonly secrets: "redact" | "block" | "off";
  /** `flag` (default), `block` (`result_injection`) or `off`. */
  readonly injection: "flag" | "block" | "off";
}

/** An agent identity (§7): a hashed key, or an OAuth client (§14), bound to model globs. */
export interface Agent {
  /** Agent id, as written. */
  readonly id: string;
  /** Lowercase sha256 hex of the agent's key; null for an agent known by its OAuth client id. */
  readonly keySha256: string | null;
  /** The OAuth `client_id` (or `sub`, per `oauth.agent_claim`) that maps to this agent (§14). */
  readonly oauthClientId?: string;
  /** Model globs this agent may act as. */
  readonly models: readonly Glob[];
}

/** OAuth client credentials the gateway uses to get its own token for an upstream (§14). */
export interface ClientCredentialsConfig {
  /** The authorization server's token endpoint. */
  readonly tokenUrl: string;
  /** The gateway's client id at that server. */
  readonly clientId: string;
  /** The client secret, read from the environment at load (scrubbed wherever it appears). */
  readonly clientSecret: string;
  /** Scopes to ask for (space-separated), if any. */
  readonly scope?: string;
  /** The RFC 8707 resource indicator (default: the upstream's URL). */
  readonly resource: string;
}

/** An upstream MCP server (§5); the proxy issue gives these life. */
export type UpstreamConfig =
  & {
    /** Name the tools are exposed under (`<prefix>.<tool>`); default: the upstream's key. */
    readonly prefix: string;
  }
  & (
    | {
      readonly kind: "http";
      readonly url: string;
      /** Headers with `${VAR}` already expanded from the environment. */
      readonly headers: Readonly<Record<string, string>>;
      /** A token of the gateway's own for this upstream, by client credentials (§14). */
      readonly clientCredentials?: ClientCredentialsConfig;
    }
    | {
      readonly kind: "stdio";
      readonly command: readonly string[];
      /** Environment for the child, `${VAR}` expanded. */
      readonly env: Readonly<Record<string, string>>;
    }
  );

/** JWS algorithms a token may be signed with: asymmetric only (never `none`, never HS*). */
export const OAUTH_ALGORITHMS = [
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
] as const;

/** One allowed JWS algorithm. */
export type OAuthAlgorithm = typeof OAUTH_ALGORITHMS[number];

/** The OAuth 2.1 resource-server settings (§14). */
export interface OAuthConfig {
  /** The authorization server's issuer identifier (exact `iss`). */
  readonly issuer: string;
  /** The gateway's own resource URL: the exact `aud` a token must carry (RFC 8707). */
  readonly audience: string;
  /** Where the signing keys are; undefined = discovered from the issuer's metadata. */
  readonly jwksUri?: string;
  /** Scopes every token must hold (403 insufficient_scope otherwise). */
  readonly requiredScopes: readonly string[];
  /** The claim naming the agent: `sub` or `client_id`. */
  readonly agentClaim: "sub" | "client_id";
  /** A claim listing the models a token may act as, for clients not under `agents:`. */
  readonly modelsClaim?: string;
  /** Accepted JWS algorithms. */
  readonly algorithms: readonly OAuthAlgorithm[];
  /** Clock skew tolerated on `exp`/`nbf`/`iat`, seconds. */
  readonly clockSkewSeconds: number;
}

/** A fully checked, compiled policy. Nothing in it is parsed again per request. */
export interface Policy {
  /** First 12 hex characters of the sha256 of the file's bytes. */
  readonly version: string;
  /** Defaults applying to every rule. */
  readonly defaults: {
    readonly unknownSchema: "allow" | "deny";
    readonly timezone?: string;
  };
  /** Agents; null means open identity mode (no `agents:` and no `oauth:`). */
  readonly agents: readonly Agent[] | null;
  /** OAuth 2.1 resource server (§14); undefined = agent keys only. */
  readonly oauth?: OAuthConfig;
  /** Rules in order; the first whose model glob matches applies. */
  readonly rules: readonly Rule[];
  /** Upstream MCP servers by name. */
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  /** Tool pinning (§5.6), and the scan of tool descriptions for poisoning (§15): `block`
   * (absent = block) hides a poisoned tool until an admin approves it, `flag` audits it. */
  readonly pinning: {
    readonly mode: "off" | "warn" | "block";
    readonly scanDescriptions?: "off" | "flag" | "block";
  };
  /** True when some rule has `require_approval` (§15); absent or false = no call is ever held. */
  readonly anyApproval?: boolean;
}
