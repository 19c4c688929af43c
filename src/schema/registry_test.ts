import { expect } from "expect";
import {
  buildSchemaRegistry,
  canonicalJson,
  createUpstreamSchemaCache,
  type SchemaFile,
  schemaTarget,
} from "./registry.ts";

const EVENT = JSON.stringify({
  type: "object",
  required: ["title", "start_time"],
  properties: {
    title: { type: "string" },
    start_time: { type: "string", format: "date-time" },
  },
});
const OUTPUT = JSON.stringify({ type: "object", required: ["id"] });

Deno.test("schemaTarget: <tool>.json is input, <tool>.output.json is output", () => {
  expect(schemaTarget("calendar.create_event.json")).toEqual({
    ok: true,
    tool: "calendar.create_event",
    kind: "input",
  });
  expect(schemaTarget("calendar.create_event.output.json")).toEqual({
    ok: true,
    tool: "calendar.create_event",
    kind: "output",
  });
  expect(schemaTarget("x.output.output.json").ok).toBe(false);
  expect(schemaTarget(".json").ok).toBe(false);
  expect(schemaTarget(".output.json").ok).toBe(false);
  expect(schemaTarget("a b.json").ok).toBe(false);
  expect(schemaTarget("../etc.json").ok).toBe(false);
  expect(schemaTarget("tool.yaml")).toEqual({ ok: false, error: "not a .json file" });
  expect(schemaTarget(`${"a".repeat(129)}.json`).ok).toBe(false);
  expect(schemaTarget(`${"a".repeat(128)}.output.json`).ok).toBe(true);
});

Deno.test("registry: input and output schemas are mapped by tool", () => {
  const { registry, errors } = buildSchemaRegistry([
    { fileName: "calendar.create_event.json", text: EVENT },
    { fileName: "calendar.create_event.output.json", text: OUTPUT },
    { fileName: "mail.send.output.json", text: OUTPUT },
  ]);
  expect(errors).toEqual([]);
  expect(registry.inputTools).toEqual(["calendar.create_event"]);
  expect(registry.outputTools).toEqual(["calendar.create_event", "mail.send"]);
  const input = registry.input("calendar.create_event");
  expect(input?.dialect).toBe("draft-07");
  expect(input?.validate({ title: "t", start_time: "2024-01-01T10:00:00Z" })).toEqual({
    ok: true,
  });
  expect(input?.validate({ title: "t", start_time: "2024-13-45T99:00:00Z" })).toEqual({
    ok: false,
    errors: ['/start_time must match format "date-time"'],
  });
  expect(registry.output("calendar.create_event")?.validate({})).toEqual({
    ok: false,
    errors: ["/ must have required property 'id'"],
  });
  expect(registry.input("mail.send")).toBeUndefined();
  expect(registry.output("mail.send")).toBeDefined();
  expect(registry.output("unknown.tool")).toBeUndefined();
});

Deno.test("registry: invalid tool names return undefined without lookup", () => {
  const { registry } = buildSchemaRegistry([{ fileName: "a.json", text: "{}" }]);
  for (const name of ["", "a/../a", "a.output", "__proto__ x", "x".repeat(129), "constructor!"]) {
    expect(registry.input(name)).toBeUndefined();
    expect(registry.output(name)).toBeUndefined();
  }
  expect(registry.input("constructor")).toBeUndefined();
  expect(registry.input("a")).toBeDefined();
  // The output schema of tool `a` is not the input schema of a tool named `a.output`.
  expect(registry.input("a.output")).toBeUndefined();
});

