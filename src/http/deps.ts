/** What the HTTP layer is handed: state, limiter, audit, clock and the other effects. */
import type { AuditSink } from "../audit/sink/sink.ts";
import type { Limiter } from "../limits/limiter.ts";
import type { Logger } from "../log.ts";
import type { Federation } from "../mcp/federation/federation.ts";
import type { ClientRequests } from "../mcp/server/client_requests.ts";
import type { IdleKeys } from "../mcp/server/session/idle_keys.ts";
import type { Relay } from "../mcp/relay/relay.ts";
import type { SessionStore } from "../mcp/server/session/sessions.ts";
import type { SharedSessions } from "../shared_state/session_records.ts";
import type { ReplicaLogs } from "../shared_state/replica_logs.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { OAuthRuntime } from "../identity/oauth_runtime.ts";
import type { StateStore } from "../state/store.ts";
import type { ApprovalGateDeps } from "../approvals/gate.ts";

/** Static files of the dashboard, read once at start (embedded in the compiled binary). */
export interface DashboardAssets {
  /** File name (e.g. `dash.js`) → contents. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** Everything `createApp` wires together. */
export interface AppDeps {
  /** Largest accepted request body in bytes. */
  readonly maxBodyBytes: number;
  /** The admin bearer token. */
  readonly adminToken: string;
  /** Policy and schemas in force. */
  readonly store: StateStore;
  /** Caps and rate windows. */
  readonly limiter: Limiter;
  /** Where the limiter's counters live and whether that store answers (§13); default memory. */
  readonly sharedState?: { readonly kind: "memory" | "redis"; readonly healthy: boolean };
  /** The audit sink. */
  readonly audit: AuditSink;
  /** Wall clock, epoch milliseconds (injected so tests control time). */
  readonly clock: () => number;
  /** Monotonic milliseconds, for latencies. */
  readonly monotonic: () => number;
  /** New event ids (UUIDs). */
  readonly newId: () => string;
  /** Prometheus metrics. */
  readonly metrics: Metrics;
  /** Operational log. */
  readonly log: Logger;
  /** Dashboard files. */
  readonly assets: DashboardAssets;
  /** When the gateway started, epoch milliseconds. */
  readonly startedAt: number;
  /** The upstream MCP servers. */
  readonly federation: Federation;
  /** Gateway MCP sessions. */
  readonly sessions: SessionStore;
  /** The other replicas' recent events for `/logs` (§13); undefined = this process only. */
  readonly replicaLogs?: Pick<ReplicaLogs, "readOthers">;
  /** Session records shared with other replicas (§13); undefined = this process only. */
  readonly sharedSessions?: SharedSessions;
  /** Extra accepted `Host` names on /mcp. */
  readonly allowedHosts: readonly string[];
  /** Extra accepted `Origin`s on /mcp. */
  readonly allowedOrigins: readonly string[];
  /** Bound on each upstream request. */
  readonly upstreamTimeoutMs: number;
  /** Requests from upstreams to clients (sampling, elicitation, roots). */
  readonly clientRequests: ClientRequests;
  /** Prompts, resources, completions; `createApp` makes one when absent. Handed in so that every
   * way a session ends (expiry and revocation too) frees what the relay holds for it. */
  readonly relay?: Relay;
  /** Upstream sessions opened for decision-API sessions, closed when idle. */
  readonly apiSessions: IdleKeys;
  /** The gateway's version. */
  readonly version: string;
  /** OAuth access tokens (§14); undefined = tokens refused 503 when the policy has `oauth:`. */
  readonly oauth?: OAuthRuntime;
  /** Live sessions one agent may hold (§12); its oldest idle one is ended first. */
  readonly maxSessionsPerAgent: number;
  /** Human approval of held calls (§15); undefined = no call is ever held. */
  readonly approvals?: ApprovalGateDeps;
}
