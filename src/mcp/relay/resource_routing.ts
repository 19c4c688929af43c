/**
 * Routing one resource request of the relay (`resources/read` / `subscribe` / `unsubscribe`, a
 * `ref/resource` completion): the audit gate, then the caller's rule, then ownership (only the one
 * upstream that owns the URI serves it; none or a clash is `unknown_resource`); and forwarding it
 * to that upstream, audited before it goes, its answer scanned.
 */
import { evaluateResource } from "../../policy/evaluate.ts";
import { type JsonRpcId, type JsonRpcMessage, type JsonRpcRequest, rpcError } from "../jsonrpc.ts";
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
import type { ResourceListing } from "./resource_listing.ts";
import type { UriOwner } from "./resource_owners.ts";
import type { McpSession } from "../server/session/sessions.ts";

/** One resource request to route. */
export interface ResourceRoute {
  /** The relay's listing, whose ownership table decides (listed first where still unknown). */
  readonly listing: ResourceListing;
  /** The client's request. */
  readonly message: JsonRpcRequest;
  /** The caller. */
  readonly session: McpSession;
  /** The audit event (`resource_read`, `resource_subscribe`, …, `completion`). */
  readonly event: string;
  /** The URI, or the template of a `ref/resource` completion. */
  readonly uri: string;
  /** Whether `uri` is a template (owned through the upstreams' template lists). */
  readonly template: boolean;
}

/** Where a routed request goes: the upstream that alone owns its URI, or the refusal to answer. */
export type RoutedResource = { upstream: Upstream } | { refusal: JsonRpcMessage };

/** Audit gate, then policy, then ownership: the upstream that alone owns `uri`, or a refusal. */
export async function routeResource(
  deps: RelayDeps,
  route: ResourceRoute,
): Promise<RoutedResource> {
  const { listing, message, session, event, uri, template } = route;
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
  const upstreams = deps.federation.upstreams();
  const owner = template
    ? listing.owners.ownerOfTemplate(uri, upstreams)
    : listing.owners.ownerOfUri(uri, upstreams);
  if (owner.kind !== "owner") {
    return { refusal: notFound(deps, session, { id: message.id, event, uri, owner }) };
  }
  const upstream = upstreams.find((u) => u.name === owner.upstream)!;
  return { upstream };
}

/** A routed request to send on. */
export interface ResourceForward {
  /** The client's request (its method is sent as is). */
  readonly message: JsonRpcRequest;
  /** The caller. */
  readonly session: McpSession;
  /** The upstream that owns the URI (from `routeResource`). */
  readonly upstream: Upstream;
  /** The audit event and payload of the request. */
  readonly audit: { event: string; payload: unknown };
  /** The params sent upstream. */
  readonly params: Record<string, unknown>;
}

/** Audits and sends a routed request to its upstream: the scanned answer or the failure. */
export async function forwardResource(
  deps: RelayDeps,
  forward: ResourceForward,
): Promise<JsonRpcMessage> {
  const { message, session, upstream, audit, params } = forward;
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

/** The audited `unknown_resource` refusal of a URI that no upstream, or more than one, owns. */
function notFound(
  deps: RelayDeps,
  session: McpSession,
  request: {
    id: JsonRpcId;
    event: string;
    uri: string;
    owner: UriOwner & { kind: "clash" | "none" };
  },
): JsonRpcMessage {
  const { id, event, uri, owner } = request;
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
}
