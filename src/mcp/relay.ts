/**
 * The full relay (§5.5) beyond tools: prompts (namespaced, filtered by `allow_prompts`),
 * resources (URIs unchanged, routed to the upstream that listed them), completions, upstream
 * notifications to the right session, and server-initiated requests to the client.
 */
import { evaluatePrompt } from "../policy/evaluate.ts";
import { type AuditRecorder, type GatewayState, recordEvent } from "../pipeline.ts";
import type { Logger } from "../log.ts";
import { isValidToolName } from "../tool_name.ts";
import type { Federation } from "./federation.ts";
import {
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  RPC,
  rpcError,
  rpcResult,
} from "./jsonrpc.ts";
import type { McpSession, SessionStore } from "./sessions.ts";
import { type UpstreamClient, UpstreamError } from "./upstream.ts";

const MAX_PAGES = 100;
const MAX_URI_OWNERS = 10_000;

/** What the relay needs. */
export interface RelayDeps {
  /** The upstreams. */
  readonly federation: Federation;
  /** Gateway sessions (to route upstream notifications). */
  readonly sessions: SessionStore;
  /** The state in force. */
  readonly state: () => GatewayState;
  /** Audit sink. */
  readonly audit: AuditRecorder;
  /** Wall clock. */
  readonly clock: () => number;
  /** New event ids. */
  readonly newId: () => string;
  /** Bound on each upstream request and on waiting for the client's answers. */
  readonly upstreamTimeoutMs: number;
  /** Operational log. */
  readonly log: Logger;
}

/** The relay of one gateway. */
export interface Relay {
  /** Answers a relayed method; undefined when `message.method` is not one of them. */
  handle(message: JsonRpcRequest, session: McpSession): Promise<JsonRpcMessage> | undefined;
  /** Stops listening to upstreams. */
  close(): void;
}

type Upstream = { name: string; prefix: string; client: UpstreamClient };

function failure(id: JsonRpcId, error: unknown): JsonRpcMessage {
  if (error instanceof UpstreamError && error.failure === "rpc" && error.code !== undefined) {
    return rpcError(id, error.code, error.message, error.data);
  }
  const text = error instanceof Error ? error.message : String(error);
  return rpcError(id, RPC.INTERNAL_ERROR, `Upstream failure: ${text.slice(0, 300)}`);
}

