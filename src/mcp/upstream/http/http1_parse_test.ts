import { expect } from "expect";
import {
  createChunkedDecoder,
  findHeadEnd,
  MAX_HEADER_LINES,
  parseResponseHead,
} from "./http1_parse.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const head = (text: string, method = "POST") => parseResponseHead(bytes(text), method);

Deno.test("http1 parse: finds the end of a head, also when it starts before `from`", () => {
  const text = bytes("HTTP/1.1 200 OK\r\na: b\r\n\r\nbody");
  expect(findHeadEnd(text)).toBe(text.length - 4);
  expect(findHeadEnd(text, 20)).toBe(text.length - 4);
  expect(findHeadEnd(bytes("HTTP/1.1 200 OK\r\na: b\r\n\r"))).toBe(-1);
});

Deno.test("http1 parse: status, headers and framing", () => {
  const parsed = head(
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n",
  );
  expect(parsed.status).toBe(200);
  expect(parsed.headers).toEqual([["content-type", "application/json"], ["content-length", "12"]]);
  expect(parsed.framing).toEqual({ kind: "length", length: 12 });
  expect(parsed.reusable).toBe(true);
  expect(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing.kind).toBe(
    "chunked",
  );
  const toClose = head("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
  expect(toClose.framing.kind).toBe("close");
  expect(toClose.reusable).toBe(false);
  expect(head("HTTP/1.1 204 No Content\r\n\r\n").framing.kind).toBe("none");
  expect(head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").framing.kind).toBe("none");
  expect(head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD").framing.kind).toBe("none");
  // Optional whitespace (spaces, tabs) around a value is dropped; anything else is kept.
  expect(head("HTTP/1.1 200 OK\r\nX-A: \t v a \t\r\nX-B:\r\n\r\n").headers).toEqual([
    ["x-a", "v a"],
    ["x-b", ""],
  ]);
  const nbsp = new Uint8Array([
    ...bytes("HTTP/1.1 200 OK\r\nX-C:"),
    0xa0,
    0x77,
    0xa0,
    13,
    10,
    13,
    10,
  ]);
  expect(parseResponseHead(nbsp, "GET").headers).toEqual([["x-c", "\xa0w\xa0"]]);
  expect(head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").framing).toEqual({
    kind: "length",
    length: 5,
  });
});

Deno.test("http1 parse: keep-alive follows the version and Connection", () => {
  expect(head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n").reusable)
    .toBe(false);
  expect(head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").reusable).toBe(false);
  expect(head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n").reusable)
    .toBe(true);
});

Deno.test("http1 parse: ambiguous or malformed heads are refused", () => {
  const refused = (text: string, why: string) => expect(() => head(text)).toThrow(why);
  refused("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both");
  refused("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "Content-Length");
  refused("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length");
  refused("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "Content-Length");
  refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding");
  refused("HTTP/2 200 OK\r\n\r\n", "status line");
  refused("HTTP/1.1 20 OK\r\n\r\n", "status line");
  refused("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "header line");
  refused("HTTP/1.1 200 OK\r\n folded: value\r\n\r\n", "header name");
  refused("HTTP/1.1 200 OK\r\nbad name: v\r\n\r\n", "header name");
  refused(`HTTP/1.1 200 OK\r\n${"a: b\r\n".repeat(MAX_HEADER_LINES + 1)}\r\n`, "too many");
});

Deno.test("http1 parse: chunked bodies decode across any split, trailers dropped", () => {
  const wire = bytes('4;ext=1\r\n{"a"\r\nB\r\n:"0123456"}\r\n0\r\nX-Trailer: t\r\n\r\nNEXT');
  for (let split = 0; split <= wire.length; split++) {
    const decoder = createChunkedDecoder();
    const out: number[] = [];
    let used = 0;
    for (const part of [wire.subarray(0, split), wire.subarray(split)]) {
      if (decoder.done) break;
      const result = decoder.push(part);
      for (const piece of result.data) out.push(...piece);
      used += result.used;
    }
    expect(decoder.done).toBe(true);
    expect(new TextDecoder().decode(new Uint8Array(out))).toBe('{"a":"0123456"}');
    expect(used).toBe(wire.length - 4);
  }
});

Deno.test("http1 parse: malformed chunked framing throws", () => {
  const fails = (text: string, why: string) =>
    expect(() => createChunkedDecoder().push(bytes(text))).toThrow(why);
  fails("zz\r\n", "chunk size");
  fails("\r\n", "chunk size");
  fails("1234567890abc\r\n", "chunk size");
  fails("2\r\nabX\r\n", "CRLF after chunk data");
  fails("2\nab", "bare LF");
  fails(`${"1".repeat(5000)}`, "too long");
});

Deno.test("http1 parse: header values keep bytes 0x80–0xFF as themselves (byte strings, as Headers holds them)", () => {
  const raw = new Uint8Array([
    ...bytes("HTTP/1.1 200 OK\r\nx-odd: a"),
    0x80,
    0x9f,
    0xe9,
    ...bytes("\r\nContent-Length: 0\r\n\r\n"),
  ]);
  const parsed = parseResponseHead(raw, "POST");
  expect(parsed.headers[0]).toEqual(["x-odd", "a\x80\x9f\xe9"]);
  expect(new Headers(parsed.headers.map(([n, v]) => [n, v])).get("x-odd")).toBe("a\x80\x9f\xe9");
});
