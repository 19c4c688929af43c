import { expect } from "expect";
import { createIdleKeys } from "./idle_keys.ts";

Deno.test("idle keys expire in order of last use; a touch keeps a key alive", () => {
  const keys = createIdleKeys(100);
  keys.touch("a", 0);
  keys.touch("b", 10);
  keys.touch("a", 50);
  expect(keys.expire(109)).toEqual([]);
  expect(keys.expire(110)).toEqual(["b"]);
  expect(keys.size).toBe(1);
  expect(keys.expire(149)).toEqual([]);
  expect(keys.expire(150)).toEqual(["a"]);
  expect(keys.size).toBe(0);
});
