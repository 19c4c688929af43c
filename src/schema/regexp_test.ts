import { expect } from "expect";
import { compileSchema } from "./compile.ts";
import { LINEAR_ENGINE_FLAG, linearEngineAvailable, schemaRegExp } from "./regexp.ts";

const available = linearEngineAvailable();
if (!available) {
  console.log(
    `regexp tests skipped: V8's linear engine is off (run through \`deno task test\`, which passes ` +
      `--v8-flags=${LINEAR_ENGINE_FLAG})`,
  );
}

Deno.test({
  name: "schema patterns V8 can run in linear time are compiled for that engine",
  ignore: !available,
  fn() {
    const nested = schemaRegExp("^(a+)+$", "u");
    expect(nested.flags).toContain("l");
    expect(nested.test("aaaa")).toBe(true);
    // Exponential on a backtracking engine; immediate here.
    expect(nested.test(`${"a".repeat(5000)}b`)).toBe(false);
    expect(schemaRegExp("^([a-z]+\\.)*[a-z]+$", "u").test("mcp.sec.gateway")).toBe(true);
  },
});

Deno.test({
  name: "patterns the linear engine cannot run keep the usual engine and meaning",
  ignore: !available,
  fn() {
    const letters = schemaRegExp("^\\p{L}+$", "u");
    expect(letters.flags).toBe("u");
    expect(letters.test("héllo")).toBe(true);
    expect(schemaRegExp("^\\P{L}$", "u").flags).toBe("u");
    expect(schemaRegExp("^\\u{1F600}$", "u").test("😀")).toBe(true);
    expect(schemaRegExp("^😀+$", "u").flags).toBe("u");
    expect(schemaRegExp("(?<x>a)\\k<x>", "u").flags).toBe("u");
    expect(schemaRegExp("(a)\\1", "u").flags).toBe("u");
    expect(schemaRegExp("^(?=a)a$", "u").flags).toBe("u");
    // Patterns invalid with `u` stay refused, as ajv refuses them.
    expect(() => schemaRegExp("\\-", "u")).toThrow(SyntaxError);
  },
});

Deno.test({
  name: "a hostile upstream pattern cannot stall validation",
  ignore: !available,
  fn() {
    const compiled = compileSchema({
      type: "object",
      properties: { name: { type: "string", pattern: "^(a|aa)+$" } },
      patternProperties: { "^(x+)+y$": { type: "number" } },
    }, { defaultDialect: "2020-12" });
    if (!compiled.ok) throw new Error(compiled.error);
    const hostile = `${"a".repeat(10_000)}!`;
    const result = compiled.validator.validate({ name: hostile, [`${"x".repeat(10_000)}`]: 1 });
    expect(result.ok).toBe(false);
    expect(compiled.validator.validate({ name: "aaa" }).ok).toBe(true);
  },
});
