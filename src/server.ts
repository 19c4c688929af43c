/** Starts the gateway: load and check everything, open the audit, serve, watch (effects). */
import { type AppDeps, createApp } from "./app.ts";
import { assetUrl, exists, loadDashboardAssets } from "./assets.ts";
import { scrubberFor } from "./audit/event/scrub.ts";
import { type AuditSink, openAuditSink } from "./audit/sink/sink.ts";
import { chainFiles, countLogLines } from "./audit/chain/verify.ts";
import type { Config } from "./config/config.ts";
import { openSharedState, type SharedState } from "./shared_state/shared_state.ts";
import { linkPeerReloads, type PeerReloads } from "./shared_state/peer_reload.ts";
import { openRedisPinStore } from "./shared_state/pin_records.ts";
import { createReplicaLogs, type ReplicaLogs } from "./shared_state/replica_logs.ts";
import { createLogger, type Logger } from "./log.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { recordEvent } from "./pipeline.ts";
import { loadState, type StateSources } from "./state/load.ts";
import { createStateStore, type StateStore } from "./state/store.ts";
import { watchSources } from "./state/watch.ts";
import { upstreamClientFactory } from "./mcp/upstream/clients.ts";
import { endSession } from "./mcp/server/endpoint.ts";
import { endIdleSessions } from "./mcp/server/session/shared_sessions.ts";
import { createFederation, type Federation, type PinEvent } from "./mcp/federation/federation.ts";
import { pinEventAudit } from "./mcp/federation/catalog_events.ts";
import { openPinStore, type PinStore } from "./mcp/federation/pins.ts";
import { createRelay } from "./mcp/relay/relay.ts";
import {
  createSessionStore,
  type McpSession,
  type SessionStore,
} from "./mcp/server/session/sessions.ts";
import {
  relayedCapabilities,
  SHARED_PROCESS_CAPABILITIES,
} from "./mcp/upstream/upstream_common.ts";
import { CATALOG_SESSION } from "./mcp/federation/federation.ts";
import { createIdleKeys } from "./mcp/server/session/idle_keys.ts";
import { revokeAfterReload } from "./mcp/server/session/revocation.ts";
import type { Policy } from "./policy/types.ts";
import { type ClientRequests, createClientRequests } from "./mcp/server/client_requests.ts";
import { toolCallDeps } from "./http/routes/decision_api.ts";
import { listenTcp, readOpenFilesLimit, serveConnections } from "./http/listener.ts";
import { LINEAR_ENGINE_FLAG, linearEngineAvailable } from "./schema/regexp.ts";
import { createUpstreamSchemaCache } from "./schema/registry.ts";
import { VERSION } from "./version.ts";
import { broadcastListChanged } from "./mcp/server/list_changed.ts";
import { type ApprovalStore, createMemoryApprovals } from "./approvals/store.ts";
import { openRedisApprovals } from "./shared_state/redis_approvals.ts";
import { expireOverdue } from "./approvals/gate.ts";
import { createOAuthRuntime } from "./identity/oauth_runtime.ts";
import type { FetchLike } from "./identity/oauth_fetch.ts";

/** Interval of the progress notifications that keep a client waiting for an approval alive. */
export const APPROVAL_PROGRESS_MS = 10_000;

/** What `startGateway` needs beyond the config; every effect can be replaced in tests. */
export interface StartOptions {
  /** Checked configuration. */
  readonly config: Config;
  /** Environment for `${VAR}` and `key_env` in the policy. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Wall clock (epoch ms); default `Date.now`. */
  readonly clock?: () => number;
  /** Operational log; default stderr at `config.logLevel`. */
  readonly log?: Logger;
  /** Where audit lines are copied when `AUDIT_STDOUT`; default `Deno.stdout`. */
  readonly stdout?: { write(bytes: Uint8Array): unknown };
  /** Prints the one-time admin notice; default stderr. */
  readonly notice?: (line: string) => void;
  /** Watch the policy and schemas for changes; default true. */
  readonly watch?: boolean;
  /** Debounce of the file watcher in ms; default 300. */
  readonly watchDebounceMs?: number;
  /** Fetch for the OAuth issuer's metadata and keys (§14); default `fetch`. */
  readonly oauthFetch?: FetchLike;
}

