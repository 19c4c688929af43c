// The audit ring keeps exactly the last N events, in order, whatever their sizes and however the
// byte buffer wraps and grows; chained lines read back byte for byte (a model-based property).
import { expect } from "expect";
import fc from "fast-check";
import { createLineRing, type UnchainedLine } from "./line_ring.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function text(item: UnchainedLine | Uint8Array | undefined): string | undefined {
  if (item === undefined) return undefined;
  return item instanceof Uint8Array ? `line:${decoder.decode(item)}` : `prefix:${item.prefix}`;
}

Deno.test("line ring: unchained prefixes, then chained bytes, the oldest pushed out", () => {
  const ring = createLineRing(3);
  for (const name of ["a", "b", "c", "d"]) ring.push({ prefix: name });
  ring.chained(0, encoder.encode("A")); // pushed out already: ignored
  ring.chained(1, encoder.encode("B"));
  const view = ring.view();
  expect([view.length, ring.size]).toEqual([3, 3]);
  expect([0, 1, 2, 3].map((i) => text(view.at(i)))).toEqual([
    "line:B",
    "prefix:c",
    "prefix:d",
    undefined,
  ]);
  // A view is a snapshot: later pushes do not show, and what they push out reads as gone.
  ring.push({ prefix: "e" });
  expect([view.length, text(view.at(0)), text(view.at(1))]).toEqual([3, undefined, "prefix:c"]);
});

Deno.test("line ring: lines far larger than the initial buffer make it grow, nothing lost", () => {
  const ring = createLineRing(2);
  const big = "x".repeat(10_000);
  ring.push({ prefix: "1" });
  ring.push({ prefix: "2" });
  ring.chained(0, encoder.encode(big + "1"));
  ring.chained(1, encoder.encode(big + "2"));
  expect(ring.bufferBytes).toBeGreaterThanOrEqual(20_002);
  const view = ring.view();
  expect([text(view.at(0)), text(view.at(1))]).toEqual([`line:${big}1`, `line:${big}2`]);
});

Deno.test("line ring: a line stored across the end of the buffer reads back whole", () => {
  const ring = createLineRing(2); // 2 KiB to start
  const lines = ["a", "b", "c"].map((c) => c.repeat(899) + "|");
  for (const [seq, line] of lines.entries()) {
    ring.push({ prefix: String(seq) });
    ring.chained(seq, encoder.encode(line));
  }
  expect(ring.bufferBytes).toBe(2048); // the third line wrapped instead of growing the buffer
  const view = ring.view();
  expect([text(view.at(0)), text(view.at(1))]).toEqual([`line:${lines[1]}`, `line:${lines[2]}`]);
});

Deno.test("line ring: any sequence of pushes and in-order chaining reads like a plain array", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("push" as const) }),
    fc.record({ kind: fc.constant("chain" as const), size: fc.integer({ min: 0, max: 200 }) }),
    fc.record({ kind: fc.constant("skip" as const) }), // a dropped event: never chained
    fc.record({ kind: fc.constant("view" as const) }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 64 }),
      fc.array(op, { maxLength: 200 }),
      (cap, bytesPerLine, ops) => {
        const ring = createLineRing(cap, bytesPerLine); // small buffers: wraps and growth often
        const model: string[] = []; // every event ever pushed, as the ring should show it
        let nextToChain = 0;
        for (const o of ops) {
          if (o.kind === "push") {
            const seq = ring.push({ prefix: `p${model.length}` });
            expect(seq).toBe(model.length);
            model.push(`prefix:p${seq}`);
          } else if (o.kind === "chain" || o.kind === "skip") {
            if (nextToChain >= model.length) continue;
            const seq = nextToChain++;
            if (o.kind === "skip") continue;
            // Varied sizes with a marker at both ends, so a torn or shifted read shows.
            const body = `<${seq}>${String.fromCharCode(97 + (seq % 26)).repeat(o.size)}</${seq}>`;
            ring.chained(seq, encoder.encode(body));
            model[seq] = `line:${body}`;
          } else {
            const view = ring.view();
            const expected = model.slice(Math.max(0, model.length - cap));
            expect(view.length).toBe(expected.length);
            for (let i = 0; i < view.length; i++) expect(text(view.at(i))).toBe(expected[i]);
          }
        }
        const view = ring.view();
        const expected = model.slice(Math.max(0, model.length - cap));
        expect(Array.from({ length: view.length }, (_, i) => text(view.at(i)))).toEqual(expected);
      },
    ),
    { numRuns: 300 },
  );
});
