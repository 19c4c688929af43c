/**
 * The resource half of the relay (§5.5 under §12): `resources/list` and `resources/templates/list`
 * filtered per caller (policy, then ownership), `resources/read` / `subscribe` / `unsubscribe` and
 * `ref/resource` completions checked against the caller's rule, routed only to the one upstream
 * that owns the URI, audited before they are forwarded, refused while the audit is down (the
 * routing and forwarding in `resource_routing.ts`).
 */
import { evaluateResource, mayListAny } from "../../policy/evaluate.ts";
import {
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
  type Upstream,
} from "./relay_common.ts";
import {
  createResourceListing,
  RESOURCE_LISTS,
  type ResourceListing,
  type ResourceListKind,
} from "./resource_listing.ts";
import { MAX_URI_LENGTH, type ResourceClash } from "./resource_owners.ts";
import { forwardResource, routeResource } from "./resource_routing.ts";
import type { McpSession } from "../server/session/sessions.ts";
import {
  createSubscriptionTable,
  MAX_SUBSCRIPTIONS_PER_SESSION,
  type SubscriptionTable,
} from "./subscriptions.ts";

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

/** The resource relay of one gateway: its listings (and ownership table) and subscriptions. */
class ResourceRelayImpl implements ResourceRelay {
  readonly #deps: RelayDeps;
  readonly #listing: ResourceListing;
  readonly #subscriptions: SubscriptionTable;

  constructor(deps: RelayDeps) {
    this.#deps = deps;
    this.#listing = createResourceListing(deps);
    this.#subscriptions = createSubscriptionTable({
      maxPerSession: MAX_SUBSCRIPTIONS_PER_SESSION,
      isLive: (sessionKey) => deps.sessions.byAuditId(sessionKey) !== undefined,
    });
  }

  list(
    message: JsonRpcRequest,
    session: McpSession,
    kind: ResourceListKind,
  ): Promise<JsonRpcMessage> {
    return listForCaller(this.#deps, { listing: this.#listing, message, session, kind });
  }

  async call(message: JsonRpcRequest, session: McpSession): Promise<JsonRpcMessage> {
    const deps = this.#deps;
    const subscriptions = this.#subscriptions;
    const uri = message.params?.uri;
    if (typeof uri !== "string" || uri.length === 0 || uri.length > MAX_URI_LENGTH) {
      return rpcError(message.id, RPC.INVALID_PARAMS, "params.uri must be a URI string");
    }
    const event = message.method === "resources/read"
      ? "resource_read"
      : message.method === "resources/subscribe"
      ? "resource_subscribe"
      : "resource_unsubscribe";
    const route = { listing: this.#listing, message, session, event, uri, template: false };
    const forward = (upstream: Upstream) =>
      forwardResource(deps, {
        message,
        session,
        upstream,
        audit: { event, payload: { uri } },
        params: { ...message.params },
      });
    if (message.method === "resources/unsubscribe") {
      // Always allowed to let go; forwarded only when this session held it.
      if (!subscriptions.remove(session.auditId, uri)) return rpcResult(message.id, {});
      const routed = await routeResource(deps, route);
      if ("refusal" in routed) return rpcResult(message.id, {});
      const shared = deps.state().policy.upstreams[routed.upstream.name]?.kind === "stdio";
      if (shared && [...subscriptions.sessionsFor(uri)].length > 0) {
        // One child serves every session: others still want its updates.
        return rpcResult(message.id, {});
      }
      return await forward(routed.upstream);
    }
    const routed = await routeResource(deps, route);
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
      const answer = await forward(routed.upstream);
      if ("error" in answer && added === "added") subscriptions.remove(session.auditId, uri);
      return answer;
    }
    return await forward(routed.upstream);
  }

  async complete(
    message: JsonRpcRequest,
    session: McpSession,
    uri: string,
  ): Promise<JsonRpcMessage> {
    if (uri.length === 0 || uri.length > MAX_URI_LENGTH) {
      return rpcError(message.id, RPC.INVALID_PARAMS, "params.ref.uri must be a URI or template");
    }
    const routed = await routeResource(this.#deps, {
      listing: this.#listing,
      message,
      session,
      event: "completion",
      uri,
      template: true,
    });
    if ("refusal" in routed) return routed.refusal;
    return await forwardResource(this.#deps, {
      message,
      session,
      upstream: routed.upstream,
      audit: {
        event: "completion",
        payload: { ref: { type: "ref/resource", uri }, argument: message.params?.argument ?? null },
      },
      params: { ...message.params },
    });
  }

  notified(upstream: string, notification: JsonRpcNotification, sessionKey: string | null): void {
    if (notification.method === "notifications/resources/list_changed") {
      this.#listing.owners.invalidate(upstream);
      return;
    }
    const uri = notification.params?.uri;
    if (notification.method !== "notifications/resources/updated" || typeof uri !== "string") {
      return;
    }
    // An HTTP upstream says it on the stream of one session: that session only, if it
    // subscribed; a shared stdio process (no session): every session subscribed to the URI.
    for (const subscriber of [...this.#subscriptions.sessionsFor(uri)]) {
      if (sessionKey !== null && subscriber !== sessionKey) continue;
      const target = this.#deps.sessions.byAuditId(subscriber);
      if (target) target.streams.sendStandalone(notification);
      else this.#subscriptions.forget(subscriber);
    }
  }

  forgetSession(sessionKey: string): void {
    this.#subscriptions.forget(sessionKey);
  }

  subscriptionCount(): number {
    return this.#subscriptions.size;
  }

  clashes(): ResourceClash[] {
    return this.#listing.owners.clashes(this.#deps.federation.upstreams());
  }
}

/** Creates the resource relay. */
export function createResourceRelay(deps: RelayDeps): ResourceRelay {
  return new ResourceRelayImpl(deps);
}

/** `resources/list` or `resources/templates/list` for the caller: of each upstream's items, those
 * it alone owns by listing them and the caller's rule allows. */
async function listForCaller(
  deps: RelayDeps,
  request: {
    listing: ResourceListing;
    message: JsonRpcRequest;
    session: McpSession;
    kind: ResourceListKind;
  },
): Promise<JsonRpcMessage> {
  const { listing, message, session, kind } = request;
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
    ? deps.federation.upstreams()
    : [];
  auditRelay(deps, session, {
    event,
    name: null,
    payload: { method },
    status: "allowed",
    reasonCode: "ok",
    reason: `listed on ${upstreams.length} upstream(s), filtered by the caller's rule`,
  });
  const owners = listing.owners;
  const lists = await Promise.all(upstreams.map(async (upstream) => {
    const items = await listing.list(upstream, session, kind) ?? [];
    const all = deps.federation.upstreams();
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
