import { expect } from "expect";
import { concatBytes, decodeUtf8Strict } from "./bytes.ts";

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
