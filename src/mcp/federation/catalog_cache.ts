/** The federation's catalogs (§5.2, §5.6): one per upstream, read again when its client's
 * generation moves past it; names offered by more than one upstream; lookups by exposed name. */
import type { Denial } from "../../reasons.ts";
import { type Catalog, readCatalog, shorten } from "./catalog.ts";
import type { Entry, ExposedTool, FederationDeps, Resolution, UpstreamView } from "./federation.ts";
import { findClashes } from "./federation_guard.ts";

/** A usable or refused tool found under an exposed name, and its upstream. */
export interface Found {
  readonly entry: Entry;
  readonly tool: ExposedTool;
  /** Set when its upstream refuses it (changed in block mode, listed more than once). */
  readonly denial?: Denial;
}

/** Catalog state shared by the federation and its guarded clients. */
export interface CatalogCache {
  /** The entry's catalog: the cached one unless the upstream (re)initialized a session or
   * restarted its process since it was read (one number compare), else a fresh read. */
  catalogOf(entry: Entry): Promise<Catalog>;
  /** Names offered by more than one upstream, with those upstreams. */
  clashes(): ReadonlyMap<string, readonly string[]>;
  /** Recomputes the clashes (after entries were added or removed), reporting new ones. */
  updateClashes(): void;
  /** Tools of every reachable upstream, without the names offered by more than one. */
  allTools(): Promise<Map<string, ExposedTool>>;
  /** The tools `candidates` offer under `name`, with the first unavailable upstream met. */
  lookup(
    name: string,
    candidates: readonly Entry[],
  ): Promise<{ found: Found[]; unavailable?: Resolution }>;
  /** The upstreams offering `name` when more than one does (the map, or what a lookup found). */
  clashOf(name: string, found: readonly Found[]): readonly string[] | undefined;
}

/** Creates the cache over the federation's live `entries`. */
export function createCatalogCache(options: {
  readonly deps: FederationDeps;
  readonly entries: ReadonlyMap<string, Entry>;
  readonly pinMode: () => "off" | "warn" | "block";
  /** `pinning.scan_descriptions` in force (§15). */
  readonly scanMode: () => "off" | "flag" | "block";
  /** Events already reported, so a refreshed catalog does not repeat them. */
  readonly reported: Set<string>;
}): CatalogCache {
  const { deps, entries, reported } = options;
  let clashes: ReadonlyMap<string, readonly string[]> = new Map();

  function updateClashes(): void {
    clashes = findClashes([...entries.values()]);
    for (const [name, upstreams] of clashes) {
      const key = `clash:${name}:${upstreams.join(",")}`;
      if (reported.has(key)) continue;
      reported.add(key);
      deps.log.warn(`Tool "${name}" is offered by more than one upstream; hidden and refused`);
      deps.onPinEvent({
        tool: name,
        change: "clash",
        mode: options.pinMode(),
        hash: "",
        upstreams,
      });
    }
  }

  function catalogOf(entry: Entry): Promise<Catalog> {
    const current = entry.catalog;
    if (current !== undefined) {
      if (current !== entry.loadedFrom) return current; // being read: its answer is fresher
      if (entry.loaded!.generation >= entry.client.generation()) return current;
    }
    const reading: Promise<Catalog> = readCatalog({
      name: entry.name,
      prefix: entry.config.prefix,
      client: entry.client,
      pinMode: options.pinMode(),
      scanMode: options.scanMode(),
      reported,
    }, deps).then(
      (catalog) => {
        if (entry.catalog === reading) {
          entry.loaded = catalog;
          entry.loadedFrom = reading;
          entry.error = undefined;
          if (entries.get(entry.name) === entry) updateClashes();
        }
        return catalog;
      },
      (error) => {
        if (entry.catalog === reading) entry.catalog = undefined;
        entry.error = shorten(error instanceof Error ? error.message : String(error));
        deps.log.warn(`Upstream "${entry.name}" left out of tools/list: ${entry.error}`);
        throw error;
      },
    );
    entry.catalog = reading;
    return reading;
  }

  return {
    catalogOf,
    clashes: () => clashes,
    updateClashes,
    async allTools() {
      const settled = await Promise.allSettled([...entries.values()].map(catalogOf));
      const merged = new Map<string, ExposedTool>();
      for (const result of settled) {
        if (result.status !== "fulfilled") continue;
        for (const [name, tool] of result.value.tools) {
          if (!clashes.has(name)) merged.set(name, tool);
        }
      }
      return merged;
    },
    async lookup(name, candidates) {
      let unavailable: Resolution | undefined;
      const found: Found[] = [];
      for (const entry of candidates) {
        let catalog: Catalog;
        try {
          catalog = await catalogOf(entry);
        } catch (error) {
          // The shared pins (§13) not answering is the store's failure, not the upstream's.
          const state = (error as { reasonCode?: unknown })?.reasonCode === "state_unavailable";
          unavailable ??= state
            ? {
              kind: "unavailable",
              upstream: entry.name,
              reason: `the tools of upstream "${entry.name}" cannot be checked against their ` +
                "pins: the shared state store is unavailable",
              reasonCode: "state_unavailable",
            }
            : {
              kind: "unavailable",
              upstream: entry.name,
              reason: `upstream "${entry.name}" is unavailable: ${entry.error ?? "unknown error"}`,
            };
          continue;
        }
        const tool = catalog.tools.get(name);
        const hidden = catalog.hidden.get(name);
        if (tool) found.push({ entry, tool });
        else if (hidden?.denial) found.push({ entry, tool: hidden.tool, denial: hidden.denial });
      }
      return unavailable === undefined ? { found } : { found, unavailable };
    },
    clashOf(name, found) {
      return clashes.get(name) ??
        (found.length > 1 ? found.map((f) => f.entry.name).sort() : undefined);
    },
  };
}

/** One upstream's state and tools for `/upstreams` (hidden ones with why). */
export function upstreamView(
  entry: Entry,
  clashes: ReadonlyMap<string, readonly string[]>,
): UpstreamView {
  const loaded = entry.loaded;
  const tools = loaded === undefined ? [] : [
    ...[...loaded.tools.values()].map((tool) => {
      const clash = clashes.get(tool.exposed);
      return {
        name: tool.exposed,
        pin_state: tool.pinState,
        hash: tool.hash,
        ...(tool.poisoning ? { poisoning: [...tool.poisoning] } : {}),
        ...(clash ? { hidden: `offered by more than one upstream (${clash.join(", ")})` } : {}),
      };
    }),
    ...[...loaded.hidden.values()].map(({ tool, why }) => ({
      name: tool.exposed,
      pin_state: tool.pinState,
      hash: tool.hash,
      ...(tool.poisoning ? { poisoning: [...tool.poisoning] } : {}),
      hidden: why,
    })),
  ];
  return {
    name: entry.name,
    kind: entry.config.kind,
    prefix: entry.config.prefix,
    status: entry.client.status(),
    ...(entry.error ? { error: entry.error } : {}),
    tools,
  };
}
