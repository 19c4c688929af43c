/**
 * The resource half of the relay (§5.5 under §12): `resources/list` and `resources/templates/list`
 * filtered per caller (policy, then ownership), `resources/read` / `subscribe` / `unsubscribe` and
 * `ref/resource` completions checked against the caller's rule, routed only to the one upstream
 * that owns the URI, audited before they are forwarded, refused while the audit is down.
 */
import { evaluateResource, mayListAny } from "../../policy/evaluate.ts";
import {
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  RPC,
  rpcError,
  rpcResult,
} from "../jsonrpc.ts";
import {
  auditGate,
  auditRelay,
  policyRefusal,
  type RelayDeps,
  RESOURCE_NOT_FOUND,
  scannedRelayAnswer,
  type Upstream,
  upstreamFailure,
} from "./relay_common.ts";
import { createResourceListing, RESOURCE_LISTS } from "./resource_listing.ts";
import { MAX_URI_LENGTH, type ResourceClash, type UriOwner } from "./resource_owners.ts";
import type { McpSession } from "../server/session/sessions.ts";
import { createSubscriptionTable, MAX_SUBSCRIPTIONS_PER_SESSION } from "./subscriptions.ts";

/** The resource methods of one relay, with their ownership and subscription tables. */
export interface ResourceRelay {
  /** `resources/list` or `resources/templates/list`, filtered for the caller. */
  list(message: JsonRpcRequest, session: McpSession, kind: "resources" | "templates"): Promise<
    JsonRpcMessage
  >;
  /** `resources/read`, `resources/subscribe`, `resources/unsubscribe`. */
  call(message: JsonRpcRequest, session: McpSession): Promise<JsonRpcMessage>;
  /** `completion/complete` for a `ref/resource`. */
  complete(message: JsonRpcRequest, session: McpSession, uri: string): Promise<JsonRpcMessage>;
  /** An upstream notification for no session: list changes forget its listings; resource updates
   * go to the sessions subscribed to the URI. */
  notified(upstream: string, notification: JsonRpcNotification, sessionKey: string | null): void;
  /** Frees everything a session held (its subscriptions). */
  forgetSession(sessionKey: string): void;
  /** Subscriptions held in all (introspection for tests and metrics). */
  subscriptionCount(): number;
  /** URIs and templates listed by two or more upstreams, served by none (for `/upstreams`). */
  clashes(): ResourceClash[];
}

