import { expect } from "expect";
import fc from "fast-check";
import { byteString, concatBytes, decodeUtf8Strict } from "./bytes.ts";

const encode = (text: string) => new TextEncoder().encode(text);

Deno.test("decodeUtf8Strict: valid UTF-8 decodes like a fatal decoder, BOM dropped", () => {
  for (const text of ["", '{"a":"é 漢字 😀"}', "\uFEFF{}", "legit \uFFFD replacement char"]) {
    const bytes = encode(text);
    expect(decodeUtf8Strict(bytes)).toBe(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  }
  expect(decodeUtf8Strict(encode("\uFEFF{}"))).toBe("{}");
});

Deno.test("decodeUtf8Strict: invalid UTF-8 throws instead of being replaced", () => {
  const cases = [
    [0x7b, 0xff, 0x7d], // a byte that never occurs in UTF-8
    [0xc3], // truncated sequence
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xe2, 0x82, 0xac, 0xef, 0xbf, 0xbd, 0x80], // a real U+FFFD, then a stray continuation byte
  ];
  for (const bytes of cases) {
    expect(() => decodeUtf8Strict(new Uint8Array(bytes))).toThrow(TypeError);
  }
});

Deno.test("concatBytes: joins parts, returns a lone part as is", () => {
  const one = new Uint8Array([1, 2]);
  expect(concatBytes([one])).toBe(one);
  expect([...concatBytes([one, new Uint8Array([3])])]).toEqual([1, 2, 3]);
  expect(concatBytes([], 0).length).toBe(0);
});

Deno.test("byteString: each byte its own code point, for any bytes and any span (also past a chunk)", () => {
  const expected = (bytes: Uint8Array, start: number, end: number) =>
    Array.from(bytes.subarray(start, end), (byte) => String.fromCharCode(byte)).join("");
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 9000 }),
      fc.nat(),
      fc.nat(),
      (bytes, a, b) => {
        const start = a % (bytes.length + 1);
        const end = start + b % (bytes.length - start + 1);
        expect(byteString(bytes, start, end)).toBe(expected(bytes, start, end));
      },
    ),
    { numRuns: 200 },
  );
  // 0x80–0x9F stay themselves (a windows-1252 decoder, what "latin1" means to TextDecoder, maps
  // them to other characters, which Headers would refuse).
  expect(byteString(new Uint8Array([0x80, 0x9f, 0xff]), 0, 3)).toBe("\x80\x9f\xff");
});
