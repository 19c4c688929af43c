/** Local schema registry and upstream schema cache (§8): everything compiled once. Pure. */

import { createHash } from "node:crypto";
import { isValidToolName } from "../tool_name.ts";
import { type CompileResult, compileSchema, type SchemaValidator } from "./compile.ts";

/** One schema file's name (no directory) and text, as read by `readSchemaDir`. */
export interface SchemaFile {
  /** File name, e.g. `calendar.create_event.json` or `calendar.create_event.output.json`. */
  readonly fileName: string;
  /** The file's text. */
  readonly text: string;
}

/** Precompiled local schemas by tool name. */
export interface SchemaRegistry {
  /** The input schema of `toolName`; undefined when none (or the name is not a valid tool name). */
  input(toolName: string): SchemaValidator | undefined;
  /** The output schema of `toolName`; undefined when none (or the name is not a valid tool name). */
  output(toolName: string): SchemaValidator | undefined;
  /** Tools with an input schema, sorted. */
  readonly inputTools: readonly string[];
  /** Tools with an output schema, sorted. */
  readonly outputTools: readonly string[];
}

/** Caches compiled upstream tool schemas by the sha256 of their canonical JSON. */
export interface UpstreamSchemaCache {
  /** The compiled schema (2020-12 unless `$schema` says otherwise), or why it was refused. */
  get(schema: unknown): CompileResult;
  /** Number of cached definitions. */
  readonly size: number;
}

/** Options for `createUpstreamSchemaCache`. */
export interface UpstreamSchemaCacheOptions {
  /** Most definitions kept; the least recently used is dropped past it. Default 1000. */
  readonly maxEntries?: number;
}

const JSON_SUFFIX = ".json";
const OUTPUT_SUFFIX = ".output";
const MAX_NAME_CHARS = 200;
const MAX_REASON_CHARS = 300;

/** Compiles every schema file; reports every problem at once (bad files are left out). */
export function buildSchemaRegistry(
  files: readonly SchemaFile[],
): { registry: SchemaRegistry; errors: string[] } {
  const inputs = new Map<string, SchemaValidator>();
  const outputs = new Map<string, SchemaValidator>();
  const errors: string[] = [];
  for (const { fileName, text } of files) {
    const fail = (reason: string): void => {
      errors.push(`Cannot load schema ${quote(fileName)}: ${reason}`);
    };
    const target = schemaTarget(fileName);
    if (!target.ok) {
      fail(target.error);
      continue;
    }
    const table = target.kind === "input" ? inputs : outputs;
    if (table.has(target.tool)) {
      fail(`duplicate ${target.kind} schema for tool "${target.tool}"`);
      continue;
    }
    let schema: unknown;
    try {
      schema = JSON.parse(text.startsWith("\uFEFF") ? text.slice(1) : text);
    } catch (error) {
      fail(`invalid JSON (${clean(error instanceof Error ? error.message : "parse error")})`);
      continue;
    }
    const compiled = compileSchema(schema, { defaultDialect: "draft-07" });
    if (!compiled.ok) {
      fail(clean(compiled.error));
      continue;
    }
    table.set(target.tool, compiled.validator);
  }
  const inputTools = Object.freeze([...inputs.keys()].sort());
  const outputTools = Object.freeze([...outputs.keys()].sort());
  const registry: SchemaRegistry = {
    input: (toolName) => isValidToolName(toolName) ? inputs.get(toolName) : undefined,
    output: (toolName) => isValidToolName(toolName) ? outputs.get(toolName) : undefined,
    inputTools,
    outputTools,
  };
  return { registry: Object.freeze(registry), errors };
}

/** Which tool and kind a schema file name maps to: `<tool>.json` or `<tool>.output.json`. */
export function schemaTarget(
  fileName: string,
): { ok: true; tool: string; kind: "input" | "output" } | { ok: false; error: string } {
  if (!fileName.endsWith(JSON_SUFFIX)) return { ok: false, error: "not a .json file" };
  const base = fileName.slice(0, -JSON_SUFFIX.length);
  const isOutput = base.endsWith(OUTPUT_SUFFIX);
  const tool = isOutput ? base.slice(0, -OUTPUT_SUFFIX.length) : base;
  if (!isValidToolName(tool)) return { ok: false, error: "invalid tool name" };
  return { ok: true, tool, kind: isOutput ? "output" : "input" };
}

/** A bounded cache so each distinct upstream tool schema is compiled once. */
export function createUpstreamSchemaCache(
  options: UpstreamSchemaCacheOptions = {},
): UpstreamSchemaCache {
  const maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 1000));
  const entries = new Map<string, CompileResult>();
  return {
    get(schema: unknown): CompileResult {
      let key: string;
      try {
        key = createHash("sha256").update(canonicalJson(schema)).digest("hex");
      } catch {
        return { ok: false, error: "schema is not plain JSON" };
      }
      const cached = entries.get(key);
      if (cached !== undefined) {
        // Refresh recency: Map iteration order is insertion order.
        entries.delete(key);
        entries.set(key, cached);
        return cached;
      }
      const compiled = compileSchema(schema, { defaultDialect: "2020-12" });
      entries.set(key, compiled);
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
      return compiled;
    },
    get size(): number {
      return entries.size;
    },
  };
}

/** JSON text with object keys sorted at every level; throws on values JSON cannot hold. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("non-finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new TypeError("not a plain object");
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
    return `{${
      keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(",")
    }}`;
  }
  throw new TypeError(`cannot encode ${typeof value}`);
}

function quote(fileName: string): string {
  const shown = fileName.length > MAX_NAME_CHARS
    ? `${fileName.slice(0, MAX_NAME_CHARS)}…`
    : fileName;
  return JSON.stringify(shown);
}

function clean(text: string): string {
  // deno-lint-ignore no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?");
  return printable.length > MAX_REASON_CHARS
    ? `${printable.slice(0, MAX_REASON_CHARS)}…`
    : printable;
}
