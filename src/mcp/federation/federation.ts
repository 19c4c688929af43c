/** Federation (§5.2): every upstream behind one endpoint, tools exposed as `<prefix>.<tool>`. */
import type { Logger } from "../../log.ts";
import type { Policy, UpstreamConfig } from "../../policy/types.ts";
import type { Denial } from "../../reasons.ts";
import type { CompileResult } from "../../schema/compile.ts";
import type { UpstreamSchemaCache } from "../../schema/registry.ts";
import type { PinState, PinStore } from "./pins.ts";
import type { Catalog } from "./catalog.ts";
import { type CatalogCache, createCatalogCache, upstreamView } from "./catalog_cache.ts";
import type { PinEvent } from "./catalog_events.ts";
import { clashDenial, guardedClient } from "./federation_guard.ts";
import type { JsonRpcNotification } from "../jsonrpc.ts";
import type { UpstreamClient, UpstreamStatus } from "../upstream/upstream.ts";

export type { PinEvent } from "./catalog_events.ts";

/** The session key the catalog (tools/list) is read through. */
export const CATALOG_SESSION = "gateway-catalog";

/** An upstream tool as exposed by the gateway. */
export interface ExposedTool {
  /** The name agents see and policies match: `<prefix>.<tool>` (or the bare name). */
  readonly exposed: string;
  /** The upstream's name in `upstreams:`. */
  readonly upstream: string;
  /** The tool's definition as the upstream lists it (its own `name`). */
  readonly definition: Readonly<Record<string, unknown>> & { readonly name: string };
  /** sha256 of the pinned fields of the definition. */
  readonly hash: string;
  /** Pin state (`pinned` when pinning is off). */
  readonly pinState: PinState;
  /** Detectors its description matched (tool poisoning, §15), when any did. */
  readonly poisoning?: readonly string[];
  /** The upstream's `inputSchema`, compiled once. */
  readonly inputSchema?: CompileResult;
  /** The upstream's `outputSchema`, compiled once. */
  readonly outputSchema?: CompileResult;
}

/** What a tool name resolves to. A `tool` with a `denial` exists but is refused (listed more
 * than once by its upstream, or offered by more than one upstream); its `client` re-checks the
 * catalog before a `tools/call` goes out on a (re)initialized upstream session or process. */
export type Resolution =
  | { kind: "unknown" }
  | {
    kind: "unavailable";
    upstream: string;
    reason: string;
    /** Set when the shared state (pins in Redis, §13) did not answer, not the upstream. */
    reasonCode?: "state_unavailable";
  }
  | { kind: "tool"; tool: ExposedTool; client: UpstreamClient; denial?: Denial };

/** An upstream's state as `/healthz` and `/upstreams` show it: `unknown` before the gateway ever
 * contacted it, `starting` while it first initializes, `up` after a successful exchange, `down`
 * as soon as its process exited or a connection to it failed (until the next success). */
export type UpstreamHealth = "unknown" | "starting" | "up" | "down";

/** Maps a client's connection state to what `/healthz` and `/upstreams` show. */
export function upstreamHealth(status: UpstreamStatus): UpstreamHealth {
  return status === "idle" ? "unknown" : status;
}

/** One upstream's state, for /healthz and /upstreams. */
export interface UpstreamView {
  /** Name. */
  readonly name: string;
  /** `http` or `stdio`. */
  readonly kind: "http" | "stdio";
  /** Exposure prefix. */
  readonly prefix: string;
  /** Connection state. */
  readonly status: UpstreamStatus;
  /** Last catalog error, if any. */
  readonly error?: string;
  /** Exposed tools (hidden ones included, with their state). */
  readonly tools: readonly { name: string; pin_state: PinState; hash: string; hidden?: string }[];
}

