/** An upstream's tool catalog (§5.2, §5.6): every page read, names exposed, pins checked. */
import type { Denial } from "../../reasons.ts";
import { isValidToolName } from "../../tool_name.ts";
import { CATALOG_SESSION, type ExposedTool, type FederationDeps } from "./federation.ts";
import { type PinState, toolDefinitionHash } from "./pins.ts";
import type { UpstreamClient } from "../upstream/upstream.ts";
import { poisoningIn } from "../../scan/poisoning.ts";

const MAX_PAGES = 100;
const MAX_TOOLS = 10_000;

/** A tool the catalog hides, and the refusal its calls get. */
export interface HiddenTool {
  /** The tool as listed (its first listing when listed more than once). */
  readonly tool: ExposedTool;
  /** Why it is hidden (shown on `/upstreams`). */
  readonly why: string;
  /** The refusal of a call (`tool_definition_changed`, `tool_ambiguous`); absent = the name is
   * treated as unknown (an exposed name that fails the name rule). */
  readonly denial?: Denial;
}

/** The usable and the hidden tools of one upstream. */
export interface Catalog {
  readonly tools: Map<string, ExposedTool>;
  readonly hidden: Map<string, HiddenTool>;
  /** The client's generation when the read completed: sessions (re)initialized up to then were
   * initialized before this catalog was read (see `UpstreamClient.generation`). */
  readonly generation: number;
}

/** Printable text of at most `max` characters (control characters replaced). */
export function shorten(text: string, max = 300): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, " ");
  return clean.length > max ? clean.slice(0, max) + "…" : clean;
}

/** What `readCatalog` needs of its upstream. */
export interface CatalogSource {
  readonly name: string;
  readonly prefix: string;
  readonly client: UpstreamClient;
  readonly pinMode: "off" | "warn" | "block";
  /** `pinning.scan_descriptions` (§15): scan definitions for tool poisoning. */
  readonly scanMode?: "off" | "flag" | "block";
  /** Events already reported, so a refreshed catalog does not repeat them. */
  readonly reported: Set<string>;
}

/** Every page of the upstream's `tools/list` (bounded by the start timeout). */
async function readDefinitions(
  entry: CatalogSource,
  deps: FederationDeps,
): Promise<Record<string, unknown>[]> {
  const definitions: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  const deadline = deps.clock() + deps.startTimeoutMs;
  for (let page = 0; page < MAX_PAGES; page++) {
    const timeoutMs = Math.max(1, deadline - deps.clock());
    const result = await entry.client.request(
      CATALOG_SESSION,
      "tools/list",
      cursor === undefined ? undefined : { cursor },
      { timeoutMs },
    );
    const tools = result.tools;
    if (!Array.isArray(tools)) throw new Error("tools/list answer has no tools array");
    for (const tool of tools) {
      if (definitions.length >= MAX_TOOLS) break;
      if (typeof tool === "object" && tool !== null && typeof tool.name === "string") {
        definitions.push(tool);
      } else {
        deps.log.warn(`Upstream "${entry.name}" listed a malformed tool; ignored`);
      }
    }
    cursor = typeof result.nextCursor === "string" && result.nextCursor !== ""
      ? result.nextCursor
      : undefined;
    if (cursor === undefined) break;
  }
  return definitions;
}

/** The pin state of a definition without pinning it (for tools that are never pinned). */
async function peekPin(
  entry: CatalogSource,
  definition: ExposedTool["definition"],
  deps: FederationDeps,
) {
  const hash = toolDefinitionHash(definition);
  const pinned = await deps.pins.get(entry.name, definition.name);
  const pinState: PinState = pinned === undefined
    ? "new"
    : pinned.hash === hash
    ? "pinned"
    : "changed";
  return { hash, pinState };
}

function exposeTool(
  entry: CatalogSource,
  definition: ExposedTool["definition"],
  pin: { hash: string; pinState: PinState },
  deps: FederationDeps,
  compile: boolean,
): ExposedTool {
  const exposed = entry.prefix === "" ? definition.name : `${entry.prefix}.${definition.name}`;
  return {
    exposed,
    upstream: entry.name,
    definition,
    hash: pin.hash,
    pinState: pin.pinState,
    inputSchema: !compile || definition.inputSchema === undefined
      ? undefined
      : deps.schemaCache.get(definition.inputSchema),
    outputSchema: !compile || definition.outputSchema === undefined
      ? undefined
      : deps.schemaCache.get(definition.outputSchema),
  };
}

/** Reads every page of an upstream's `tools/list`, pins each definition (its whole JSON),
 * compiles its schemas, and hides tools with bad names, tools listed more than once (refused as
 * ambiguous, never pinned) and (in block mode) changed definitions. */
