/**
 * Who serves a resource URI (§12 "One upstream can shadow another's resources"): a URI is served
 * only by the upstream that listed it, a URI (or template) listed by two upstreams is a clash and
 * served by neither, and a URI nobody listed goes to the one upstream whose templates match it —
 * never to every upstream in turn. Pure bookkeeping: no I/O, bounded per upstream.
 */
import { compileGlob } from "../../policy/glob.ts";
import type { Glob } from "../../policy/types.ts";

/** Most URIs recorded per upstream listing; the rest are not served (and not shown). */
export const MAX_URIS_PER_UPSTREAM = 10_000;
/** Most templates recorded per upstream listing. */
export const MAX_TEMPLATES_PER_UPSTREAM = 1_000;
/** Longest URI or template text recorded. */
export const MAX_URI_LENGTH = 4096;

/** Where a URI (or template text) goes. */
export type UriOwner =
  | { readonly kind: "owner"; readonly upstream: string; readonly via: "listed" | "template" }
  | { readonly kind: "clash"; readonly upstreams: readonly string[] }
  | { readonly kind: "none" };

/** A live upstream as the table sees it: its name and its client (a new client = a new listing). */
export interface LiveUpstream {
  /** Name in `upstreams:`. */
  readonly name: string;
  /** The client object; its identity ties a listing to one configuration of the upstream. */
  readonly client: object;
}

/** A URI or template text that two or more upstreams list (served by none of them). */
export interface ResourceClash {
  /** `uri` or `uriTemplate`. */
  readonly kind: "uri" | "uriTemplate";
  /** The URI or template text. */
  readonly value: string;
  /** The upstreams listing it. */
  readonly upstreams: readonly string[];
}

/** Most clashes `clashes()` returns. */
export const MAX_CLASHES_SHOWN = 1000;

/** The ownership table of one gateway. */
export interface ResourceOwners {
  /** Records an upstream's complete `resources/list` (URIs); returns the URIs that now clash. */
  recordResources(upstream: LiveUpstream, uris: readonly string[], live: readonly LiveUpstream[]): {
    clashes: string[];
    dropped: number;
  };
  /** Records an upstream's complete `resources/templates/list` (uriTemplate texts). */
  recordTemplates(
    upstream: LiveUpstream,
    templates: readonly string[],
    live: readonly LiveUpstream[],
  ): { clashes: string[]; dropped: number };
  /** Forgets an upstream's listings (its list changed): they are read again before routing. */
  invalidate(upstream: string): void;
  /** The live upstreams whose resources or templates have not been listed yet. */
  unlisted<T extends LiveUpstream>(live: readonly T[]): T[];
  /** Who serves `uri`: the one upstream that listed it, else the one whose templates match it. */
  ownerOfUri(uri: string, live: readonly LiveUpstream[]): UriOwner;
  /** Who serves a template text (`ref/resource` completions): the one upstream that listed it,
   * else `ownerOfUri` of the text. */
  ownerOfTemplate(text: string, live: readonly LiveUpstream[]): UriOwner;
  /** The clashes among the live upstreams' listings (at most `MAX_CLASHES_SHOWN`), for admins. */
  clashes(live: readonly LiveUpstream[]): ResourceClash[];
}

interface Listing {
  client: object;
  uris?: Set<string>;
  templates?: Map<string, Glob>;
}

/** Compiles a uriTemplate (RFC 6570) to a glob: every `{…}` expression matches any run. */
export function templateGlob(template: string): Glob {
  return compileGlob(template.replace(/\{[^{}]*\}/g, "*"));
}

