import { expect } from "expect";
import {
  type CompileOptions,
  type CompileResult,
  COMPILES_PER_INSTANCE,
  compileSchema,
  dialectOf,
  engineStats,
  MAX_REPORTED_ERRORS,
  type SchemaValidator,
} from "./compile.ts";

const DRAFT_07: CompileOptions = { defaultDialect: "draft-07" };
const D2020: CompileOptions = { defaultDialect: "2020-12" };

function mustCompile(schema: unknown, options: CompileOptions = DRAFT_07): SchemaValidator {
  const result = compileSchema(schema, options);
  if (!result.ok) throw new Error(`expected to compile: ${result.error}`);
  return result.validator;
}

function errorsOf(validator: SchemaValidator, data: unknown): string[] {
  const result = validator.validate(data);
  if (result.ok) throw new Error("expected invalid");
  return result.errors;
}

const EVENT = {
  type: "object",
  required: ["title", "start_time"],
  properties: {
    title: { type: "string" },
    start_time: { type: "string", format: "date-time" },
    location: { type: "string" },
  },
};

Deno.test("dialect: $schema URIs, with or without #, http or https; absent → default", () => {
  expect(dialectOf("http://json-schema.org/draft-07/schema#", "2020-12")).toEqual({
    ok: true,
    dialect: "draft-07",
  });
  expect(dialectOf("https://json-schema.org/draft-07/schema", "2020-12")).toEqual({
    ok: true,
    dialect: "draft-07",
  });
  expect(dialectOf("https://json-schema.org/draft/2019-09/schema", "draft-07")).toEqual({
    ok: true,
    dialect: "2019-09",
  });
  expect(dialectOf("https://json-schema.org/draft/2020-12/schema#", "draft-07")).toEqual({
    ok: true,
    dialect: "2020-12",
  });
  expect(dialectOf(undefined, "2020-12")).toEqual({ ok: true, dialect: "2020-12" });
  expect(dialectOf(7, "draft-07").ok).toBe(false);
  expect(dialectOf("https://json-schema.org/draft-07/schema#x", "draft-07").ok).toBe(false);
});

Deno.test("compile: validator dialect follows $schema, else the default", () => {
  expect(mustCompile({ type: "object" }).dialect).toBe("draft-07");
  expect(mustCompile({ type: "object" }, D2020).dialect).toBe("2020-12");
  expect(
    mustCompile({ $schema: "https://json-schema.org/draft-07/schema", type: "object" }, D2020)
      .dialect,
  ).toBe("draft-07");
  expect(
    mustCompile({ $schema: "http://json-schema.org/draft/2019-09/schema#", type: "object" })
      .dialect,
  ).toBe("2019-09");
});

Deno.test("compile: prefixItems is honoured only in 2020-12", () => {
  const schema = { prefixItems: [{ type: "string" }] };
  expect(mustCompile(schema).validate([1])).toEqual({ ok: true });
  expect(errorsOf(mustCompile(schema, D2020), [1])).toEqual(["/0 must be string"]);
});

Deno.test("compile: dependentRequired is honoured in 2019-09 and 2020-12, not draft-07", () => {
  const schema = { dependentRequired: { a: ["b"] } };
  expect(mustCompile(schema).validate({ a: 1 })).toEqual({ ok: true });
  expect(mustCompile(schema, D2020).validate({ a: 1 }).ok).toBe(false);
  const d2019 = mustCompile({
    $schema: "https://json-schema.org/draft/2019-09/schema",
    ...schema,
  });
  expect(d2019.validate({ a: 1 }).ok).toBe(false);
  expect(d2019.validate({ a: 1, b: 2 })).toEqual({ ok: true });
});

Deno.test("compile: draft-04 and unknown $schema values are refused", () => {
  for (
    const uri of [
      "http://json-schema.org/draft-04/schema#",
      "http://json-schema.org/schema#",
      "https://evil.example/schema",
      42,
    ]
  ) {
    expect(compileSchema({ $schema: uri, type: "object" }, DRAFT_07)).toEqual({
      ok: false,
      error: "unsupported dialect",
    });
  }
});

