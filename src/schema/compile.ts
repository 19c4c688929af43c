/** JSON Schema compilation (§8): dialect from `$schema`, ajv + formats, fail closed. Pure. */

import { Ajv } from "ajv";
import { Ajv2019 } from "ajv/dist/2019";
import { Ajv2020 } from "ajv/dist/2020";
import type { ErrorObject, ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { schemaRegExp } from "./regexp.ts";

/** The JSON Schema dialects the gateway compiles. */
export type Dialect = "draft-07" | "2019-09" | "2020-12";

/** The outcome of validating one value: ok, or messages naming paths and keywords (never values). */
export type ValidationResult = { ok: true } | { ok: false; errors: string[] };

/** A compiled schema; `validate` never throws and never mutates its argument. */
export interface SchemaValidator {
  /** The dialect the schema was compiled as. */
  readonly dialect: Dialect;
  /** Checks `data` against the schema. */
  validate(data: unknown): ValidationResult;
}

/** The outcome of compiling: a validator, or why the schema was refused. */
export type CompileResult = { ok: true; validator: SchemaValidator } | { ok: false; error: string };

/** Options for `compileSchema`. */
export interface CompileOptions {
  /** Dialect used when the schema has no `$schema` (local files: draft-07; MCP upstream: 2020-12). */
  readonly defaultDialect: "draft-07" | "2020-12";
}

/** At most this many error messages are reported, then `… and N more`. */
export const MAX_REPORTED_ERRORS = 10;

/** A shared ajv instance is replaced after this many compiles (ajv's code scope only grows). */
export const COMPILES_PER_INSTANCE = 500;

const MAX_PATH_CHARS = 120;
const MAX_COMPILE_ERROR_CHARS = 300;

const DIALECT_URIS: ReadonlyArray<readonly [RegExp, Dialect]> = [
  [/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/, "draft-07"],
  [/^https?:\/\/json-schema\.org\/draft\/2019-09\/schema#?$/, "2019-09"],
  [/^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/, "2020-12"],
];

type AjvInstance = Ajv | Ajv2019 | Ajv2020;

interface Engine {
  readonly ajv: AjvInstance;
  readonly generation: number;
  compiles: number;
}

const engines = new Map<Dialect, Engine>();

/** Picks the dialect named by a `$schema` value (undefined = the default); an error for any other. */
export function dialectOf(
  schemaUri: unknown,
  defaultDialect: Dialect,
): { ok: true; dialect: Dialect } | { ok: false; error: string } {
  if (schemaUri === undefined) return { ok: true, dialect: defaultDialect };
  if (typeof schemaUri === "string") {
    for (const [pattern, dialect] of DIALECT_URIS) {
      if (pattern.test(schemaUri)) return { ok: true, dialect };
    }
  }
  return { ok: false, error: "unsupported dialect" };
}

/** Compiles a JSON Schema (object or boolean) for the dialect its `$schema` names. */
export function compileSchema(schema: unknown, options: CompileOptions): CompileResult {
  if (typeof schema === "boolean") return compileFor(schema, options.defaultDialect);
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    return { ok: false, error: "schema must be an object or a boolean" };
  }
  const picked = dialectOf((schema as Record<string, unknown>).$schema, options.defaultDialect);
  if (!picked.ok) return picked;
  let copy: Record<string, unknown>;
  try {
    // A private JSON copy: ajv keys its cache by object identity, and the caller may mutate theirs.
    copy = JSON.parse(JSON.stringify(schema));
  } catch {
    return { ok: false, error: "schema is not plain JSON" };
  }
  // The dialect is chosen; ajv would otherwise look up http/https or `#` variants as remote refs.
  delete copy.$schema;
  return compileFor(copy, picked.dialect);
}

/** Diagnostics for tests and metrics: the shared instance of a dialect, if one was created. */
export function engineStats(
  dialect: Dialect,
): { generation: number; compiles: number; refs: number } | undefined {
  const engine = engines.get(dialect);
  if (engine === undefined) return undefined;
  return {
    generation: engine.generation,
    compiles: engine.compiles,
    refs: Object.keys(engine.ajv.refs).length,
  };
}

function compileFor(schema: boolean | Record<string, unknown>, dialect: Dialect): CompileResult {
  const engine = engineFor(dialect);
  engine.compiles++;
  const { ajv } = engine;
  const refsBefore = { ...ajv.refs };
  const schemasBefore = { ...ajv.schemas };
  try {
    const check = ajv.compile(schema);
    if ((check as { $async?: unknown }).$async === true) {
      return { ok: false, error: "async schemas are not supported" };
    }
    return { ok: true, validator: makeValidator(dialect, check) };
  } catch (error) {
    return { ok: false, error: compileErrorText(error) };
  } finally {
    // Forget everything this compile registered, so the same `$id` can be compiled again
    // (on reload) without "already exists", nothing accumulates, and a hostile `$id` equal to
    // a meta-schema's cannot unregister it.
    if (typeof schema === "object") ajv.removeSchema(schema);
    restore(ajv.refs, refsBefore);
    restore(ajv.schemas, schemasBefore);
  }
}

function restore<T>(table: Record<string, T>, before: Record<string, T>): void {
  for (const key of Object.keys(table)) if (!Object.hasOwn(before, key)) delete table[key];
  for (const [key, value] of Object.entries(before)) if (table[key] !== value) table[key] = value;
}

function engineFor(dialect: Dialect): Engine {
  const current = engines.get(dialect);
  if (current !== undefined && current.compiles < COMPILES_PER_INSTANCE) return current;
  const engine: Engine = {
    ajv: createAjv(dialect),
    generation: (current?.generation ?? 0) + 1,
    compiles: 0,
  };
  engines.set(dialect, engine);
  return engine;
}

function createAjv(dialect: Dialect): AjvInstance {
  const options = {
    allErrors: true,
    // Upstream schemas carry unknown keywords: tolerate them ...
    strict: false,
    // ... but "log" (not false) makes ajv throw on an unknown `format` instead of ignoring it.
    strictSchema: "log" as const,
    logger: false as const,
    $data: false,
    validateFormats: true,
    useDefaults: false,
    coerceTypes: false,
    removeAdditional: false,
    addUsedSchema: true,
    // Patterns run in linear time where V8 allows (see regexp.ts): no ReDoS from hostile schemas.
    code: { regExp: schemaRegExp },
  };
  const ajv = dialect === "draft-07"
    ? new Ajv(options)
    : dialect === "2019-09"
    ? new Ajv2019(options)
    : new Ajv2020(options);
  // `ajv-formats` is CommonJS: its default import is typed as the module object under Deno;
  // at run time both it and its `.default` are the plugin function.
  addFormats.default(ajv);
  return ajv;
}

function makeValidator(dialect: Dialect, check: ValidateFunction): SchemaValidator {
  return {
    dialect,
    validate(data: unknown): ValidationResult {
      let valid: boolean;
      try {
        valid = check(data);
      } catch {
        return { ok: false, errors: ["/ could not be validated"] };
      }
      if (valid === true) return { ok: true };
      return { ok: false, errors: formatErrors(check.errors ?? []) };
    },
  };
}

/** Turns ajv errors into `<path> <message>` lines, capped at `MAX_REPORTED_ERRORS`. */
export function formatErrors(errors: readonly ErrorObject[]): string[] {
  if (errors.length === 0) return ["/ is invalid"];
  const lines = errors.slice(0, MAX_REPORTED_ERRORS).map((error) =>
    `${pathText(error.instancePath)} ${clean(error.message ?? "is invalid", 200)}`
  );
  if (errors.length > MAX_REPORTED_ERRORS) {
    lines.push(`… and ${errors.length - MAX_REPORTED_ERRORS} more`);
  }
  return lines;
}

function pathText(instancePath: string): string {
  return instancePath === "" ? "/" : clean(instancePath, MAX_PATH_CHARS);
}

function compileErrorText(error: unknown): string {
  const message = error instanceof Error ? error.message : "schema cannot be compiled";
  return clean(message, MAX_COMPILE_ERROR_CHARS);
}

function clean(text: string, maxChars: number): string {
  // deno-lint-ignore no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?");
  return printable.length > maxChars ? `${printable.slice(0, maxChars)}…` : printable;
}
