import { expect } from "expect";
import { compileGlob } from "./glob.ts";

const TABLE: Array<[glob: string, value: string, matches: boolean]> = [
  ["", "", true],
  ["", "a", false],
  ["*", "", true],
  ["*", "anything.at.all", true],
  ["**", "x", true],
  ["?", "", false],
  ["?", "a", true],
  ["?", ".", true],
  ["?", "ab", false],
  ["??", "ab", true],
  ["gpt-4*", "gpt-4", true],
  ["gpt-4*", "gpt-4o-mini", true],
  ["gpt-4*", "gpt-3.5", false],
  ["gpt-4*", "GPT-4o", false],
  ["calendar.*", "calendar.create_event", true],
  ["calendar.*", "calendar.", true],
  ["calendar.*", "calendar", false],
  ["calendar.*", "calendarXcreate", false],
  ["calendar.*", "my.calendar.x", false],
  ["*.read", "files.deep.read", true],
  ["*.read", "files.reader", false],
  ["db.write*", "db.write_row", true],
  ["db.write*", "db.writ", false],
  ["db.write*", "xdb.write", false],
  ["a*b*c", "abc", true],
  ["a*b*c", "aXbYc", true],
  ["a*b*c", "acb", false],
  ["a*b*c", "abcbc", true],
  ["a*a", "a", false],
  ["a*a", "aa", true],
  ["ab*ba", "aba", false],
  ["*ab*", "xxaxabxx", true],
  ["a?c", "abc", true],
  ["a?c", "ac", false],
  ["*?b?*", "ab", false],
  ["*?b?*", "abc", true],
  ["*x?z*", "xxyxaz", true],
  ["a.b(c)+[", "a.b(c)+[", true],
  ["a.b(c)+[", "aXb(c)+[", false],
  ["a.b(c)+[", "a.b(cc)+[", false],
  ["^$|\\d+{2}", "^$|\\d+{2}", true],
  ["^$|\\d+{2}", "7", false],
  ["tool.v?", "tool.v1", true],
  ["Tool", "tool", false],
];

Deno.test("compileGlob: table", () => {
  for (const [glob, value, matches] of TABLE) {
    expect([glob, value, compileGlob(glob).test(value)]).toEqual([glob, value, matches]);
  }
});

Deno.test("compileGlob: keeps its source and is frozen", () => {
  const glob = compileGlob("search.*");
  expect(glob.source).toBe("search.*");
  expect(Object.isFrozen(glob)).toBe(true);
});

/** Straightforward dynamic-programming matcher used as an oracle. */
function reference(glob: string, value: string): boolean {
  let row = new Array<boolean>(value.length + 1).fill(false);
  row[0] = true;
  for (const g of glob) {
    const next = new Array<boolean>(value.length + 1).fill(false);
    if (g === "*") {
      let seen = false;
      for (let j = 0; j <= value.length; j++) {
        seen = seen || row[j];
        next[j] = seen;
      }
    } else {
      for (let j = 1; j <= value.length; j++) {
        next[j] = row[j - 1] && (g === "?" || g === value[j - 1]);
      }
    }
    row = next;
  }
  return row[value.length];
}

Deno.test("compileGlob: agrees with a reference matcher on generated cases", () => {
  let seed = 12345;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const pick = (alphabet: string, max: number): string => {
    let out = "";
    const length = random(max + 1);
    for (let i = 0; i < length; i++) out += alphabet[random(alphabet.length)];
    return out;
  };
  let disagreements = 0;
  let positives = 0;
  for (let i = 0; i < 5000; i++) {
    const glob = pick("ab.*?", 7);
    const value = pick("ab.", 9);
    const expected = reference(glob, value);
    if (expected) positives++;
    if (compileGlob(glob).test(value) !== expected) disagreements++;
  }
  expect(disagreements).toBe(0);
  expect(positives).toBeGreaterThan(100);
});

Deno.test("compileGlob: adversarial patterns stay linear-ish (no backtracking blow-up)", () => {
  const long = "a".repeat(200_000);
  expect(compileGlob("a*a*a*a*a*a*a*a*a*a*b").test(long)).toBe(false);
  expect(compileGlob("*a?a*a?a*b").test(long)).toBe(false);
  expect(compileGlob("a*a*a*a*a*a*a*a*a*a*a").test(long)).toBe(true);
  expect(compileGlob("*" + "a".repeat(50) + "*").test(long + "b")).toBe(true);
});
