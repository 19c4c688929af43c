// The queue of chained lines hands out every byte once, in chain order, whatever the writes
// take (short writes cutting lines anywhere, segments capped), and reports each line written
// whole exactly once with the right head (a model-based property).
import { expect } from "expect";
import fc from "fast-check";
import type { ChainedBatch } from "../chain/chain_batch.ts";
import { ChainedRuns, type WrittenLines } from "./chained_runs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A batch of the given lines (each gets its "\n"), hashed as "h:<line>". */
function batchOf(lines: readonly string[]): ChainedBatch {
  const bytes = encoder.encode(lines.map((line) => `${line}\n`).join(""));
  const ends = new Uint32Array(lines.length);
  let at = 0;
  lines.forEach((line, i) => {
    at += encoder.encode(line).length + 1;
    ends[i] = at;
  });
  return { bytes, ends, hashes: lines.map((line) => `h:${line}`) };
}

Deno.test("chained runs: a short write leaves the queue mid-line; the rest completes it", () => {
  const runs = new ChainedRuns();
  runs.add(batchOf(["one", "two"]));
  expect([runs.isEmpty, runs.lines, runs.midLine, runs.nextLineBytes()]).toEqual([
    false,
    2,
    false,
    4,
  ]);
  expect(decoder.decode(runs.segment(() => true))).toBe("one\ntwo\n");
  expect(runs.advance(2)).toBe(null); // "on" written
  expect([runs.midLine, runs.nextLineBytes(), runs.lines]).toEqual([true, 2, 2]);
  expect(decoder.decode(runs.segment(() => false))).toBe("e\n"); // at least the line's rest
  const done = runs.advance(2) as WrittenLines;
  expect([decoder.decode(done.bytes), done.count, done.head]).toEqual(["one\n", 1, "h:one"]);
  expect([runs.midLine, runs.lines]).toEqual([false, 1]);
});

Deno.test("chained runs: a file replaced mid-line has the line written whole again", () => {
  const runs = new ChainedRuns();
  runs.add(batchOf(["first"]));
  runs.segment(() => true);
  runs.advance(3);
  runs.restartLine();
  expect([runs.midLine, decoder.decode(runs.segment(() => true))]).toEqual([false, "first\n"]);
  const done = runs.advance(6) as WrittenLines;
  expect([done.count, runs.isEmpty, runs.lines]).toEqual([1, true, 0]);
});

Deno.test("chained runs: every byte once, in order, every line reported once (property)", () => {
  const line = fc.string({ unit: "grapheme", minLength: 0, maxLength: 12 })
    .filter((text) => !text.includes("\n"));
  fc.assert(
    fc.property(
      fc.array(fc.array(line, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 20 }),
      fc.nat({ max: 30 }),
      (batches, writeSizes, cap) => {
        const runs = new ChainedRuns();
        for (const batch of batches) runs.add(batchOf(batch));
        const all = batches.flat();
        const stream = new TextDecoder(); // the written bytes, cut anywhere
        let out = "";
        const reported: string[] = [];
        let head = "";
        for (let step = 0; !runs.isEmpty; step++) {
          expect(step).toBeLessThan(10_000); // a queue that stops advancing fails, not hangs
          const segment = runs.segment((bytes) => bytes <= cap);
          expect(segment.length).toBeGreaterThan(0);
          expect(segment.length).toBeLessThanOrEqual(Math.max(cap, runs.nextLineBytes()));
          // A short write of any size (at least one byte, so that the loop ends).
          const written = Math.max(
            1,
            Math.min(segment.length, writeSizes[step % writeSizes.length]),
          );
          out += stream.decode(segment.subarray(0, written), { stream: true });
          const done = runs.advance(written);
          if (done !== null) {
            reported.push(decoder.decode(done.bytes));
            head = done.head;
          }
          expect(runs.lines).toBe(all.length - reported.join("").split("\n").length + 1);
        }
        const expected = all.map((text) => `${text}\n`).join("");
        expect(out + stream.decode()).toBe(expected);
        expect(reported.join("")).toBe(expected);
        expect(head).toBe(`h:${all.at(-1)}`);
      },
    ),
  );
});