/** Creates the relay and starts routing upstream notifications to sessions. */
export function createRelay(deps: RelayDeps): Relay {
  /** Which upstream listed a resource URI (most recent lists win; bounded). */
  const uriOwners = new Map<string, string>();
  /** Sessions subscribed to a URI, for updates that carry no session (stdio). */
  const subscribers = new Map<string, Set<string>>();

  const remember = (uri: string, upstream: string) => {
    uriOwners.delete(uri);
    uriOwners.set(uri, upstream);
    if (uriOwners.size > MAX_URI_OWNERS) uriOwners.delete(uriOwners.keys().next().value!);
  };

  const stopListening = deps.federation.onNotification((upstream, notification, sessionKey) => {
    const method = notification.method;
    if (method.endsWith("/list_changed")) {
      for (const session of deps.sessions.all()) session.streams.sendStandalone(notification);
      return;
    }
    const target = sessionKey === null ? undefined : deps.sessions.byAuditId(sessionKey);
    if (target) {
      target.streams.sendStandalone(notification);
      return;
    }
    if (method === "notifications/resources/updated") {
      const uri = notification.params?.uri;
      for (const id of typeof uri === "string" ? subscribers.get(uri) ?? [] : []) {
        deps.sessions.byAuditId(id)?.streams.sendStandalone(notification);
      }
      return;
    }
    deps.log.debug(`Upstream "${upstream}" sent ${method} for no session; dropped`);
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

  async function listAll(
    upstream: Upstream,
    session: McpSession,
    method: string,
    key: string,
  ): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const result = await upstream.client.request(
          session.auditId,
          method,
          cursor === undefined ? undefined : { cursor },
          { timeoutMs: deps.upstreamTimeoutMs },
        );
        const list = result[key];
        if (Array.isArray(list)) {
          for (const item of list) {
            if (typeof item === "object" && item !== null) items.push(item);
          }
        }
        cursor = typeof result.nextCursor === "string" && result.nextCursor !== ""
          ? result.nextCursor
          : undefined;
        if (cursor === undefined) break;
      }
    } catch (error) {
      deps.log.debug(`Upstream "${upstream.name}" ${method}: ${(error as Error).message}`);
    }
    return items;
  }

  function audit(
    session: McpSession,
    fields: {
      event: string;
      name: string | null;
      payload: unknown;
      status: "allowed" | "blocked" | "error";
      reasonCode: string;
      reason: string;
    },
  ): string {
    return recordEvent(deps.audit, {
      event: fields.event,
      agentId: session.agentId,
      modelId: session.modelId,
      sessionId: session.auditId,
      toolName: fields.name !== null && isValidToolName(fields.name) ? fields.name : null,
      payload: fields.payload,
      status: fields.status,
      reasonCode: fields.reasonCode,
      reason: fields.reason,
      policyVersion: deps.state().policy.version,
    }, { now: deps.clock(), newId: deps.newId });
  }

  function promptDecision(session: McpSession, name: string) {
    return evaluatePrompt(
      deps.state().policy,
      { modelId: session.modelId, promptName: name },
      deps.clock(),
    );
  }

  async function listPrompts(message: JsonRpcRequest, session: McpSession) {
    const lists = await Promise.all(
      deps.federation.upstreams().map(async (upstream) =>
        (await listAll(upstream, session, "prompts/list", "prompts")).map((prompt) => ({
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

  async function getPrompt(message: JsonRpcRequest, session: McpSession) {
    const name = message.params?.name;
    if (typeof name !== "string" || !isValidToolName(name)) {
      return rpcError(message.id, RPC.INVALID_PARAMS, "params.name must be a valid prompt name");
    }
    const decision = promptDecision(session, name);
    if (decision.kind === "deny") {
      const eventId = audit(session, {
        event: "prompt_get",
        name,
        payload: message.params?.arguments ?? null,
        status: "blocked",
        reasonCode: decision.denial.reasonCode,
        reason: decision.denial.reason,
      });
      return rpcError(
        message.id,
        RPC.INVALID_PARAMS,
        `Blocked by MCP-Sec Gateway: ${decision.denial.reason}`,
        {
          reason_code: decision.denial.reasonCode,
          event_id: eventId,
        },
      );
    }
    const upstream = upstreamsFor(name)[0];
    if (!upstream) return rpcError(message.id, RPC.INVALID_PARAMS, `unknown prompt "${name}"`);
    try {
      const result = await upstream.client.request(session.auditId, "prompts/get", {
        ...message.params,
        name: localName(upstream, name),
      }, { timeoutMs: deps.upstreamTimeoutMs });
      audit(session, {
        event: "prompt_get",
        name,
        payload: message.params?.arguments ?? null,
        status: "allowed",
        reasonCode: "ok",
        reason: `prompt relayed from upstream "${upstream.name}"`,
      });
      return rpcResult(message.id, result);
    } catch (error) {
      audit(session, {
        event: "prompt_get",
        name,
        payload: message.params?.arguments ?? null,
        status: "error",
        reasonCode: "upstream_error",
        reason: (error as Error).message.slice(0, 300),
      });
      return failure(message.id, error);
    }
  }

  async function listResources(
    message: JsonRpcRequest,
    session: McpSession,
    method: string,
    key: string,
  ) {
    const lists = await Promise.all(
      deps.federation.upstreams().map(async (upstream) => {
        const items = await listAll(upstream, session, method, key);
        for (const item of items) {
          if (typeof item.uri === "string") remember(item.uri, upstream.name);
        }
        return items;
      }),
    );
    return rpcResult(message.id, { [key]: lists.flat() });
  }

  /** Tries the upstream that listed `uri` first, then every other one, until one answers. */
  async function byUri(
    message: JsonRpcRequest,
    session: McpSession,
    uri: string,
    params: Record<string, unknown>,
  ): Promise<{ result: Record<string, unknown>; upstream: string } | { error: unknown }> {
    const owner = uriOwners.get(uri);
    const all = deps.federation.upstreams();
    const ordered = [
      ...all.filter((u) => u.name === owner),
      ...all.filter((u) => u.name !== owner),
    ];
    let lastError: unknown = new Error(
      `no upstream offers resource ${JSON.stringify(uri.slice(0, 200))}`,
    );
    for (const upstream of ordered) {
      try {
        const result = await upstream.client.request(session.auditId, message.method, params, {
          timeoutMs: deps.upstreamTimeoutMs,
        });
        remember(uri, upstream.name);
        return { result, upstream: upstream.name };
      } catch (error) {
        lastError = error;
      }
    }
    return { error: lastError };
  }

  async function resourceCall(message: JsonRpcRequest, session: McpSession) {
    const uri = message.params?.uri;
    if (typeof uri !== "string" || uri.length === 0 || uri.length > 4096) {
      return rpcError(message.id, RPC.INVALID_PARAMS, "params.uri must be a string");
    }
    const outcome = await byUri(message, session, uri, message.params ?? {});
    if (message.method === "resources/read") {
      audit(session, {
        event: "resource_read",
        name: null,
        payload: { uri },
        status: "error" in outcome ? "error" : "allowed",
        reasonCode: "error" in outcome ? "upstream_error" : "ok",
        reason: "error" in outcome
          ? String((outcome.error as Error).message ?? outcome.error).slice(0, 300)
          : `resource relayed from upstream "${outcome.upstream}"`,
      });
    }
    if ("error" in outcome) return failure(message.id, outcome.error);
    if (message.method === "resources/subscribe") {
      const set = subscribers.get(uri) ?? new Set<string>();
      set.add(session.auditId);
      subscribers.set(uri, set);
    } else if (message.method === "resources/unsubscribe") {
      subscribers.get(uri)?.delete(session.auditId);
    }
    return rpcResult(message.id, outcome.result);
  }

  async function complete(message: JsonRpcRequest, session: McpSession) {
    const ref = message.params?.ref as Record<string, unknown> | undefined;
    if (ref?.type === "ref/prompt" && typeof ref.name === "string") {
      if (!isValidToolName(ref.name) || promptDecision(session, ref.name).kind === "deny") {
        return rpcError(
          message.id,
          RPC.INVALID_PARAMS,
          `unknown prompt "${String(ref.name).slice(0, 128)}"`,
        );
      }
      const upstream = upstreamsFor(ref.name)[0];
      if (!upstream) return rpcError(message.id, RPC.INVALID_PARAMS, "unknown prompt");
      try {
        return rpcResult(
          message.id,
          await upstream.client.request(session.auditId, "completion/complete", {
            ...message.params,
            ref: { ...ref, name: localName(upstream, ref.name) },
          }, { timeoutMs: deps.upstreamTimeoutMs }),
        );
      } catch (error) {
        return failure(message.id, error);
      }
    }
    if (ref?.type === "ref/resource" && typeof ref.uri === "string") {
      const outcome = await byUri(message, session, ref.uri, message.params ?? {});
      return "error" in outcome
        ? failure(message.id, outcome.error)
        : rpcResult(message.id, outcome.result);
    }
    return rpcError(
      message.id,
      RPC.INVALID_PARAMS,
      "params.ref must be a ref/prompt or ref/resource",
    );
  }

  return {
    handle(message, session) {
      switch (message.method) {
        case "prompts/list":
          return listPrompts(message, session);
        case "prompts/get":
          return getPrompt(message, session);
        case "resources/list":
          return listResources(message, session, "resources/list", "resources");
        case "resources/templates/list":
          return listResources(message, session, "resources/templates/list", "resourceTemplates");
        case "resources/read":
        case "resources/subscribe":
        case "resources/unsubscribe":
          return resourceCall(message, session);
        case "completion/complete":
          return complete(message, session);
        default:
          return undefined;
      }
    },
    close() {
      stopListening();
    },
  };
}