Deno.test("compile: non-schemas and invalid schemas are refused", () => {
  for (const schema of [null, "x", 3, [], undefined]) {
    expect(compileSchema(schema, DRAFT_07).ok).toBe(false);
  }
  const bad = compileSchema({ type: "strin" }, DRAFT_07);
  expect(bad.ok).toBe(false);
  // 2020-12 forbids the draft-07 array form of `items`.
  expect(compileSchema({ items: [{ type: "string" }] }, D2020).ok).toBe(false);
  expect(compileSchema({ $async: true, type: "object" }, DRAFT_07).ok).toBe(false);
});

Deno.test("compile: boolean schemas", () => {
  expect(mustCompile(true).validate({ anything: 1 })).toEqual({ ok: true });
  expect(errorsOf(mustCompile(false), 1)).toEqual(["/ boolean schema is false"]);
});

Deno.test("compile: unknown keywords are tolerated, unknown formats fail closed", () => {
  expect(mustCompile({ type: "object", "x-vendor": { a: 1 } }, D2020).validate({})).toEqual({
    ok: true,
  });
  const result = compileSchema({ type: "string", format: "no-such-format" }, D2020);
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.error).toContain('unknown format "no-such-format"');
});

Deno.test("compile: date-time is checked (RFC 3339)", () => {
  for (const options of [DRAFT_07, D2020]) {
    const validator = mustCompile(EVENT, options);
    expect(validator.validate({ title: "a", start_time: "2024-05-01T09:30:00Z" })).toEqual({
      ok: true,
    });
    expect(validator.validate({ title: "a", start_time: "2024-05-01T09:30:00.5+02:00" }))
      .toEqual({ ok: true });
    expect(errorsOf(validator, { title: "a", start_time: "2024-13-45T99:00:00Z" })).toEqual([
      '/start_time must match format "date-time"',
    ]);
    expect(errorsOf(validator, { title: "a", start_time: "tomorrow" })).toEqual([
      '/start_time must match format "date-time"',
    ]);
  }
});

Deno.test("compile: messages name paths and keywords, never the offending values", () => {
  const secret = "sk-live-SECRET-0123456789";
  const schema = {
    type: "object",
    required: ["title"],
    additionalProperties: false,
    properties: {
      location: { type: "number" },
      kind: { enum: ["a", "b"] },
      code: { const: "x" },
      name: { type: "string", maxLength: 3, pattern: "^[a-z]+$" },
      nested: { type: "object", properties: { deep: { type: "integer" } } },
    },
  };
  const errors = errorsOf(mustCompile(schema), {
    location: secret,
    kind: secret,
    code: secret,
    name: secret,
    nested: { deep: secret },
    [`extra`]: secret,
  });
  expect(errors).toContain("/ must have required property 'title'");
  expect(errors).toContain("/location must be number");
  expect(errors).toContain("/kind must be equal to one of the allowed values");
  expect(errors).toContain("/nested/deep must be integer");
  expect(errors).toContain("/ must NOT have additional properties");
  for (const line of errors) expect(line).not.toContain("SECRET");
});

Deno.test("compile: more than 10 errors are truncated with a count", () => {
  const properties: Record<string, unknown> = {};
  const data: Record<string, unknown> = {};
  for (let i = 0; i < 14; i++) {
    properties[`p${i}`] = { type: "string" };
    data[`p${i}`] = i;
  }
  const errors = errorsOf(mustCompile({ type: "object", properties }), data);
  expect(errors.length).toBe(MAX_REPORTED_ERRORS + 1);
  expect(errors[0]).toBe("/p0 must be string");
  expect(errors[MAX_REPORTED_ERRORS]).toBe("… and 4 more");
});