/** A running gateway. */
export interface RunningGateway {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The admin token in force (given or generated). */
  readonly adminToken: string;
  /** Policy store, for reloads. */
  readonly store: StateStore;
  /** Every route of the HTTP application (`ALL /*` is middleware), for the README check. */
  readonly routes: readonly { readonly method: string; readonly path: string }[];
  /** Stops serving, stops watching and flushes the audit log. */
  shutdown(): Promise<void>;
}

/** Resolves the policy and schema sources: files, or the embedded copies when defaults are absent. */
export async function resolveSources(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
): Promise<StateSources & { watchable: boolean }> {
  const policyOnDisk = !config.policyPathIsDefault || await exists(config.policyPath);
  const schemasOnDisk = !config.schemaDirIsDefault || await exists(config.schemaDir);
  return {
    policyPath: policyOnDisk ? config.policyPath : assetUrl("policies.yaml"),
    schemaDir: schemasOnDisk ? config.schemaDir : assetUrl("schemas/"),
    env,
    watchable: policyOnDisk,
  };
}

/** This machine's name: `Deno.hostname()` when --allow-sys grants it (never a prompt), else
 * /etc/hostname, else `localhost`. */
export async function hostName(): Promise<string> {
  const granted = Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted";
  if (granted) return Deno.hostname();
  const text = await Deno.readTextFile("/etc/hostname").catch(() => "");
  const name = text.trim();
  return /^[A-Za-z0-9_.-]{1,200}$/.test(name) ? name : "localhost";
}

/** How long shutdown lets requests in flight finish before it closes every connection. */
export const SHUTDOWN_GRACE_MS = 5000;

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
}

