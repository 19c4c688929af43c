/** An upstream's tool catalog (§5.2, §5.6): every page read, names exposed, pins checked. */
import { isValidToolName } from "../tool_name.ts";
import { CATALOG_SESSION, type ExposedTool, type FederationDeps } from "./federation.ts";
import type { UpstreamClient } from "./upstream.ts";

const MAX_PAGES = 100;
const MAX_TOOLS = 10_000;

/** The usable and the hidden tools of one upstream. */
export interface Catalog {
  readonly tools: Map<string, ExposedTool>;
  /** Hidden tools; `pin` marks the ones refused (not unknown) because their definition changed. */
  readonly hidden: Map<string, { tool: ExposedTool; why: string; pin?: boolean }>;
}

/** Printable text of at most `max` characters (control characters replaced). */
export function shorten(text: string, max = 300): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, " ");
  return clean.length > max ? clean.slice(0, max) + "…" : clean;
}

/** Reads every page of an upstream's `tools/list`, pins each definition, compiles its schemas,
 * and hides tools with bad or duplicate names and (in block mode) changed definitions. */
export async function readCatalog(
  entry: {
    readonly name: string;
    readonly prefix: string;
    readonly client: UpstreamClient;
    readonly pinMode: "off" | "warn" | "block";
    /** Pin events already reported (tool and hash), so a refreshed catalog does not repeat them. */
    readonly reported: Set<string>;
  },
  deps: FederationDeps,
): Promise<Catalog> {
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
  const tools = new Map<string, ExposedTool>();
  const hidden: Catalog["hidden"] = new Map();
  for (const definition of definitions) {
    const name = definition.name as string;
    const exposed = entry.prefix === "" ? name : `${entry.prefix}.${name}`;
    const observed = entry.pinMode === "off"
      ? { state: "pinned" as const, hash: "" }
      : deps.pins.observe(entry.name, definition as { name: string }, deps.clock());
    const tool: ExposedTool = {
      exposed,
      upstream: entry.name,
      definition: definition as ExposedTool["definition"],
      hash: observed.hash,
      pinState: observed.state,
      inputSchema: definition.inputSchema === undefined
        ? undefined
        : deps.schemaCache.get(definition.inputSchema),
      outputSchema: definition.outputSchema === undefined
        ? undefined
        : deps.schemaCache.get(definition.outputSchema),
    };
    if (!isValidToolName(exposed)) {
      hidden.set(exposed, { tool, why: "invalid exposed name" });
      deps.log.warn(
        `Upstream "${entry.name}" tool ${JSON.stringify(shorten(exposed, 140))} hidden: ` +
          "its exposed name fails [A-Za-z0-9_.-]{1,128} or ends in .output",
      );
      continue;
    }
    if (tools.has(exposed)) {
      hidden.set(exposed, { tool, why: "listed twice" });
      tools.delete(exposed);
      deps.log.warn(`Upstream "${entry.name}" lists "${exposed}" twice; hidden`);
      continue;
    }
    if (observed.state !== "pinned" && !entry.reported.has(`${exposed}:${tool.hash}`)) {
      entry.reported.add(`${exposed}:${tool.hash}`);
      deps.onPinEvent({
        tool: exposed,
        change: observed.state,
        mode: entry.pinMode,
        hash: tool.hash,
      });
    }
    if (observed.state === "changed" && entry.pinMode === "block") {
      hidden.set(exposed, { tool, why: "definition changed; approval needed", pin: true });
      continue;
    }
    tools.set(exposed, tool);
  }
  return { tools, hidden };
}