Deno.test("compile: long or control-character paths are cleaned and capped", () => {
  const key = `k\n${"x".repeat(500)}`;
  const errors = errorsOf(mustCompile({ additionalProperties: { type: "number" } }), {
    [key]: "v",
  });
  expect(errors.length).toBe(1);
  expect(errors[0]).not.toContain("\n");
  expect(errors[0].length).toBeLessThan(200);
  expect(errors[0]).toMatch(/… must be number$/);
});

Deno.test("compile: the same $id (and nested $id) compiles twice, and refs do not grow", () => {
  const make = (type: string): Record<string, unknown> => ({
    $id: "https://example.test/event.json",
    type: "object",
    properties: {
      when: { $id: "https://example.test/when.json", type },
      again: { $ref: "https://example.test/when.json" },
      self: { $ref: "#" },
    },
  });
  const first = mustCompile(make("string"));
  const refsAfterFirst = engineStats("draft-07")?.refs;
  const second = mustCompile(make("number"));
  expect(engineStats("draft-07")?.refs).toBe(refsAfterFirst);
  expect(first.validate({ when: "x", again: "y", self: {} })).toEqual({ ok: true });
  expect(errorsOf(first, { again: 1 })).toEqual(["/again must be string"]);
  expect(second.validate({ when: 1, again: 2 })).toEqual({ ok: true });
  expect(errorsOf(second, { when: "x" })).toEqual(["/when must be number"]);
  // A schema without $id, with a nested $id, after one without: no "resolves to more than one".
  expect(
    compileSchema({ properties: { a: { $id: "https://example.test/a", type: "string" } } }, {
      defaultDialect: "draft-07",
    }).ok,
  ).toBe(true);
  expect(compileSchema({ type: "object" }, DRAFT_07).ok).toBe(true);
  expect(
    compileSchema({ properties: { a: { $id: "https://example.test/a", type: "number" } } }, {
      defaultDialect: "draft-07",
    }).ok,
  ).toBe(true);
});

Deno.test("compile: a hostile $id equal to a meta-schema's cannot break the engine", () => {
  const hostile = compileSchema(
    { $id: "http://json-schema.org/draft-07/schema", type: "object" },
    DRAFT_07,
  );
  expect(hostile.ok).toBe(false);
  expect(mustCompile(EVENT).validate({ title: "t", start_time: "2024-01-01T00:00:00Z" }))
    .toEqual({ ok: true });
});

Deno.test("compile: an unresolvable remote $ref is refused, not fetched", () => {
  const result: CompileResult = compileSchema(
    { $ref: "https://example.test/remote.json" },
    DRAFT_07,
  );
  expect(result.ok).toBe(false);
});

Deno.test("compile: the shared instance is replaced after its compile budget", () => {
  mustCompile({ type: "string" }, D2020);
  const before = engineStats("2020-12");
  if (before === undefined) throw new Error("engine expected");
  for (let i = before.compiles; i <= COMPILES_PER_INSTANCE; i++) {
    mustCompile({ type: "string", minLength: i }, D2020);
  }
  const after = engineStats("2020-12");
  expect(after?.generation).toBe(before.generation + 1);
  // Validators from the retired instance keep working.
  expect(mustCompile({ type: "string" }, D2020).validate("x")).toEqual({ ok: true });
});

Deno.test("compile: the caller's schema object is not mutated", () => {
  const schema = { $schema: "https://json-schema.org/draft-07/schema#", ...EVENT };
  const snapshot = JSON.stringify(schema);
  mustCompile(schema);
  expect(JSON.stringify(schema)).toBe(snapshot);
});

Deno.test("validate: data is not mutated and deep nesting does not throw", () => {
  const validator = mustCompile({
    $defs: { n: { items: { $ref: "#/$defs/n" } } },
    $ref: "#/$defs/n",
  }, D2020);
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const result = validator.validate(deep);
  expect(result.ok).toBe(false);
  const data = { title: "t" };
  mustCompile({ properties: { location: { default: "x" } } }).validate(data);
  expect(data).toEqual({ title: "t" });
});