/** Loads, checks and serves; resolves with every start-up problem when it cannot start. */
export async function startGateway(
  options: StartOptions,
): Promise<{ ok: true; gateway: RunningGateway } | { ok: false; errors: string[] }> {
  const { config } = options;
  const clock = options.clock ?? Date.now;
  const log = options.log ??
    createLogger(
      config.logLevel,
      (line) => console.error(line),
      // Secrets never echoed (§12): the credentials of the policy in force are scrubbed too.
      () => scrubberFor(store.current.policy),
    );
  const notice = options.notice ?? ((line: string) => console.error(line));
  const sources = await resolveSources(config, options.env);
  // Bind first, so that a taken port is reported before any upstream is started.
  const listening = listenTcp({ hostname: config.host, port: config.port });
  const loaded = await loadState(sources);
  if (!loaded.ok || !listening.ok) {
    if (listening.ok) listening.listener.close();
    return {
      ok: false,
      errors: [...(loaded.ok ? [] : loaded.errors), ...(listening.ok ? [] : [listening.error])],
    };
  }
  const listener = listening.listener;
  // Every audit line names its replica (§13): GATEWAY_ID, else this host and port.
  const gatewayId = config.gatewayId ?? `${await hostName()}:${listener.addr.port}`;
  const opened = await openStores({ config, log, gatewayId, clock, stdout: options.stdout });
  if (!opened.ok) {
    listener.close();
    return opened;
  }
  const { shared, replicaLogs, audit, pins } = opened;
  const newId = () => crypto.randomUUID();
  const auditPin = (event: PinEvent) => {
    const fields = pinEventAudit(event);
    recordEvent(audit, {
      event: "pin_change",
      toolName: event.tool,
      payload: fields.payload,
      status: fields.status,
      reasonCode: fields.reasonCode,
      reason: fields.reason,
      policyVersion: store.current.policy.version,
    }, { now: clock(), newId });
  };
  const clientRequests = createClientRequests({
    audit,
    state: () => store.current,
    clock,
    newId,
    timeoutMs: config.upstreamTimeoutMs,
  });
  // Filled once the session table exists (the upstream factory is built before it).
  const live: { sessions?: SessionStore } = {};
  const federation = gatewayFederation({
    config,
    log,
    clock,
    pins,
    clientRequests,
    live,
    auditPin,
  });
  const store = createStateStore({
    initial: loaded.state,
    load: () => loadState(sources),
    now: clock,
    onReload: (result, state) => {
      if (result.ok) {
        log.info(`Policy reloaded: version ${result.version}`);
        peers?.announce();
        const changed = policyChecked.version !== state.policy.version;
        revokeStale(state.policy);
        void oauth.apply(state.policy);
        federation.apply(state.policy).then(
          // What a client may see can differ now: tell live sessions once upstreams are applied.
          () => changed && broadcastListChanged(sessions),
          (error) => log.error(`Applying upstreams failed: ${(error as Error).message}`),
        );
      } else log.error(`Policy reload rejected:\n  ${result.errors.join("\n  ")}`);
      recordEvent(audit, {
        event: "policy_reload",
        status: result.ok ? "allowed" : "error",
        reasonCode: result.ok ? "ok" : "policy_invalid",
        reason: result.ok
          ? `policy ${result.version} in force (${result.rules} rules)`
          : `reload rejected, policy ${state.policy.version} stays in force: ${
            result.errors.join("; ")
          }`,
        policyVersion: state.policy.version,
      }, { now: clock(), newId });
    },
  });
  // Several replicas (§13): a good reload here makes the others reload too; held calls (§15)
  // live outside the policy state, so they survive a reload, and with Redis every replica sees
  // them and learns of decisions made on the others.
  let peers: PeerReloads | undefined;
  let approvals: ApprovalStore;
  try {
    ({ peers, approvals } = await linkReplicas({ config, shared, gatewayId, store, log }));
  } catch (error) {
    listener.close();
    await audit.close();
    await shared.close();
    return { ok: false, errors: [(error as Error).message] };
  }
  const policy = loaded.state.policy;
  // OAuth (§14): the issuer's keys fetched before serving; unreachable = tokens fail closed.
  const oauth = createOAuthRuntime({ fetch: options.oauthFetch ?? fetch, clock, log });
  await oauth.apply(policy);
  await federation.apply(policy);
  recordEvent(audit, {
    event: "policy_reload",
    status: "allowed",
    reasonCode: "ok",
    reason: `policy ${policy.version} loaded at start-up (${policy.rules.length} rules)`,
    policyVersion: policy.version,
  }, { now: clock(), newId });

  const adminToken = config.adminToken ?? randomToken();
  const limiter = shared.limiter;
  const sessions = live.sessions = createSessionStore({
    idleMs: config.sessionIdleMs,
    maxPerAgent: config.maxSessionsPerAgent,
  });
  const relay = createRelay({
    federation,
    sessions,
    state: () => store.current,
    audit,
    clock,
    newId,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    log,
    soleCaller: (upstream) => clientRequests.soleCaller(upstream),
  });
  const approvalGate = {
    store: approvals,
    timeoutMs: config.approvalTimeoutMs,
    progressIntervalMs: APPROVAL_PROGRESS_MS,
  };
  const appDeps: AppDeps = {
    maxBodyBytes: config.maxBodyBytes,
    adminToken,
    store,
    limiter,
    sharedState: shared,
    sharedSessions: shared.sessions,
    replicaLogs,
    audit,
    clock,
    monotonic: () => performance.now(),
    newId,
    metrics: createMetrics(),
    log,
    assets: await loadDashboardAssets(),
    startedAt: clock(),
    federation,
    sessions,
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.allowedOrigins,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    apiSessions: createIdleKeys(config.sessionIdleMs, { maxPerOwner: config.maxSessionsPerAgent }),
    clientRequests,
    relay,
    version: VERSION,
    maxSessionsPerAgent: config.maxSessionsPerAgent,
    approvals: approvalGate,
    oauth,
  };
  const app = createApp(appDeps);
  // Ending a session (DELETE, expiry, revocation, eviction) also frees what the relay holds for it.
  const sessionDeps = { ...toolCallDeps(appDeps), relay };
  const fdLimit = config.maxConnections === undefined ? await readOpenFilesLimit() : undefined;
  const server = serveConnections({
    listener,
    handler: app.fetch,
    limits: {
      headerTimeoutMs: config.headerTimeoutMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: config.maxConnections,
    },
    fdLimit,
    server: config.httpServer,
    maxBodyBytes: config.maxBodyBytes,
    clock: () => performance.now(), // not `clock`: connection deadlines run on real time
    log,
  });
  const address = server.addr;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const url = `http://${host}:${address.port}`;
  startupNotices({
    log,
    notice,
    url,
    policy,
    adminToken,
    generated: config.adminToken === undefined,
  });
  const stopWatching = options.watch !== false && sources.watchable
    ? watchSources({
      policyPath: config.policyPath,
      schemaDir: typeof sources.schemaDir === "string" ? sources.schemaDir : undefined,
      debounceMs: options.watchDebounceMs ?? 300,
      onChange: () => void store.reload(),
      onError: (message) => log.warn(message),
    })
    : () => {};
  // Revocation is immediate (§12): a good reload re-checks every live session at once.
  let policyChecked = policy;
  const revokeStale = (next: Policy) => {
    revokeAfterReload(policyChecked, next, {
      sessions,
      apiSessions: appDeps.apiSessions,
      endSession: (session, reason) => void endSession(session, reason, sessionDeps),
      closeApiSession: (key) => void federation.closeSession(key),
    });
    policyChecked = next;
  };
  const sweeper = startSweeper({
    clock,
    limiter,
    sessions,
    shared,
    apiSessions: appDeps.apiSessions,
    federation,
    approvals: approvalGate,
    audit,
    store,
    newId,
    log,
    endSession: (session, reason) => void endSession(session, reason, sessionDeps),
  });

  let stopping: Promise<void> | undefined;
  return {
    ok: true,
    gateway: {
      url,
      adminToken,
      store,
      routes: app.routes.map(({ method, path }) => ({ method, path })),
      shutdown() {
        stopping ??= (async () => {
          stopWatching();
          clearInterval(sweeper);
          oauth.close();
          await server.shutdown(SHUTDOWN_GRACE_MS);
          await closeParts({ federation, pins, peers, approvals, replicaLogs, shared, log });
          await audit.close();
          // The anchor for `verify-log --head/--expect-lines` (§12): proves later that no line
          // was cut off the end. Counting reads the chain's files once (no hashing).
          const lines = await countLogLines(await chainFiles(config.auditLogPath)).catch(() => "?");
          log.info(`Audit head: ${audit.head} (${lines} lines)`);
        })();
        return stopping;
      },
    },
  };
}