/** All upstreams of the policy in force. */
export interface Federation {
  /** Applies a (re)loaded policy: changed or removed upstreams are closed, new ones start lazily. */
  apply(policy: Policy): Promise<void>;
  /** True when some upstream's prefix claims `name` (the decision API then executes the call). */
  claims(name: string): boolean;
  /** Every usable exposed tool of every reachable upstream (each catalog read once, cached). */
  listTools(): Promise<readonly ExposedTool[]>;
  /** Finds the upstream and definition behind an exposed name. */
  resolve(name: string): Promise<Resolution>;
  /** Approves the current definition of a changed tool; false when there is nothing to approve
   * or approval is refused (see `approvalRefusal`). */
  approve(name: string): Promise<boolean>;
  /** Why a tool cannot be approved (listed more than once, offered by several upstreams). */
  approvalRefusal(name: string): Promise<Denial | undefined>;
  /** Names offered by more than one upstream (hidden and refused), with those upstreams. */
  clashes(): ReadonlyMap<string, readonly string[]>;
  /** Connection state of each upstream. */
  statuses(): Record<string, UpstreamStatus>;
  /** Each upstream's state and tools (catalogs loaded as needed). */
  views(): Promise<UpstreamView[]>;
  /** The upstream whose prefix claims `name` (the most specific one), if any. */
  owner(name: string): string | undefined;
  /** Every upstream's name, exposure prefix and client. */
  upstreams(): { name: string; prefix: string; client: UpstreamClient }[];
  /** Listens to every upstream notification not tied to a request. */
  onNotification(
    listener: (
      upstream: string,
      notification: JsonRpcNotification,
      sessionKey: string | null,
    ) => void,
  ): () => void;
  /** Sends a request to every upstream for a session; the results of those that answered. */
  broadcast(
    sessionKey: string,
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>[]>;
  /** Ends a gateway session's upstream sessions. */
  closeSession(sessionKey: string): Promise<void>;
  /** Closes every upstream. */
  close(): Promise<void>;
}

/** What the federation needs from outside. */
export interface FederationDeps {
  /** Creates the client of one upstream (HTTP or stdio). */
  createClient(name: string, config: UpstreamConfig): UpstreamClient;
  /** Pin store; consulted unless pinning is off. */
  readonly pins: PinStore;
  /** Compiles upstream schemas once. */
  readonly schemaCache: UpstreamSchemaCache;
  /** Bound on reading an upstream's catalog (start + all pages). */
  readonly startTimeoutMs: number;
  /** Wall clock. */
  readonly clock: () => number;
  /** Operational log. */
  readonly log: Logger;
  /** Called for catalog events: pins, ambiguous listings, clashes (audited by the caller with
   * `pinEventAudit`). */
  readonly onPinEvent: (event: PinEvent) => void;
}

/** One upstream of the federation. */
export interface Entry {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly key: string;
  readonly client: UpstreamClient;
  /** `client`, with `tools/call` re-checked against a fresh catalog after a (re)initialize. */
  guarded: UpstreamClient;
  /** The catalog being read, or the last one read. */
  catalog?: Promise<Catalog>;
  /** The last catalog read, and the promise it came from. */
  loaded?: Catalog;
  loadedFrom?: Promise<Catalog>;
  error?: string;
  unsubscribe: () => void;
}

function configKey(config: UpstreamConfig): string {
  return JSON.stringify(config);
}

/** Creates the federation; call `apply(policy)` before use. */
export function createFederation(deps: FederationDeps): Federation {
  return new UpstreamFederation(deps);
}

/** The tool `name` in `catalog` an approval would pin: a changed definition, or one hidden for
 * tool poisoning (§15); none when it is hidden for any other reason or unchanged. */
function approvable(catalog: Catalog, name: string): ExposedTool | undefined {
  const hidden = catalog.hidden.get(name);
  const code = hidden?.denial?.reasonCode;
  if (hidden !== undefined && code !== "tool_definition_changed" && code !== "tool_poisoning") {
    return undefined;
  }
  const tool = hidden?.tool ?? catalog.tools.get(name);
  if (!tool || (tool.pinState !== "changed" && code !== "tool_poisoning")) return undefined;
  return tool;
}

/** The federation behind `createFederation`: one entry per upstream of the policy in force, their
 * catalogs read through a shared cache, and the listeners of their notifications. */
class UpstreamFederation implements Federation {
  readonly #deps: FederationDeps;
  readonly #entries = new Map<string, Entry>();
  #pinMode: "off" | "warn" | "block" = "block";
  #scanMode: "off" | "flag" | "block" = "block";
  /** Pin events already reported (tool and hash), so a refreshed catalog does not repeat them. */
  readonly #reported = new Set<string>();
  readonly #listeners = new Set<
    (upstream: string, notification: JsonRpcNotification, sessionKey: string | null) => void
  >();
  readonly #cache: CatalogCache;

