/**
 * The `instructions` of the gateway's `initialize` answer: the gateway's own line, then the
 * instructions each upstream gave at its `initialize`, namespaced `[<prefix>]`, only for upstreams
 * the session's model may see a tool of, bounded in size and scrubbed (issue 11).
 */
import { scrubberFor } from "../../audit/event/scrub.ts";
import { isToolVisible } from "../../policy/evaluate.ts";
import type { Policy } from "../../policy/types.ts";
import type { ExposedTool, Federation } from "../federation/federation.ts";

/** The gateway's own line, always first. */
export const GATEWAY_INSTRUCTIONS = "Tools of the configured upstream MCP servers, filtered and " +
  "enforced by MCP-Sec Gateway. Refused calls return isError results explaining why.";

/** Longest text kept of one upstream's instructions. */
export const MAX_UPSTREAM_INSTRUCTIONS = 2_000;

/** Longest merged text. */
export const MAX_INSTRUCTIONS = 8_000;

/** How long an `initialize` waits for the upstreams' catalogs (their instructions come with them). */
export const INSTRUCTIONS_WAIT_MS = 1_000;

/** One upstream's contribution: its label (prefix, or name when unprefixed) and its text. */
export interface UpstreamInstructions {
  /** `[label]` shown before the text. */
  readonly label: string;
  /** The instructions the upstream gave at `initialize`. */
  readonly text: string;
}

// Control characters other than tab and newline; a carriage return or a form feed included.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Merges the gateway's line with the upstreams' instructions. Each upstream block starts with
 * `[label] ` and its further lines are indented, so no upstream can write a line that looks like
 * the gateway's or another upstream's; control characters are dropped, each block is cut at
 * `MAX_UPSTREAM_INSTRUCTIONS` and the whole at `MAX_INSTRUCTIONS` characters.
 */
export function mergeInstructions(
  upstreams: readonly UpstreamInstructions[],
  scrub: (text: string) => string = (text) => text,
): string {
  let merged = GATEWAY_INSTRUCTIONS;
  for (const { label, text } of upstreams) {
    const clean = scrub(text.slice(0, MAX_UPSTREAM_INSTRUCTIONS * 2)).replace(CONTROL, "").trim();
    if (clean === "") continue;
    const cut = clean.length > MAX_UPSTREAM_INSTRUCTIONS
      ? clean.slice(0, MAX_UPSTREAM_INSTRUCTIONS) + "…"
      : clean;
    const block = `\n\n[${label}] ${cut.replaceAll("\n", "\n  ")}`;
    if (merged.length + block.length > MAX_INSTRUCTIONS) break;
    merged += block;
  }
  return merged;
}

/**
 * The instructions for a new session of `modelId`: waits at most `waitMs` for the upstreams'
 * catalogs (contacting those never reached), then keeps the upstreams that gave instructions and
 * list at least one tool this model may see now. Never throws; on timeout only the gateway's line.
 */
export async function sessionInstructions(
  options: { federation: Federation; policy: Policy; modelId: string; now: number; waitMs: number },
): Promise<string> {
  const { federation, policy, modelId, now } = options;
  const upstreams = federation.upstreams().filter((u) => u.client.info()?.instructions);
  const idle = federation.upstreams().some((u) => u.client.status() === "idle");
  if (upstreams.length === 0 && !idle) return GATEWAY_INSTRUCTIONS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let tools: readonly ExposedTool[] | undefined;
  try {
    tools = await Promise.race([
      federation.listTools(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), options.waitMs);
      }),
    ]);
  } catch {
    tools = undefined;
  } finally {
    clearTimeout(timer);
  }
  if (tools === undefined) return GATEWAY_INSTRUCTIONS;
  const visible = new Set<string>();
  for (const tool of tools) {
    if (!visible.has(tool.upstream) && isToolVisible(policy, modelId, tool.exposed, now)) {
      visible.add(tool.upstream);
    }
  }
  const scrubber = scrubberFor(policy);
  return mergeInstructions(
    federation.upstreams().flatMap((upstream) => {
      const text = upstream.client.info()?.instructions;
      return text && visible.has(upstream.name)
        ? [{ label: upstream.prefix === "" ? upstream.name : upstream.prefix, text }]
        : [];
    }),
    (text) => scrubber.text(text),
  );
}