/** Creates the resource relay. */
export function createResourceRelay(deps: RelayDeps): ResourceRelay {
  const listing = createResourceListing(deps);
  const owners = listing.owners;
  const subscriptions = createSubscriptionTable({
    maxPerSession: MAX_SUBSCRIPTIONS_PER_SESSION,
    isLive: (sessionKey) => deps.sessions.byAuditId(sessionKey) !== undefined,
  });
  const live = (): Upstream[] => deps.federation.upstreams();

  const notFound = (
    id: JsonRpcId,
    session: McpSession,
    event: string,
    uri: string,
    owner: UriOwner & { kind: "clash" | "none" },
  ): JsonRpcMessage => {
    const reason = owner.kind === "clash"
      ? `resource ${JSON.stringify(uri.slice(0, 200))} is claimed by more than one upstream ` +
        "(clash): refused"
      : `no upstream lists resource ${JSON.stringify(uri.slice(0, 200))} or a template matching it`;
    const eventId = auditRelay(deps, session, {
      event,
      name: null,
      payload: { uri },
      status: "error",
      reasonCode: "unknown_resource",
      reason,
    });
    return rpcError(id, RESOURCE_NOT_FOUND, `Resource not found: ${reason}`, {
      reason_code: "unknown_resource",
      event_id: eventId,
      uri: uri.slice(0, 200),
    });
  };

  async function list(
    message: JsonRpcRequest,
    session: McpSession,
    kind: "resources" | "templates",
  ) {
    const event = kind === "resources" ? "resource_list" : "resource_template_list";
    const { method, key, field } = RESOURCE_LISTS[kind];
    const closed = auditGate(deps, session, {
      id: message.id,
      event,
      name: null,
      payload: { method },
    });
    if (closed) return closed;
    const policy = deps.state().policy;
    const now = deps.clock();
    // A caller whose rule allows no resource now sends nothing upstream.
    const upstreams = mayListAny(policy, { modelId: session.modelId, kind: "resource" }, now)
      ? live()
      : [];
    auditRelay(deps, session, {
      event,
      name: null,
      payload: { method },
      status: "allowed",
      reasonCode: "ok",
      reason: `listed on ${upstreams.length} upstream(s), filtered by the caller's rule`,
    });
    const lists = await Promise.all(upstreams.map(async (upstream) => {
      const items = await listing.list(upstream, session, kind) ?? [];
      const all = live();
      return items.filter((item) => {
        const text = item[field];
        if (typeof text !== "string") return false;
        const owner = kind === "resources"
          ? owners.ownerOfUri(text, all)
          : owners.ownerOfTemplate(text, all);
        return owner.kind === "owner" && owner.via === "listed" &&
          owner.upstream === upstream.name &&
          evaluateResource(policy, { modelId: session.modelId, uri: text }, now).kind === "allow";
      });
    }));
    return rpcResult(message.id, { [key]: lists.flat() });
  }

  /** Policy, then audit gate, then ownership: the upstream that alone owns `uri`, or a refusal. */
  async function route(
    message: JsonRpcRequest,
    session: McpSession,
    event: string,
    uri: string,
    template: boolean,
  ): Promise<{ upstream: Upstream } | { refusal: JsonRpcMessage }> {
    const payload = { uri };
    const closed = auditGate(deps, session, { id: message.id, event, name: null, payload });
    if (closed) return { refusal: closed };
    const decision = evaluateResource(
      deps.state().policy,
      { modelId: session.modelId, uri },
      deps.clock(),
    );
    if (decision.kind === "deny") {
      return {
        refusal: policyRefusal(
          deps,
          session,
          {
            id: message.id,
            event,
            name: null,
            payload,
            code: RESOURCE_NOT_FOUND,
          },
          decision.denial,
          { uri: uri.slice(0, 200) },
        ),
      };
    }
    await listing.ensureListed(session);
    const upstreams = live();
    const owner = template
      ? owners.ownerOfTemplate(uri, upstreams)
      : owners.ownerOfUri(uri, upstreams);
    if (owner.kind !== "owner") {
      return { refusal: notFound(message.id, session, event, uri, owner) };
    }
    const upstream = upstreams.find((u) => u.name === owner.upstream)!;
    return { upstream };
  }

  async function forward(
    message: JsonRpcRequest,
    session: McpSession,
    upstream: Upstream,
    audit: { event: string; payload: unknown },
    params: Record<string, unknown>,
  ): Promise<JsonRpcMessage> {
    auditRelay(deps, session, {
      event: audit.event,
      name: null,
      payload: audit.payload,
      status: "allowed",
      reasonCode: "ok",
      reason: `relayed to upstream "${upstream.name}"`,
    });
    try {
      const result = await upstream.client.request(session.auditId, message.method, params, {
        timeoutMs: deps.upstreamTimeoutMs,
      });
      return scannedRelayAnswer(
        deps,
        session,
        {
          id: message.id,
          event: audit.event,
          name: null,
          payload: audit.payload,
          code: RESOURCE_NOT_FOUND,
        },
        result,
        "the resource contents",
      );
    } catch (error) {
      auditRelay(deps, session, {
        event: audit.event,
        name: null,
        payload: audit.payload,
        status: "error",
        reasonCode: "upstream_error",
        reason: String((error as Error).message ?? error).slice(0, 300),
      });
      return upstreamFailure(message.id, error);
    }
  }

  async function call(message: JsonRpcRequest, session: McpSession): Promise<JsonRpcMessage> {
    const uri = message.params?.uri;
    if (typeof uri !== "string" || uri.length === 0 || uri.length > MAX_URI_LENGTH) {
      return rpcError(message.id, RPC.INVALID_PARAMS, "params.uri must be a URI string");
    }
    const event = message.method === "resources/read"
      ? "resource_read"
      : message.method === "resources/subscribe"
      ? "resource_subscribe"
      : "resource_unsubscribe";
    if (message.method === "resources/unsubscribe") {
      // Always allowed to let go; forwarded only when this session held it.
      if (!subscriptions.remove(session.auditId, uri)) return rpcResult(message.id, {});
      const routed = await route(message, session, event, uri, false);
      if ("refusal" in routed) return rpcResult(message.id, {});
      const shared = deps.state().policy.upstreams[routed.upstream.name]?.kind === "stdio";
      if (shared && [...subscriptions.sessionsFor(uri)].length > 0) {
        // One child serves every session: others still want its updates.
        return rpcResult(message.id, {});
      }
      return await forward(message, session, routed.upstream, { event, payload: { uri } }, {
        ...message.params,
      });
    }
    const routed = await route(message, session, event, uri, false);
    if ("refusal" in routed) return routed.refusal;
    if (message.method === "resources/subscribe") {
      const added = subscriptions.add(session.auditId, uri);
      if (added === "full") {
        return policyRefusal(deps, session, {
          id: message.id,
          event,
          name: null,
          payload: { uri },
          code: RPC.INVALID_PARAMS,
        }, {
          reasonCode: "subscription_limit",
          reason: `a session holds at most ${MAX_SUBSCRIPTIONS_PER_SESSION} subscriptions; ` +
            "unsubscribe from one first",
        });
      }
      const answer = await forward(message, session, routed.upstream, {
        event,
        payload: { uri },
      }, { ...message.params });
      if ("error" in answer && added === "added") subscriptions.remove(session.auditId, uri);
      return answer;
    }
    return await forward(message, session, routed.upstream, { event, payload: { uri } }, {
      ...message.params,
    });
  }

  async function complete(message: JsonRpcRequest, session: McpSession, uri: string) {
    if (uri.length === 0 || uri.length > MAX_URI_LENGTH) {
      return rpcError(message.id, RPC.INVALID_PARAMS, "params.ref.uri must be a URI or template");
    }
    const routed = await route(message, session, "completion", uri, true);
    if ("refusal" in routed) return routed.refusal;
    return await forward(message, session, routed.upstream, {
      event: "completion",
      payload: { ref: { type: "ref/resource", uri }, argument: message.params?.argument ?? null },
    }, { ...message.params });
  }

  return {
    list,
    call,
    complete,
    notified(upstream, notification, sessionKey) {
      if (notification.method === "notifications/resources/list_changed") {
        owners.invalidate(upstream);
        return;
      }
      const uri = notification.params?.uri;
      if (notification.method !== "notifications/resources/updated" || typeof uri !== "string") {
        return;
      }
      // An HTTP upstream says it on the stream of one session: that session only, if it
      // subscribed; a shared stdio process (no session): every session subscribed to the URI.
      for (const subscriber of [...subscriptions.sessionsFor(uri)]) {
        if (sessionKey !== null && subscriber !== sessionKey) continue;
        const target = deps.sessions.byAuditId(subscriber);
        if (target) target.streams.sendStandalone(notification);
        else subscriptions.forget(subscriber);
      }
    },
    forgetSession(sessionKey) {
      subscriptions.forget(sessionKey);
    },
    subscriptionCount: () => subscriptions.size,
    clashes: () => owners.clashes(live()),
  };
}
