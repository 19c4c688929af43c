/** Tool pinning (§5.6): a hash of each upstream tool definition, kept in `PINS_PATH`. */
import { createHash } from "node:crypto";
import { canonicalJson } from "../../schema/registry.ts";

/** A tool definition as the upstream lists it (every field is pinned). */
export type PinnableTool = Readonly<Record<string, unknown>> & { readonly name: string };

/** The hash recipe of new pins: the whole definition (recipe 1 hashed five fields only). */
export const PIN_RECIPE = 2;

/** One pinned tool. */
export interface PinRecord {
  /** sha256 hex of the pinned definition. */
  hash: string;
  /** Hash recipe (absent = 1, the five-field recipe of older pin files). */
  recipe?: number;
  /** When first seen (ISO 8601). */
  pinned_at: string;
  /** When an admin last approved a change (ISO 8601), if ever. */
  approved_at?: string;
}

/** A tool's pin state: first seen now, matching its pin, or changed since. */
export type PinState = "new" | "pinned" | "changed";

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The sha256 of a tool's whole definition (canonical JSON of every field: name, title,
 * description, schemas, annotations, icons, `_meta`, and any other), so any change the model can
 * see is a change. A definition that is not plain JSON gets a hash no pin can match. */
export function toolDefinitionHash(tool: PinnableTool): string {
  try {
    return sha256(canonicalJson(tool));
  } catch {
    return sha256(`unencodable:${crypto.randomUUID()}`);
  }
}

/** Recipe 1 (older pin files): the sha256 of name, description, inputSchema, outputSchema and
 * annotations only; used to upgrade old pins, never to create new ones. */
export function legacyToolDefinitionHash(tool: PinnableTool): string {
  try {
    return sha256(canonicalJson({
      name: tool.name,
      description: tool.description ?? null,
      inputSchema: tool.inputSchema ?? null,
      outputSchema: tool.outputSchema ?? null,
      annotations: tool.annotations ?? null,
    }));
  } catch {
    return sha256(`unencodable:${crypto.randomUUID()}`);
  }
}

/** The pin key of an upstream tool: `<upstream>/<tool>`. */
export function pinKey(upstream: string, tool: string): string {
  return `${upstream}/${tool}`;
}

/** What comparing a tool with its pin found. */
export interface PinObservation {
  readonly state: PinState;
  readonly hash: string;
  /** A recipe-1 pin was rewritten with the new recipe. */
  readonly upgraded?: true;
}

/** Where pins are kept: a JSON file (one replica) or Redis (several, §13). The shared store's
 * calls are asynchronous and reject when it cannot be reached (fail closed). */
export interface PinStore {
  /** Compares a tool with its pin; a tool seen for the first time is pinned now ("new"). A
   * recipe-1 pin whose old hash still matches is rewritten with the new recipe (`upgraded`). */
  observe(
    upstream: string,
    tool: PinnableTool,
    now: number,
  ): PinObservation | Promise<PinObservation>;
  /** Pins the given hash as approved (after a change). */
  approve(upstream: string, tool: string, hash: string, now: number): void | Promise<void>;
  /** The pin of one tool, if any. */
  get(
    upstream: string,
    tool: string,
  ): Readonly<PinRecord> | undefined | Promise<Readonly<PinRecord> | undefined>;
  /** Listens for pins changed elsewhere (another replica): the upstream whose pins changed, or
   * null when any may have (messages missed while disconnected). Absent for one replica. */
  onChange?(listener: (upstream: string | null) => void): () => void;
  /** Resolves once every change so far is stored (rejects with the write error). */
  flush(): Promise<void>;
}

/** Pins in memory, saved to a JSON file after each change (effect). */
export interface FilePinStore extends PinStore {
  observe(upstream: string, tool: PinnableTool, now: number): PinObservation;
  approve(upstream: string, tool: string, hash: string, now: number): void;
  get(upstream: string, tool: string): Readonly<PinRecord> | undefined;
  /** All pins by key. */
  entries(): ReadonlyMap<string, Readonly<PinRecord>>;
}

function isRecord(value: unknown): value is PinRecord {
  if (typeof value !== "object" || value === null) return false;
  const record = value as PinRecord;
  return typeof record.hash === "string" && /^[0-9a-f]{64}$/.test(record.hash) &&
    typeof record.pinned_at === "string" &&
    (record.recipe === undefined || record.recipe === 1 || record.recipe === PIN_RECIPE);
}

/** Opens the pin file (missing = no pins; unreadable or malformed = error, fail closed). */
export async function openPinStore(
  options: { path: string; onError: (message: string) => void },
): Promise<FilePinStore> {
  const pins = new Map<string, PinRecord>();
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(options.path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot load pins "${options.path}": ${(error as Error).message}`);
    }
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`Cannot load pins "${options.path}": not valid JSON`);
    }
    const tools = (parsed as { tools?: unknown })?.tools;
    if (typeof tools !== "object" || tools === null || Array.isArray(tools)) {
      throw new Error(`Cannot load pins "${options.path}": expected {"version": 1, "tools": {…}}`);
    }
    for (const [key, record] of Object.entries(tools)) {
      if (!isRecord(record)) {
        throw new Error(`Cannot load pins "${options.path}": entry "${key}" is malformed`);
      }
      pins.set(key, { ...record });
    }
  }

  // `writing` never rejects (an unobserved rejection would end the process); the last save's
  // error is kept for `flush`.
  let writing: Promise<void> = Promise.resolve();
  let failure: unknown;
  let dirty = false;
  function save(): void {
    dirty = true;
    writing = writing.then(async () => {
      if (!dirty) return;
      dirty = false;
      const body = JSON.stringify({ version: 1, tools: Object.fromEntries(pins) }, null, 2) + "\n";
      const temp = `${options.path}.tmp-${crypto.randomUUID()}`;
      try {
        await Deno.writeTextFile(temp, body, { mode: 0o600 });
        await Deno.rename(temp, options.path);
        failure = undefined;
      } catch (error) {
        await Deno.remove(temp).catch(() => {});
        dirty = true;
        failure = error;
        options.onError(`Cannot save pins "${options.path}": ${(error as Error).message}`);
      }
    });
  }
  return {
    observe(upstream, tool, now) {
      const key = pinKey(upstream, tool.name);
      const hash = toolDefinitionHash(tool);
      const pinned = pins.get(key);
      if (!pinned) {
        pins.set(key, { hash, recipe: PIN_RECIPE, pinned_at: new Date(now).toISOString() });
        save();
        return { state: "new", hash };
      }
      if (pinned.recipe === PIN_RECIPE) {
        return { state: pinned.hash === hash ? "pinned" : "changed", hash };
      }
      // A recipe-1 pin: upgraded only when the definition is still the one it pinned.
      if (pinned.hash !== legacyToolDefinitionHash(tool)) return { state: "changed", hash };
      pins.set(key, { ...pinned, hash, recipe: PIN_RECIPE });
      save();
      return { state: "pinned", hash, upgraded: true };
    },
    approve(upstream, tool, hash, now) {
      const key = pinKey(upstream, tool);
      const at = new Date(now).toISOString();
      pins.set(key, {
        hash,
        recipe: PIN_RECIPE,
        pinned_at: pins.get(key)?.pinned_at ?? at,
        approved_at: at,
      });
      save();
    },
    get: (upstream, tool) => pins.get(pinKey(upstream, tool)),
    entries: () => pins,
    async flush() {
      await writing;
      if (failure !== undefined) throw failure;
    },
  };
}
