import { expect } from "expect";
import { VERSION } from "./version.ts";

Deno.test("VERSION is deno.json's version (one source of truth)", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  expect(VERSION).toBe(config.version);
  expect(VERSION).toMatch(/^\d+\.\d+\.\d+$/);
});
