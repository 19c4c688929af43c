/** Pins cannot be skipped by restarting an upstream (§5.6, §12): a `tools/call` about to go out
 * on a session or process (re)initialized after the catalog was read waits for a fresh catalog,
 * and is refused unless the tool is still offered as pinned. Also: cross-upstream name clashes. */
import type { Denial } from "../../reasons.ts";
import type { Catalog } from "./catalog.ts";
import type { Entry } from "./federation.ts";
import { ToolRefusedError, type UpstreamClient, UpstreamError } from "../upstream/upstream.ts";

/** The refusal of a name offered by more than one upstream. */
export function clashDenial(name: string, upstreams: readonly string[]): Denial {
  return {
    reasonCode: "tool_name_clash",
    reason: `"${name}" is offered by more than one upstream (${
      upstreams.join(", ")
    }); it is refused until only one offers it`,
  };
}

/** Names that more than one upstream's last catalog offers (usable, or hidden but refused rather
 * than unknown), each with those upstreams' names, sorted. */
export function findClashes(
  entries: readonly Pick<Entry, "name" | "loaded">[],
): Map<string, readonly string[]> {
  const owners = new Map<string, string[]>();
  const add = (name: string, upstream: string) => {
    const list = owners.get(name);
    if (list === undefined) owners.set(name, [upstream]);
    else if (!list.includes(upstream)) list.push(upstream);
  };
  for (const entry of entries) {
    if (entry.loaded === undefined) continue;
    for (const name of entry.loaded.tools.keys()) add(name, entry.name);
    for (const [name, hidden] of entry.loaded.hidden) {
      if (hidden.denial !== undefined) add(name, entry.name);
    }
  }
  const clashes = new Map<string, readonly string[]>();
  for (const [name, upstreams] of owners) {
    if (upstreams.length > 1) clashes.set(name, upstreams.sort());
  }
  return clashes;
}

/** Why `exposed` may not be called according to `catalog` (undefined = it may). */
export function refusalIn(
  catalog: Catalog,
  exposed: string,
  upstream: string,
  clashes: ReadonlyMap<string, readonly string[]>,
): Denial | undefined {
  const clash = clashes.get(exposed);
  if (clash !== undefined) return clashDenial(exposed, clash);
  const hidden = catalog.hidden.get(exposed);
  if (hidden?.denial !== undefined) return hidden.denial;
  if (hidden === undefined && catalog.tools.has(exposed)) return undefined;
  return {
    reasonCode: "unknown_tool",
    reason: `unknown tool "${exposed}": upstream "${upstream}" no longer offers it`,
  };
}

/** What the guard needs of the federation. */
export interface GuardDeps {
  /** The entry's catalog, read again when its generation is behind the client's. */
  catalogOf(entry: Entry): Promise<Catalog>;
  /** The clashes in force. */
  clashes(): ReadonlyMap<string, readonly string[]>;
}

/** `entry.client`, with each `tools/call` checked just before it is sent: when the session or
 * process it goes out on was (re)initialized after the entry's catalog was read, the call waits
 * for a fresh catalog (bounded by the start timeout and the call's own) and fails when the tool
 * is no longer offered as it was (`ToolRefusedError`) or the catalog cannot be read
 * (`unavailable`). On an unchanged upstream the check is one number compare. */
export function guardedClient(entry: Entry, deps: GuardDeps): UpstreamClient {
  const client = entry.client;
  const prefix = entry.config.prefix;

  function current(generation: number): boolean {
    const loaded = entry.loaded;
    return loaded !== undefined && entry.catalog === entry.loadedFrom &&
      generation <= loaded.generation;
  }

  async function recheck(tool: string, generation: number): Promise<void> {
    const exposed = prefix === "" ? tool : `${prefix}.${tool}`;
    let catalog: Catalog;
    try {
      catalog = await deps.catalogOf(entry);
      if (catalog.generation < generation) catalog = await deps.catalogOf(entry);
    } catch {
      throw new UpstreamError(
        "unavailable",
        `upstream "${entry.name}" re-initialized and its tools could not be re-checked: ${
          entry.error ?? "unknown error"
        }`,
      );
    }
    if (catalog.generation < generation) {
      throw new UpstreamError(
        "unavailable",
        `upstream "${entry.name}" keeps re-initializing; its tools could not be re-checked`,
      );
    }
    const denial = refusalIn(catalog, exposed, entry.name, deps.clashes());
    if (denial !== undefined) throw new ToolRefusedError(denial);
  }

  return {
    name: client.name,
    status: () => client.status(),
    request(key, method, params, options) {
      const tool = params?.name;
      if (method !== "tools/call" || typeof tool !== "string") {
        return client.request(key, method, params, options);
      }
      return client.request(key, method, params, {
        ...options,
        beforeSend: (generation) => current(generation) ? undefined : recheck(tool, generation),
      });
    },
    notify: (key, method, params) => client.notify(key, method, params),
    info: () => client.info(),
    generation: () => client.generation(),
    onNotification: (listener) => client.onNotification(listener),
    closeSession: (key) => client.closeSession(key),
    close: () => client.close(),
  };
}
