import { expect } from "expect";
import fc from "fast-check";
import { modelIdFromClientName } from "./client_model_id.ts";
import { compileGlob } from "../../../policy/glob.ts";

Deno.test("a client name becomes a glob-friendly model id", () => {
  expect(modelIdFromClientName("sdk-probe (via mcp-remote 0.15.1)")).toBe(
    "sdk-probe-via-mcp-remote-0.15.1",
  );
  expect(compileGlob("sdk-probe*").test(modelIdFromClientName("sdk-probe (via x)")!)).toBe(true);
  expect(modelIdFromClientName("claude-code")).toBe("claude-code");
  expect(modelIdFromClientName("Claude Desktop")).toBe("Claude-Desktop");
  expect(modelIdFromClientName("  *?()  ")).toBe(undefined);
  expect(modelIdFromClientName("é\u0000x")).toBe("x");
  expect(modelIdFromClientName(42)).toBe(undefined);
  expect(modelIdFromClientName("a".repeat(10_000))).toBe("a".repeat(256));
});

Deno.test("a normalised model id never holds a glob character, space or control character", () => {
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 600 }), (name) => {
    const id = modelIdFromClientName(name);
    if (id === undefined) return;
    expect(id.length).toBeGreaterThan(0);
    expect(id.length).toBeLessThanOrEqual(256);
    expect(/^[A-Za-z0-9._:/@+-]+$/.test(id)).toBe(true);
    expect(id.startsWith("-") || id.endsWith("-")).toBe(false);
  }));
});
