import { expect } from "expect";
import { apiSessionKey, createIdleKeys } from "./idle_keys.ts";

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
  expect(keys.owners()).toEqual([]);
});

Deno.test("an owner past its quota gives back its own least recently used key, never another's", () => {
  const keys = createIdleKeys(10_000, { maxPerOwner: 3 });
  expect(keys.touch("b1", 0, "b")).toBeUndefined();
  for (let i = 1; i <= 3; i++) expect(keys.touch(`a${i}`, i, "a")).toBeUndefined();
  keys.touch("a1", 4, "a"); // a2 is now a's least recently used
  expect(keys.touch("a4", 5, "a")).toBe("a2");
  for (let i = 5; i < 50; i++) {
    const evicted = keys.touch(`a${i}`, i + 1, "a");
    expect(evicted?.startsWith("a")).toBe(true);
  }
  expect(keys.countFor("a")).toBe(3);
  expect(keys.countFor("b")).toBe(1);
  expect(keys.size).toBe(4);
  expect(keys.expire(10_001)).toEqual(["b1"]);
});

Deno.test("the open pool has its own (larger) bound; dropOwner hands back every key of an owner", () => {
  const keys = createIdleKeys(10_000, { maxPerOwner: 1, maxOpenPool: 2 });
  expect(keys.touch("o1", 0)).toBeUndefined();
  expect(keys.touch("o2", 0)).toBeUndefined();
  expect(keys.touch("o3", 0)).toBe("o1");
  keys.touch("x", 0, "x");
  expect(keys.dropOwner(null).sort()).toEqual(["o2", "o3"]);
  expect(keys.dropOwner(null)).toEqual([]);
  expect(keys.owners()).toEqual(["x"]);
  expect(keys.size).toBe(1);
});

Deno.test("API session keys are unambiguous whatever the agent id contains", () => {
  expect(apiSessionKey("planner", "s1")).toBe("api:planner:s1");
  expect(apiSessionKey(null, "s1")).toBe("api::s1");
  expect(apiSessionKey("a", "b:c")).not.toBe(apiSessionKey("a:b", "c"));
  // (agent ids are never empty, so "" stands for open identity mode)
});