export async function readCatalog(entry: CatalogSource, deps: FederationDeps): Promise<Catalog> {
  const definitions = await readDefinitions(entry, deps);
  const generation = entry.client.generation();
  const counts = new Map<string, number>();
  for (const definition of definitions) {
    const name = definition.name as string;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const tools = new Map<string, ExposedTool>();
  const hidden = new Map<string, HiddenTool>();
  const report = (key: string, event: Parameters<FederationDeps["onPinEvent"]>[0]) => {
    if (entry.reported.has(key)) return;
    entry.reported.add(key);
    deps.onPinEvent(event);
  };
  for (const raw of definitions) {
    const definition = raw as ExposedTool["definition"];
    const count = counts.get(definition.name)!;
    const exposedName = entry.prefix === ""
      ? definition.name
      : `${entry.prefix}.${definition.name}`;
    if (hidden.has(exposedName) || tools.has(exposedName)) continue; // a repeat, handled below
    if (!isValidToolName(exposedName)) {
      const tool = exposeTool(
        entry,
        definition,
        await peekPin(entry, definition, deps),
        deps,
        false,
      );
      hidden.set(exposedName, { tool, why: "invalid exposed name" });
      deps.log.warn(
        `Upstream "${entry.name}" tool ${JSON.stringify(shorten(exposedName, 140))} hidden: ` +
          "its exposed name fails [A-Za-z0-9_.-]{1,128} or ends in .output",
      );
      continue;
    }
    if (count > 1) {
      const tool = exposeTool(
        entry,
        definition,
        await peekPin(entry, definition, deps),
        deps,
        false,
      );
      const why = `listed more than once by the upstream (${count} times)`;
      hidden.set(exposedName, {
        tool,
        why,
        denial: {
          reasonCode: "tool_ambiguous",
          reason: `upstream "${entry.name}" lists "${exposedName}" more than once (${count} ` +
            "times); it is refused until the upstream lists it once",
        },
      });
      deps.log.warn(`Upstream "${entry.name}" lists "${exposedName}" ${count} times; hidden`);
      report(`ambiguous:${exposedName}:${count}:${tool.hash}`, {
        tool: exposedName,
        change: "ambiguous",
        mode: entry.pinMode,
        hash: tool.hash,
        count,
      });
      continue;
    }
    const observed = entry.pinMode === "off"
      ? { state: "pinned" as const, hash: "" }
      : await deps.pins.observe(entry.name, definition, deps.clock());
    const exposedTool = exposeTool(
      entry,
      definition,
      { hash: observed.hash, pinState: observed.state },
      deps,
      true,
    );
    // Tool poisoning (§15): the definition as the model will read it, in description mode.
    const scanMode = entry.scanMode ?? "block";
    const poisoning = scanMode === "off" ? [] : poisoningIn(definition);
    const tool: ExposedTool = poisoning.length === 0 ? exposedTool : {
      ...exposedTool,
      // Pinning off keeps no hash; an approval needs one.
      hash: exposedTool.hash || toolDefinitionHash(definition),
      poisoning,
    };
    if (observed.state !== "pinned") {
      report(`${exposedName}:${tool.hash}`, {
        tool: exposedName,
        change: observed.state,
        mode: entry.pinMode,
        hash: tool.hash,
      });
    } else if ("upgraded" in observed && observed.upgraded) {
      report(`upgraded:${exposedName}:${tool.hash}`, {
        tool: exposedName,
        change: "upgraded",
        mode: entry.pinMode,
        hash: tool.hash,
      });
    }
    if (poisoning.length > 0) {
      const scan = scanMode === "block" ? "block" : "flag";
      report(`poisoned:${exposedName}:${tool.hash}:${scan}`, {
        tool: exposedName,
        change: "poisoned",
        mode: entry.pinMode,
        hash: tool.hash,
        poisoning: { detectors: poisoning, scan },
      });
    }
    if (observed.state === "changed" && entry.pinMode === "block") {
      hidden.set(exposedName, {
        tool,
        why: "definition changed; approval needed",
        denial: {
          reasonCode: "tool_definition_changed",
          reason: `the definition of "${exposedName}" changed since it was pinned; an admin ` +
            "must approve it",
        },
      });
      continue;
    }
    // A changed definition waits for its change approval first (which also approves it).
    if (poisoning.length > 0) {
      const scan = scanMode === "block" ? "block" : "flag";
      // Hidden until an admin approves this exact definition (its pin then carries approved_at).
      const pin = scan === "block" ? await deps.pins.get(entry.name, definition.name) : undefined;
      const approved = pin?.approved_at !== undefined && pin.hash === tool.hash;
      if (scan === "block" && !approved) {
        hidden.set(exposedName, {
          tool,
          why: `description reads like instructions to the model (${poisoning.join(", ")}); ` +
            "approval needed",
          denial: {
            reasonCode: "tool_poisoning",
            reason: `the description of "${exposedName}" reads like instructions to the model ` +
              `(${poisoning.join(", ")}); an admin must approve it`,
          },
        });
        continue;
      }
    }
    tools.set(exposedName, tool);
  }
  return { tools, hidden, generation };
}