  constructor(deps: FederationDeps) {
    this.#deps = deps;
    this.#cache = createCatalogCache({
      deps,
      entries: this.#entries,
      pinMode: () => this.#pinMode,
      scanMode: () => this.#scanMode,
      reported: this.#reported,
    });
    // A pin approved on another replica (§13): that upstream's catalog is checked again on next
    // use, so this replica never serves one checked against the old pin.
    deps.pins.onChange?.((upstream) => {
      for (const entry of this.#entries.values()) {
        if (upstream === null || entry.name === upstream) entry.catalog = undefined;
      }
    });
  }

  async apply(policy: Policy): Promise<void> {
    const nextScan = policy.pinning.scanDescriptions ?? "block";
    const modeChanged = this.#pinMode !== policy.pinning.mode || this.#scanMode !== nextScan;
    this.#pinMode = policy.pinning.mode;
    this.#scanMode = nextScan;
    const closing: Promise<void>[] = [];
    for (const [name, entry] of this.#entries) {
      const next = policy.upstreams[name];
      if (!next || configKey(next) !== entry.key) {
        this.#entries.delete(name);
        closing.push(this.#closeEntry(entry));
      } else if (modeChanged) {
        entry.catalog = undefined;
      }
    }
    for (const [name, config] of Object.entries(policy.upstreams)) {
      if (!this.#entries.has(name)) this.#entries.set(name, this.#openEntry(name, config));
    }
    this.#cache.updateClashes();
    await Promise.all(closing);
  }

  claims(name: string): boolean {
    return this.#candidates(name).length > 0;
  }

  async listTools(): Promise<readonly ExposedTool[]> {
    return [...(await this.#cache.allTools()).values()];
  }

  async resolve(name: string): Promise<Resolution> {
    const { found, unavailable } = await this.#cache.lookup(name, this.#candidates(name));
    const first = found[0];
    if (first === undefined) return unavailable ?? { kind: "unknown" };
    const clash = this.#cache.clashOf(name, found);
    const denial = clash ? clashDenial(name, clash) : first.denial;
    // A pin refusal is decided by the pipeline from `pinState` (tool_definition_changed).
    return denial === undefined || denial.reasonCode === "tool_definition_changed"
      ? { kind: "tool", tool: first.tool, client: first.entry.guarded }
      : { kind: "tool", tool: first.tool, client: first.entry.guarded, denial };
  }

  async approvalRefusal(name: string): Promise<Denial | undefined> {
    const { found } = await this.#cache.lookup(name, this.#candidates(name));
    const clash = this.#cache.clashOf(name, found);
    if (clash) return clashDenial(name, clash);
    return found.find((f) => f.denial?.reasonCode === "tool_ambiguous")?.denial;
  }

  clashes(): ReadonlyMap<string, readonly string[]> {
    return this.#cache.clashes();
  }

  async approve(name: string): Promise<boolean> {
    if (await this.approvalRefusal(name)) return false;
    for (const entry of this.#candidates(name)) {
      let catalog: Catalog;
      try {
        catalog = await this.#cache.catalogOf(entry);
      } catch (error) {
        // The shared pins did not answer (§13): a refusal to say, not "nothing to approve".
        if ((error as { reasonCode?: unknown })?.reasonCode === "state_unavailable") throw error;
        continue;
      }
      const tool = approvable(catalog, name);
      if (!tool) continue;
      await this.#deps.pins.approve(
        entry.name,
        tool.definition.name,
        tool.hash,
        this.#deps.clock(),
      );
      this.#deps.onPinEvent({
        tool: name,
        change: "approved",
        mode: this.#pinMode,
        hash: tool.hash,
      });
      entry.catalog = undefined;
      return true;
    }
    return false;
  }

  statuses(): Record<string, UpstreamStatus> {
    return Object.fromEntries([...this.#entries.values()].map((e) => [e.name, e.client.status()]));
  }

  async views(): Promise<UpstreamView[]> {
    await Promise.allSettled([...this.#entries.values()].map((e) => this.#cache.catalogOf(e)));
    return [...this.#entries.values()].map((entry) => upstreamView(entry, this.#cache.clashes()));
  }

  owner(name: string): string | undefined {
    return this.#candidates(name).sort((a, b) => b.config.prefix.length - a.config.prefix.length)[0]
      ?.name;
  }

  upstreams(): { name: string; prefix: string; client: UpstreamClient }[] {
    return [...this.#entries.values()].map((entry) => ({
      name: entry.name,
      prefix: entry.config.prefix,
      client: entry.client,
    }));
  }

  onNotification(
    listener: (
      upstream: string,
      notification: JsonRpcNotification,
      sessionKey: string | null,
    ) => void,
  ): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async broadcast(
    sessionKey: string,
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>[]> {
    const settled = await Promise.allSettled(
      [...this.#entries.values()].map((entry) =>
        entry.client.request(sessionKey, method, params, { timeoutMs })
      ),
    );
    return settled.flatMap((result) => result.status === "fulfilled" ? [result.value] : []);
  }

  async closeSession(sessionKey: string): Promise<void> {
    await Promise.allSettled(
      [...this.#entries.values()].map((e) => e.client.closeSession(sessionKey)),
    );
  }

  async close(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((entry) => this.#closeEntry(entry)));
  }

  #candidates(name: string): Entry[] {
    return [...this.#entries.values()].filter((entry) =>
      entry.config.prefix === "" || name.startsWith(entry.config.prefix + ".")
    );
  }

  #openEntry(name: string, config: UpstreamConfig): Entry {
    const client = this.#deps.createClient(name, config);
    const entry: Entry = {
      name,
      config,
      key: configKey(config),
      client,
      guarded: client,
      unsubscribe: () => {},
    };
    entry.guarded = guardedClient(entry, this.#cache);
    entry.unsubscribe = client.onNotification((notification, sessionKey) => {
      for (const listener of this.#listeners) listener(name, notification, sessionKey);
      if (notification.method === "notifications/tools/list_changed") {
        this.#deps.log.info(`Upstream "${name}" changed its tools; catalog refreshed on next use`);
        entry.catalog = undefined;
      }
    });
    return entry;
  }

  async #closeEntry(entry: Entry): Promise<void> {
    entry.unsubscribe();
    try {
      await entry.client.close();
    } catch (error) {
      this.#deps.log.warn(`Closing upstream "${entry.name}" failed: ${(error as Error).message}`);
    }
  }
}