Deno.test("registry: every problem is reported at once; good files still load", () => {
  const files: SchemaFile[] = [
    { fileName: "good.json", text: EVENT },
    { fileName: "bad json.json", text: EVENT },
    { fileName: "notes.txt", text: "hello" },
    { fileName: "broken.json", text: "{ not json" },
    { fileName: "draft4.json", text: '{"$schema":"http://json-schema.org/draft-04/schema#"}' },
    { fileName: "typo.json", text: '{"type":"strin"}' },
    { fileName: "fmt.output.json", text: '{"type":"string","format":"nope"}' },
    { fileName: "x.output.output.json", text: "{}" },
  ];
  const { registry, errors } = buildSchemaRegistry(files);
  expect(registry.inputTools).toEqual(["good"]);
  expect(registry.outputTools).toEqual([]);
  expect(errors.length).toBe(7);
  expect(errors[0]).toBe('Cannot load schema "bad json.json": invalid tool name');
  expect(errors[1]).toBe('Cannot load schema "notes.txt": not a .json file');
  expect(errors[2]).toMatch(/^Cannot load schema "broken\.json": invalid JSON \(/);
  expect(errors[3]).toBe('Cannot load schema "draft4.json": unsupported dialect');
  expect(errors[4]).toMatch(/^Cannot load schema "typo\.json": schema is invalid/);
  expect(errors[5]).toContain('Cannot load schema "fmt.output.json": unknown format "nope"');
  expect(errors[6]).toBe('Cannot load schema "x.output.output.json": invalid tool name');
});

Deno.test("registry: hostile file names are quoted and capped; duplicates keep the first", () => {
  const { registry, errors } = buildSchemaRegistry([
    { fileName: `evil"\n${"z".repeat(400)}.json`, text: "{}" },
    { fileName: "t.json", text: '{"type":"string"}' },
    { fileName: "t.json", text: '{"type":"number"}' },
  ]);
  expect(errors.length).toBe(2);
  expect(errors[0]).not.toContain("\n");
  expect(errors[0].length).toBeLessThan(260);
  expect(errors[1]).toBe('Cannot load schema "t.json": duplicate input schema for tool "t"');
  expect(registry.input("t")?.validate("s")).toEqual({ ok: true });
});

Deno.test("registry: a leading BOM is tolerated; $schema picks the dialect", () => {
  const { registry, errors } = buildSchemaRegistry([
    {
      fileName: "tuple.json",
      text: `\uFEFF{"$schema":"https://json-schema.org/draft/2020-12/schema",` +
        `"prefixItems":[{"type":"string"}]}`,
    },
  ]);
  expect(errors).toEqual([]);
  expect(registry.input("tuple")?.dialect).toBe("2020-12");
  expect(registry.input("tuple")?.validate([1]).ok).toBe(false);
});

Deno.test("canonicalJson: key order does not matter; non-JSON values are refused", () => {
  expect(canonicalJson({ b: [1, { d: null, c: "x" }], a: true })).toBe(
    '{"a":true,"b":[1,{"c":"x","d":null}]}',
  );
  expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  expect(() => canonicalJson({ a: NaN })).toThrow();
  expect(() => canonicalJson({ a: new Date(0) })).toThrow();
  expect(() => canonicalJson({ a: () => 1 })).toThrow();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  expect(() => canonicalJson(cyclic)).toThrow();
});

Deno.test("upstream cache: the same definition compiles once (2020-12 by default)", () => {
  const cache = createUpstreamSchemaCache();
  const schema = { type: "object", properties: { a: { type: "string" } } };
  const first = cache.get(schema);
  const second = cache.get(schema);
  const reordered = cache.get({ properties: { a: { type: "string" } }, type: "object" });
  if (!first.ok || !second.ok || !reordered.ok) throw new Error("expected to compile");
  expect(second.validator).toBe(first.validator);
  expect(reordered.validator).toBe(first.validator);
  expect(first.validator.dialect).toBe("2020-12");
  expect(cache.size).toBe(1);
  const other = cache.get({ type: "object", properties: { a: { type: "number" } } });
  if (!other.ok) throw new Error("expected to compile");
  expect(other.validator).not.toBe(first.validator);
  expect(cache.size).toBe(2);
});

Deno.test("upstream cache: refusals are cached too and fail closed", () => {
  const cache = createUpstreamSchemaCache();
  const draft4 = { $schema: "http://json-schema.org/draft-04/schema#", type: "object" };
  expect(cache.get(draft4)).toEqual({ ok: false, error: "unsupported dialect" });
  expect(cache.get(draft4)).toEqual({ ok: false, error: "unsupported dialect" });
  expect(cache.size).toBe(1);
  const cyclic: Record<string, unknown> = { type: "object" };
  cyclic.self = cyclic;
  expect(cache.get(cyclic).ok).toBe(false);
  expect(cache.get({ type: "string", format: "mystery" }).ok).toBe(false);
});

Deno.test("upstream cache: bounded, least recently used dropped first", () => {
  const cache = createUpstreamSchemaCache({ maxEntries: 2 });
  const a = cache.get({ minLength: 1 });
  const b = cache.get({ minLength: 2 });
  cache.get({ minLength: 1 }); // refresh a
  cache.get({ minLength: 3 }); // evicts b, the least recently used
  expect(cache.size).toBe(2);
  const aAgain = cache.get({ minLength: 1 });
  const bAgain = cache.get({ minLength: 2 });
  if (!a.ok || !b.ok || !aAgain.ok || !bAgain.ok) throw new Error("expected to compile");
  expect(aAgain.validator).toBe(a.validator);
  expect(bAgain.validator).not.toBe(b.validator);
  expect(cache.size).toBe(2);
});
