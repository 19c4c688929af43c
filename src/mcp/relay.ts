/**
 * The full relay (§5.5) beyond tools, under the policy (§12): prompts (namespaced, filtered by
 * `allow_prompts`), resources (`relay_resources.ts`: filtered by `allow_resources`, served only by
 * the upstream that owns the URI), completions (following the prompt or resource they refer to),
 * upstream notifications to the right session. Every request forwarded upstream is audited before
 * it goes and refused with `audit_unavailable` while the audit cannot be written.
 */
import { evaluatePrompt } from "../policy/evaluate.ts";
import { isValidToolName } from "../tool_name.ts";
import { type JsonRpcMessage, type JsonRpcRequest, RPC, rpcError, rpcResult } from "./jsonrpc.ts";
import {
  auditGate,
  auditRelay,
  listAll,
  policyRefusal,
  type RelayDeps,
  type Upstream,
  upstreamFailure,
} from "./relay_common.ts";
import { createResourceRelay } from "./relay_resources.ts";
import type { McpSession } from "./sessions.ts";

export type { RelayDeps } from "./relay_common.ts";

const MAX_PROMPTS_PER_UPSTREAM = 10_000;

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
  /** Stops listening to upstreams. */
  close(): void;
}

/** Creates the relay and starts routing upstream notifications to sessions. */
export function createRelay(deps: RelayDeps): Relay {
  const resources = createResourceRelay(deps);

  const stopListening = deps.federation.onNotification((upstream, notification, sessionKey) => {
    const method = notification.method;
    if (method.startsWith("notifications/resources/")) resources.notified(upstream, notification);
    if (method.endsWith("/list_changed")) {
      for (const session of deps.sessions.all()) session.streams.sendStandalone(notification);
      return;
    }
    const target = sessionKey === null ? undefined : deps.sessions.byAuditId(sessionKey);
    if (target) {
      target.streams.sendStandalone(notification);
      return;
    }
    if (method !== "notifications/resources/updated") {
      deps.log.debug(`Upstream "${upstream}" sent ${method} for no session; dropped`);
    }
  });

  function upstreamsFor(name: string): Upstream[] {
    // The most specific prefix first; an unprefixed upstream last.
    return deps.federation.upstreams()
      .filter((u) => u.prefix === "" || name.startsWith(u.prefix + "."))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  function localName(upstream: Upstream, exposed: string): string {
    return upstream.prefix === "" ? exposed : exposed.slice(upstream.prefix.length + 1);
  }

  function promptDecision(session: McpSession, name: string) {
    return evaluatePrompt(
      deps.state().policy,
      { modelId: session.modelId, promptName: name },
      deps.clock(),
    );
  }

  async function listPrompts(message: JsonRpcRequest, session: McpSession) {
    const payload = { method: "prompts/list" };
    const closed = auditGate(deps, session, {
      id: message.id,
      event: "prompt_list",
      name: null,
      payload,
    });
    if (closed) return closed;
    const upstreams = deps.federation.upstreams();
    auditRelay(deps, session, {
      event: "prompt_list",
      name: null,
      payload,
      status: "allowed",
      reasonCode: "ok",
      reason: `listed on ${upstreams.length} upstream(s), filtered by the caller's rule`,
    });
    const lists = await Promise.all(
      upstreams.map(async (upstream) =>
        (await listAll(deps, upstream, session.auditId, {
          method: "prompts/list",
          key: "prompts",
          maxItems: MAX_PROMPTS_PER_UPSTREAM,
        })).items.map((prompt) => ({
          ...prompt,
          name: upstream.prefix === "" ? prompt.name : `${upstream.prefix}.${prompt.name}`,
        }))
      ),
    );
    const prompts = lists.flat().filter((prompt) =>
      typeof prompt.name === "string" && isValidToolName(prompt.name) &&
      promptDecision(session, prompt.name).kind === "allow"
    );
    return rpcResult(message.id, { prompts });
  }

  /** `prompts/get` and `ref/prompt` completions: gate, prompt rules, audit, forward. */
  async function promptRequest(
    message: JsonRpcRequest,
    session: McpSession,
    request: { event: string; name: string; payload: unknown; params: Record<string, unknown> },
  ): Promise<JsonRpcMessage> {
    const { event, name, payload } = request;
    const closed = auditGate(deps, session, { id: message.id, event, name, payload });
    if (closed) return closed;
    const decision = promptDecision(session, name);
    if (decision.kind === "deny") {
      return policyRefusal(deps, session, {
        id: message.id,
        event,
        name,
        payload,
        code: RPC.INVALID_PARAMS,
      }, decision.denial);
    }
    const upstream = upstreamsFor(name)[0];
    if (!upstream) return rpcError(message.id, RPC.INVALID_PARAMS, `unknown prompt "${name}"`);
    auditRelay(deps, session, {
      event,
      name,
      payload,
      status: "allowed",
      reasonCode: "ok",
      reason: `relayed to upstream "${upstream.name}"`,
    });
    try {
      const params = event === "prompt_get"
        ? { ...request.params, name: localName(upstream, name) }
        : {
          ...request.params,
          ref: { ...(request.params.ref as object), name: localName(upstream, name) },
        };
      const result = await upstream.client.request(session.auditId, message.method, params, {
        timeoutMs: deps.upstreamTimeoutMs,
      });
      return rpcResult(message.id, result);
    } catch (error) {
      auditRelay(deps, session, {
        event,
        name,
        payload,
        status: "error",
        reasonCode: "upstream_error",
        reason: String((error as Error).message ?? error).slice(0, 300),
      });
      return upstreamFailure(message.id, error);
    }
  }

  function getPrompt(message: JsonRpcRequest, session: McpSession) {
    const name = message.params?.name;
    if (typeof name !== "string" || !isValidToolName(name)) {
      return Promise.resolve(
        rpcError(message.id, RPC.INVALID_PARAMS, "params.name must be a valid prompt name"),
      );
    }
    return promptRequest(message, session, {
      event: "prompt_get",
      name,
      payload: message.params?.arguments ?? null,
      params: message.params ?? {},
    });
  }

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
      if (!isValidToolName(ref.name)) {
        return Promise.resolve(
          rpcError(message.id, RPC.INVALID_PARAMS, "params.ref.name must be a valid prompt name"),
        );
      }
      return promptRequest(message, session, {
        event: "completion",
        name: ref.name,
        payload: { ref: { type: ref.type, name: ref.name }, argument: message.params?.argument },
        params: message.params ?? {},
      });
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
          return listPrompts(message, session);
        case "prompts/get":
          return getPrompt(message, session);
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
    close() {
      stopListening();
    },
  };
}
