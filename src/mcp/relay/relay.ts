/**
 * The full relay (§5.5) beyond tools, under the policy (§12): prompts (`relay_prompts.ts`:
 * namespaced, filtered by `allow_prompts`), resources (`relay_resources.ts`: filtered by `allow_resources`, served only by
 * the upstream that owns the URI), completions (following the prompt or resource they refer to),
 * upstream notifications to the right session. Every request forwarded upstream is audited before
 * it goes and refused with `audit_unavailable` while the audit cannot be written.
 */
import { type JsonRpcMessage, type JsonRpcRequest, RPC, rpcError, rpcResult } from "../jsonrpc.ts";
import { auditGate, auditRelay, type RelayDeps } from "./relay_common.ts";
import { createPromptRelay } from "./relay_prompts.ts";
import { createResourceRelay } from "./relay_resources.ts";
import type { ResourceClash } from "./resource_owners.ts";
import type { McpSession } from "../server/session/sessions.ts";

export type { RelayDeps } from "./relay_common.ts";

const LOG_LEVELS = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
];

/** The relay of one gateway. */
export interface Relay {
  /** Answers a relayed method; undefined when `message.method` is not one of them. */
  handle(message: JsonRpcRequest, session: McpSession): Promise<JsonRpcMessage> | undefined;
  /** Frees what a session held in the relay (its resource subscriptions); called when it ends. */
  forgetSession(sessionKey: string): void;
  /** Resource subscriptions held in all sessions (introspection). */
  subscriptionCount(): number;
  /** URIs and templates listed by two or more upstreams, served by none (for `/upstreams`). */
  resourceClashes(): ResourceClash[];
  /** Upstream notifications that no session could be given (dropped), since start. */
  unroutedCount(): number;
  /** Stops listening to upstreams. */
  close(): void;
}

/** Creates the relay and starts routing upstream notifications to sessions. */
export function createRelay(deps: RelayDeps): Relay {
  const prompts = createPromptRelay(deps);
  const resources = createResourceRelay(deps);

  let unrouted = 0;
  const stopListening = deps.federation.onNotification((upstream, notification, sessionKey) => {
    const method = notification.method;
    if (method.startsWith("notifications/resources/")) {
      resources.notified(upstream, notification, sessionKey);
    }
    // Only sessions that subscribed through the gateway (policy-checked) hear of updates.
    if (method === "notifications/resources/updated") return;
    if (method.endsWith("/list_changed")) {
      for (const session of deps.sessions.all()) session.streams.sendStandalone(notification);
      return;
    }
    // A shared stdio process names no session: its logging and progress go to the one client
    // whose call is in progress on it, and nowhere when none or several are (no cross-session
    // leak; docs/COMPATIBILITY.md).
    if (sessionKey === null) {
      const call = deps.soleCaller?.(upstream);
      if (call) return call.stream().send(notification);
    } else {
      const target = deps.sessions.byAuditId(sessionKey);
      if (target) return void target.streams.sendStandalone(notification);
    }
    unrouted++;
    deps.log.debug(`Upstream "${upstream}" sent ${method} for no session; dropped`);
  });

  /** `logging/setLevel`: passed to every upstream (this session's upstream sessions), audited. */
  async function setLevel(message: JsonRpcRequest, session: McpSession) {
    const level = message.params?.level;
    if (typeof level !== "string" || !LOG_LEVELS.includes(level)) {
      return rpcError(
        message.id,
        RPC.INVALID_PARAMS,
        `level must be one of ${LOG_LEVELS.join(", ")}`,
      );
    }
    const payload = { level };
    const closed = auditGate(deps, session, {
      id: message.id,
      event: "logging_set_level",
      name: null,
      payload,
    });
    if (closed) return closed;
    auditRelay(deps, session, {
      event: "logging_set_level",
      name: null,
      payload,
      status: "allowed",
      reasonCode: "ok",
      reason: `sent to ${deps.federation.upstreams().length} upstream(s)`,
    });
    await deps.federation.broadcast(
      session.auditId,
      "logging/setLevel",
      payload,
      deps.upstreamTimeoutMs,
    );
    return rpcResult(message.id, {});
  }

  function complete(message: JsonRpcRequest, session: McpSession) {
    const ref = message.params?.ref as Record<string, unknown> | undefined;
    if (ref?.type === "ref/prompt" && typeof ref.name === "string") {
      return prompts.complete(message, session, ref.name);
    }
    if (ref?.type === "ref/resource" && typeof ref.uri === "string") {
      return resources.complete(message, session, ref.uri);
    }
    return Promise.resolve(rpcError(
      message.id,
      RPC.INVALID_PARAMS,
      "params.ref must be a ref/prompt or ref/resource",
    ));
  }

  return {
    handle(message, session) {
      switch (message.method) {
        case "prompts/list":
          return prompts.list(message, session);
        case "prompts/get":
          return prompts.get(message, session);
        case "resources/list":
          return resources.list(message, session, "resources");
        case "resources/templates/list":
          return resources.list(message, session, "templates");
        case "resources/read":
        case "resources/subscribe":
        case "resources/unsubscribe":
          return resources.call(message, session);
        case "completion/complete":
          return complete(message, session);
        case "logging/setLevel":
          return setLevel(message, session);
        default:
          return undefined;
      }
    },
    forgetSession(sessionKey) {
      resources.forgetSession(sessionKey);
    },
    subscriptionCount: () => resources.subscriptionCount(),
    resourceClashes: () => resources.clashes(),
    unroutedCount: () => unrouted,
    close() {
      stopListening();
    },
  };
}