/** Creates an empty ownership table. */
export function createResourceOwners(): ResourceOwners {
  const listings = new Map<string, Listing>();

  /** The listing of a live upstream, if it belongs to its current client. */
  const current = (upstream: LiveUpstream): Listing | undefined => {
    const listing = listings.get(upstream.name);
    return listing?.client === upstream.client ? listing : undefined;
  };

  const entryFor = (upstream: LiveUpstream, live: readonly LiveUpstream[]): Listing => {
    // Upstreams removed by a reload are forgotten here, so the table holds live ones only.
    for (const name of listings.keys()) {
      if (!live.some((u) => u.name === name)) listings.delete(name);
    }
    let listing = current(upstream);
    if (!listing) {
      listing = { client: upstream.client };
      listings.set(upstream.name, listing);
    }
    return listing;
  };

  const others = (upstream: LiveUpstream, live: readonly LiveUpstream[]) =>
    live.filter((u) => u.name !== upstream.name).map(current).filter((l) => l !== undefined);

  return {
    recordResources(upstream, uris, live) {
      const set = new Set<string>();
      let dropped = 0;
      for (const uri of uris) {
        if (uri.length > MAX_URI_LENGTH || set.size >= MAX_URIS_PER_UPSTREAM) dropped++;
        else set.add(uri);
      }
      entryFor(upstream, live).uris = set;
      const rivals = others(upstream, live);
      const clashes = [...set].filter((uri) => rivals.some((l) => l.uris?.has(uri)));
      return { clashes, dropped };
    },
    recordTemplates(upstream, templates, live) {
      const map = new Map<string, Glob>();
      let dropped = 0;
      for (const text of templates) {
        if (text.length > MAX_URI_LENGTH || map.size >= MAX_TEMPLATES_PER_UPSTREAM) dropped++;
        else if (!map.has(text)) map.set(text, templateGlob(text));
      }
      entryFor(upstream, live).templates = map;
      const rivals = others(upstream, live);
      const clashes = [...map.keys()].filter((text) => rivals.some((l) => l.templates?.has(text)));
      return { clashes, dropped };
    },
    invalidate(upstream) {
      listings.delete(upstream);
    },
    unlisted(live) {
      return live.filter((upstream) => {
        const listing = current(upstream);
        return listing?.uris === undefined || listing.templates === undefined;
      });
    },
    ownerOfUri(uri, live) {
      const listed: string[] = [];
      for (const upstream of live) {
        if (current(upstream)?.uris?.has(uri)) listed.push(upstream.name);
      }
      if (listed.length === 1) return { kind: "owner", upstream: listed[0], via: "listed" };
      if (listed.length > 1) return { kind: "clash", upstreams: listed };
      const matched: string[] = [];
      for (const upstream of live) {
        const templates = current(upstream)?.templates;
        if (templates === undefined) continue;
        for (const glob of templates.values()) {
          if (glob.test(uri)) {
            matched.push(upstream.name);
            break;
          }
        }
      }
      if (matched.length === 1) return { kind: "owner", upstream: matched[0], via: "template" };
      if (matched.length > 1) return { kind: "clash", upstreams: matched };
      return { kind: "none" };
    },
    ownerOfTemplate(text, live) {
      const listed: string[] = [];
      for (const upstream of live) {
        if (current(upstream)?.templates?.has(text)) listed.push(upstream.name);
      }
      if (listed.length === 1) return { kind: "owner", upstream: listed[0], via: "listed" };
      if (listed.length > 1) return { kind: "clash", upstreams: listed };
      return this.ownerOfUri(text, live);
    },
    clashes(live) {
      const found: ResourceClash[] = [];
      const listings = live.map((upstream) => ({
        name: upstream.name,
        listing: current(upstream),
      }));
      for (const kind of ["uri", "uriTemplate"] as const) {
        const seen = new Map<string, string[]>();
        for (const { name, listing } of listings) {
          const items = kind === "uri" ? listing?.uris : listing?.templates?.keys();
          for (const item of items ?? []) {
            const names = seen.get(item);
            if (names) names.push(name);
            else seen.set(item, [name]);
          }
        }
        for (const [value, upstreams] of seen) {
          if (upstreams.length < 2) continue;
          if (found.length >= MAX_CLASHES_SHOWN) return found;
          found.push({ kind, value, upstreams });
        }
      }
      return found;
    },
  };
}
