/**
 * Reading the upstreams' resource and template lists for the relay, and keeping the ownership
 * table (`resource_owners.ts`) up to date from them: one listing per upstream and kind at a time
 * (concurrent callers share it), a failed listing retried for routing at most every 5 s, clashes
 * logged and audited once.
 */
import { recordEvent } from "../../pipeline.ts";
import { listAll, type RelayDeps, type Upstream } from "./relay_common.ts";
import {
  createResourceOwners,
  MAX_TEMPLATES_PER_UPSTREAM,
  MAX_URI_LENGTH,
  MAX_URIS_PER_UPSTREAM,
  type ResourceOwners,
} from "./resource_owners.ts";
import type { McpSession } from "../server/session/sessions.ts";

/** A failed listing is tried again for routing no sooner than this. */
const RELIST_BACKOFF_MS = 5_000;

/** Most clashes remembered as already reported. */
const MAX_REPORTED = 10_000;

/** The two resource lists: their method, result key and the field naming each item. */
export const RESOURCE_LISTS = {
  resources: { method: "resources/list", key: "resources", field: "uri" },
  templates: { method: "resources/templates/list", key: "resourceTemplates", field: "uriTemplate" },
} as const;

/** Which list. */
export type ResourceListKind = keyof typeof RESOURCE_LISTS;

/** The relay's view of who lists what. */
export interface ResourceListing {
  /** The ownership table (read it after `ensureListed`). */
  readonly owners: ResourceOwners;
  /** Lists one kind on one upstream on the session's upstream session and records it; the raw
   * items, or undefined when the upstream could not be read. */
  list(
    upstream: Upstream,
    session: McpSession,
    kind: ResourceListKind,
  ): Promise<Record<string, unknown>[] | undefined>;
  /** Lists whatever has not been listed yet on every upstream, so ownership is known. */
  ensureListed(session: McpSession): Promise<void>;
}

/** Creates the listing state of one relay. */
export function createResourceListing(deps: RelayDeps): ResourceListing {
  const owners = createResourceOwners();
  const inFlight = new Map<string, Promise<Record<string, unknown>[] | undefined>>();
  const failedAt = new Map<string, number>();
  const reported = new Set<string>();

  function reportClashes(
    session: McpSession,
    upstream: string,
    kind: ResourceListKind,
    items: string[],
  ) {
    for (const item of items) {
      const key = `${kind}\u0000${upstream}\u0000${item}`;
      if (reported.has(key)) continue;
      if (reported.size >= MAX_REPORTED) reported.clear();
      reported.add(key);
      const live = deps.federation.upstreams();
      const owner = kind === "resources"
        ? owners.ownerOfUri(item, live)
        : owners.ownerOfTemplate(item, live);
      const upstreams = owner.kind === "clash" ? owner.upstreams : [upstream];
      const what = kind === "templates" ? "resource template" : "resource URI";
      const names = upstreams.map((u) => `"${u}"`).join(", ");
      const reason =
        `${what} ${JSON.stringify(item.slice(0, 200))} listed by upstreams ${names}: ` +
        "served by none of them";
      deps.log.warn(`Resource clash: ${reason}`);
      recordEvent(deps.audit, {
        event: "resource_clash",
        sessionId: session.auditId,
        payload: { [RESOURCE_LISTS[kind].field]: item, upstreams },
        status: "blocked",
        reasonCode: "unknown_resource",
        reason,
        policyVersion: deps.state().policy.version,
      }, { now: deps.clock(), newId: deps.newId });
    }
  }

  function record(
    upstream: Upstream,
    session: McpSession,
    kind: ResourceListKind,
    items: Record<string, unknown>[],
  ) {
    const field = RESOURCE_LISTS[kind].field;
    const texts: string[] = [];
    for (const item of items) {
      const text = item[field];
      if (typeof text === "string") texts.push(text);
    }
    const all = deps.federation.upstreams();
    const recorded = kind === "resources"
      ? owners.recordResources(upstream, texts, all)
      : owners.recordTemplates(upstream, texts, all);
    if (recorded.dropped > 0) {
      const max = kind === "resources" ? MAX_URIS_PER_UPSTREAM : MAX_TEMPLATES_PER_UPSTREAM;
      deps.log.warn(
        `Upstream "${upstream.name}" lists ${kind} beyond the gateway's bounds (${max} per ` +
          `upstream, ${MAX_URI_LENGTH} characters each); those are not served`,
      );
    }
    reportClashes(session, upstream.name, kind, recorded.clashes);
  }

  function list(upstream: Upstream, session: McpSession, kind: ResourceListKind) {
    const key = `${upstream.name}\u0000${kind}`;
    const running = inFlight.get(key);
    if (running) return running;
    const { method, key: listKey } = RESOURCE_LISTS[kind];
    const max = kind === "resources" ? MAX_URIS_PER_UPSTREAM : MAX_TEMPLATES_PER_UPSTREAM;
    const pending = listAll(deps, upstream, session.auditId, {
      method,
      key: listKey,
      maxItems: max + 1,
    }).then(({ items, complete }) => {
      if (!complete) {
        failedAt.set(upstream.name, deps.clock());
        return undefined;
      }
      failedAt.delete(upstream.name);
      record(upstream, session, kind, items);
      return items;
    }).finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
    return pending;
  }

  return {
    owners,
    list,
    async ensureListed(session) {
      const now = deps.clock();
      const missing = owners.unlisted(deps.federation.upstreams()).filter((upstream) =>
        now - (failedAt.get(upstream.name) ?? -Infinity) >= RELIST_BACKOFF_MS
      );
      await Promise.all(missing.flatMap((upstream) => [
        list(upstream, session, "resources"),
        list(upstream, session, "templates"),
      ]));
    },
  };
}