/** The stores the gateway opens before anything else: shared state (§13), the audit sink (its
 * lines copied to Redis with replicas), the pins. On failure, what was opened is closed again. */
async function openStores(
  options: {
    config: Config;
    log: Logger;
    gatewayId: string;
    clock: () => number;
    stdout: StartOptions["stdout"];
  },
): Promise<
  | {
    ok: true;
    shared: SharedState;
    replicaLogs: ReplicaLogs | undefined;
    audit: AuditSink;
    pins: PinStore;
  }
  | { ok: false; errors: string[] }
> {
  const { config, log, gatewayId, clock } = options;
  let shared: SharedState;
  try {
    shared = await openSharedState({
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      timeoutMs: config.redisTimeoutMs,
      sessionIdleMs: config.sessionIdleMs,
      log,
    });
  } catch (error) {
    return { ok: false, errors: [(error as Error).message] };
  }
  // Several replicas (§13): the lines this replica writes are copied to Redis for the others'
  // /logs, by the sink's flush, in batches.
  const replicaLogs = shared.redis === undefined ? undefined : createReplicaLogs({
    client: shared.redis.client,
    prefix: config.redisPrefix,
    gatewayId,
    clock,
    log,
  });
  let audit: AuditSink;
  try {
    audit = await openAuditSink({
      onWritten: replicaLogs?.written,
      path: config.auditLogPath,
      stdout: config.auditStdout ? (options.stdout ?? Deno.stdout) : null,
      maxBytes: config.auditMaxBytes,
      gatewayId,
      chainer: { startNow: true }, // its ~30 ms start here, not under the first load (issue 15)
      onError: (message) => log.error(`Audit log failing, refusing decisions: ${message}`),
      onRecover: () => log.info("Audit log writable again"),
    });
  } catch (error) {
    await shared.close();
    return { ok: false, errors: [(error as Error).message] };
  }
  try {
    const filePins = await openPinStore({
      path: config.pinsPath,
      onError: (message) => log.error(message),
    });
    // Several replicas (§13): pins live in Redis (PINS_PATH only seeds the pins Redis lacks).
    const pins = shared.redis === undefined ? filePins : await openRedisPinStore({
      redis: shared.redis,
      prefix: config.redisPrefix,
      gatewayId,
      timeoutMs: config.redisTimeoutMs,
      seed: filePins.entries(),
      log,
    });
    return { ok: true, shared, replicaLogs, audit, pins };
  } catch (error) {
    await audit.close();
    await shared.close();
    return { ok: false, errors: [(error as Error).message] };
  }
}

