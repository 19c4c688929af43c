import { expect } from "expect";
import {
  encodeRequestFactory,
  intendedTime,
  ResponseFramer,
  summariseOpenLoop,
} from "./open_loop_core.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("intended times are evenly spaced at the rate, whatever happened before", () => {
  expect(intendedTime(0, 1000)).toBe(0);
  expect(intendedTime(1, 1000)).toBe(1);
  expect(intendedTime(5000, 5000)).toBe(1000);
  expect(intendedTime(3, 200)).toBe(15);
});

Deno.test("requests are raw HTTP/1.1 with the template filled and an exact Content-Length", () => {
  const encode = encodeRequestFactory({
    url: "http://127.0.0.1:8080/mcp/toolcall?x=1",
    headers: { "Content-Type": "application/json", "Content-Length": "999", Host: "evil" },
    body: '{"id":{{id}},"s":"s-{{session}}"}',
    sessions: 10,
  });
  const text = decoder.decode(encode(23));
  const body = '{"id":23,"s":"s-3"}';
  expect(text).toBe(
    "POST /mcp/toolcall?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
});

Deno.test("the framer finds whole responses split anywhere, Content-Length or chunked", () => {
  const stream = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello" +
    "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n\r\n\r\n0\r\n\r\n" +
    "HTTP/1.1 204 No Content\r\n\r\n";
  const bytes = encoder.encode(stream);
  for (const cut of [1, 7, 40, 50, 70, 90, bytes.length - 1]) {
    const framer = new ResponseFramer();
    const statuses = [...framer.push(bytes.subarray(0, cut)), ...framer.push(bytes.subarray(cut))];
    expect(statuses).toEqual([200, 403, 204]);
    expect(framer.pending).toBe(0);
  }
  const byByte = new ResponseFramer();
  const statuses: number[] = [];
  for (const byte of bytes) statuses.push(...byByte.push(Uint8Array.of(byte)));
  expect(statuses).toEqual([200, 403, 204]);
});

Deno.test("the framer refuses what it cannot frame instead of miscounting", () => {
  expect(() => new ResponseFramer().push(encoder.encode("garbage\r\n\r\n"))).toThrow(
    /bad status line/,
  );
  expect(() => new ResponseFramer().push(encoder.encode("HTTP/1.1 200 OK\r\n\r\nbody"))).toThrow(
    /close-delimited/,
  );
});

Deno.test("the summary takes percentiles from the intended send time and counts the rest", () => {
  const latencies = Array.from({ length: 1000 }, (_, i) => i + 1);
  const summary = summariseOpenLoop({
    rate: 100,
    scheduled: 1002,
    latencies,
    seconds: 10,
    errors: 2,
    non2xx: 1,
  });
  expect(summary.p50Ms).toBe(500);
  expect(summary.p99Ms).toBe(990);
  expect(summary.p999Ms).toBe(999);
  expect(summary.maxMs).toBe(1000);
  expect(summary.achievedRps).toBe(100);
  expect(summary.errors).toBe(2);
  expect(summary.completed).toBe(1000);
});
