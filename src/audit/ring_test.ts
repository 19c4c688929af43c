import { expect } from "expect";
import { createRing } from "./ring.ts";

Deno.test("ring keeps the newest items, oldest first", () => {
  const ring = createRing<number>(3);
  expect(ring.items()).toEqual([]);
  ring.push(1);
  ring.push(2);
  expect(ring.items()).toEqual([1, 2]);
  for (let i = 3; i <= 7; i++) ring.push(i);
  expect(ring.items()).toEqual([5, 6, 7]);
  expect(ring.size).toBe(3);
});

Deno.test("ring items() is a copy", () => {
  const ring = createRing<number>(2);
  ring.push(1);
  const items = ring.items();
  items.push(99);
  expect(ring.items()).toEqual([1]);
});