/** The start-up warnings and notices, the "listening" line last so that a reader of stderr has
 * every notice once it sees it. */
function startupNotices(
  options: {
    log: Logger;
    notice: (line: string) => void;
    url: string;
    policy: Policy;
    adminToken: string;
    generated: boolean;
  },
): void {
  const { log, policy } = options;
  if (!linearEngineAvailable()) {
    log.warn(
      `Schema patterns run on V8's backtracking engine: start with --v8-flags=${LINEAR_ENGINE_FLAG} ` +
        "(as deno task start does) so a hostile upstream pattern cannot stall the gateway.",
    );
  }
  if (policy.agents === null) {
    log.warn(
      "OPEN IDENTITY MODE: no `agents:` in the policy, so callers declare their own model_id. " +
        "Caps and rate limits are keyed by the declared model and session ids (a caller can " +
        "escape them by declaring new ones) and all sessions share one pool. " +
        "Add agents with hashed keys to require authentication.",
    );
  }
  if (options.generated) {
    options.notice(
      `ADMIN_TOKEN not set; generated one for this run. Dashboard: ${options.url}/dash?token=${options.adminToken}`,
    );
  }
  log.info(`MCP-Sec Gateway listening on ${options.url} (policy ${policy.version})`);
}

/** Every 10 s (unref'd): limiter windows swept, idle sessions ended, overdue approvals expired. */
function startSweeper(
  parts: {
    clock: () => number;
    limiter: AppDeps["limiter"];
    sessions: SessionStore;
    shared: SharedState;
    apiSessions: AppDeps["apiSessions"];
    federation: Federation;
    approvals: NonNullable<AppDeps["approvals"]>;
    audit: AuditSink;
    store: StateStore;
    newId: () => string;
    log: Logger;
    endSession: (session: McpSession, reason: string) => void;
  },
): ReturnType<typeof setInterval> {
  const sweeper = setInterval(() => {
    const now = parts.clock();
    parts.limiter.sweep(now);
    // Several replicas (§13): idle here may still be in use elsewhere; the shared record keeps
    // the session's own deadline and another request here takes it back in.
    void endIdleSessions(parts.sessions.expire(now), {
      shared: parts.shared.sessions,
      end: parts.endSession,
    });
    for (const key of parts.apiSessions.expire(now)) void parts.federation.closeSession(key);
    // Decision-API calls nobody approved in time get their approval_timeout line (§15).
    expireOverdue(parts.approvals, {
      audit: parts.audit,
      now,
      policyVersion: parts.store.current.policy.version,
      newId: parts.newId,
    }).catch((error) => parts.log.warn(`Expiring held calls failed: ${(error as Error).message}`));
  }, 10_000);
  Deno.unrefTimer(sweeper);
  return sweeper;
}

