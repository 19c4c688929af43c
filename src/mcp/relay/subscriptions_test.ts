import { expect } from "expect";
import { createSubscriptionTable } from "./subscriptions.ts";

Deno.test("subscriptions: capped per session, idempotent, freed by forget", () => {
  const table = createSubscriptionTable({ maxPerSession: 2, isLive: () => true });
  expect(table.add("a", "x://1")).toBe("added");
  expect(table.add("a", "x://1")).toBe("held");
  expect(table.add("a", "x://2")).toBe("added");
  expect(table.add("a", "x://3")).toBe("full");
  expect(table.add("b", "x://1")).toBe("added");
  expect([...table.sessionsFor("x://1")].sort()).toEqual(["a", "b"]);
  expect(table.size).toBe(3);
  expect(table.remove("a", "x://2")).toBe(true);
  expect(table.remove("a", "x://2")).toBe(false);
  expect(table.add("a", "x://3")).toBe("added");
  expect(table.forget("a").sort()).toEqual(["x://1", "x://3"]);
  expect([...table.sessionsFor("x://1")]).toEqual(["b"]);
  expect([...table.sessionsFor("x://3")]).toEqual([]);
  expect(table.countOf("a")).toBe(0);
  expect(table.size).toBe(1);
});

Deno.test("subscriptions: sessions that ended unnoticed are purged once the table doubles", () => {
  const live = new Set<string>();
  const table = createSubscriptionTable({
    maxPerSession: 10,
    isLive: (key) => live.has(key),
    purgeFloor: 20,
  });
  for (let s = 0; s < 2; s++) {
    live.add(`s${s}`);
    for (let i = 0; i < 10; i++) table.add(`s${s}`, `x://${i}`);
  }
  expect(table.size).toBe(20);
  live.clear(); // both sessions end without anyone telling the table
  live.add("s2");
  table.add("s2", "x://0");
  expect(table.size).toBe(1);
  expect([...table.sessionsFor("x://0")]).toEqual(["s2"]);
  // a table of live sessions only grows to its cap per session: never purged away
  for (let s = 3; s < 10; s++) {
    live.add(`s${s}`);
    for (let i = 0; i < 10; i++) table.add(`s${s}`, `x://${i}`);
  }
  expect(table.size).toBe(71);
});