/** Closes what a stopping gateway holds besides its server and audit, each bounded or failure-proof. */
async function closeParts(
  parts: {
    federation: Federation;
    pins: PinStore;
    peers: PeerReloads | undefined;
    approvals: ApprovalStore;
    replicaLogs: ReplicaLogs | undefined;
    shared: SharedState;
    log: Logger;
  },
): Promise<void> {
  // Upstreams get the same bound as requests (a DELETE to a hung server, a child that ignores
  // SIGTERM and its kill): the audit must still be flushed and the process must still exit.
  let bound: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    parts.federation.close().then(() => true, () => true),
    new Promise<false>((resolve) => bound = setTimeout(() => resolve(false), SHUTDOWN_GRACE_MS)),
  ]);
  clearTimeout(bound);
  if (!closed) {
    parts.log.warn(`Upstreams not closed within ${SHUTDOWN_GRACE_MS} ms; leaving them`);
  }
  await parts.pins.flush().catch(() => {});
  parts.peers?.close();
  parts.approvals.close();
  await parts.replicaLogs?.close().catch(() => {});
  await parts.shared.close().catch(() => {});
}

/** The federation of the policy's upstreams, with the clients' capabilities relayed (§5.5). */
function gatewayFederation(
  options: {
    config: Config;
    log: Logger;
    clock: () => number;
    pins: PinStore;
    clientRequests: ClientRequests;
    live: { readonly sessions?: SessionStore };
    auditPin: (event: PinEvent) => void;
  },
): Federation {
  const { config, log, clientRequests, live } = options;
  return createFederation({
    createClient: upstreamClientFactory({
      startTimeoutMs: config.upstreamStartTimeoutMs,
      version: VERSION,
      log,
      // An HTTP upstream session declares what the gateway session it serves declared (§5.5):
      // SDK servers check it before asking for sampling, elicitation or roots. The catalog
      // session lists tools for every client, so it declares what any of them could (servers
      // list some tools only to clients with sampling, elicitation or roots; what it asks
      // outside a call has no client and is refused). Decision-API sessions declare nothing.
      capabilitiesFor: (key) =>
        key === CATALOG_SESSION
          ? SHARED_PROCESS_CAPABILITIES
          : relayedCapabilities(live.sessions?.byAuditId(key)?.clientCapabilities),
      onServerRequest: (upstream, request) => clientRequests.askForUpstream(upstream, request),
      // What an HTTP upstream asks outside a call goes to the one client its session serves.
      onSessionRequest: (upstream, key, request) =>
        clientRequests.askOutsideCall(upstream, live.sessions?.byAuditId(key), request),
    }),
    pins: options.pins,
    schemaCache: createUpstreamSchemaCache(),
    startTimeoutMs: config.upstreamStartTimeoutMs,
    clock: options.clock,
    log,
    onPinEvent: options.auditPin,
  });
}

/** The held-call store (in memory, or in Redis with replicas, §13/§15) and, with Redis, the
 * link that has a good reload here reload the other replicas too; throws when Redis fails. */
async function linkReplicas(
  options: {
    config: Config;
    shared: SharedState;
    gatewayId: string;
    store: StateStore;
    log: Logger;
  },
): Promise<{ peers: PeerReloads | undefined; approvals: ApprovalStore }> {
  const { config, shared, log } = options;
  if (shared.redis === undefined) {
    return {
      peers: undefined,
      approvals: createMemoryApprovals({ timeoutMs: config.approvalTimeoutMs }),
    };
  }
  const peers = await linkPeerReloads({
    redis: shared.redis,
    channel: `${config.redisPrefix}reload`,
    gatewayId: options.gatewayId,
    reload: () => options.store.reload(),
    timeoutMs: config.redisTimeoutMs,
    log,
  });
  try {
    const approvals = await openRedisApprovals({
      redis: shared.redis,
      prefix: config.redisPrefix,
      timeoutMs: config.approvalTimeoutMs,
      redisTimeoutMs: config.redisTimeoutMs,
      log,
    });
    return { peers, approvals };
  } catch (error) {
    peers.close();
    throw error;
  }
}
