import { expect } from "expect";
import { createSseParser, type SseEvent } from "./sse.ts";

const encode = (text: string) => new TextEncoder().encode(text);

function parseAll(chunks: readonly string[], maxEventBytes = 1024): SseEvent[] {
  const parser = createSseParser({ maxEventBytes });
  return chunks.flatMap((chunk) => parser.push(encode(chunk)));
}

Deno.test("sse: joins data lines, keeps event type and id", () => {
  const events = parseAll(["event: note\nid: 7\ndata: a\ndata: b\n\ndata: c\n\n"]);
  expect(events).toEqual([
    { event: "note", data: "a\nb", id: "7", ownId: true },
    { event: "message", data: "c", id: "7", ownId: false },
  ]);
});

Deno.test("sse: comments are ignored and a field without colon has an empty value", () => {
  const events = parseAll([": keepalive\n\ndata\n\ndata:x\n\n"]);
  expect(events).toEqual([
    { event: "message", data: "", id: "", ownId: false },
    { event: "message", data: "x", id: "", ownId: false },
  ]);
});

Deno.test("sse: only one leading space is removed from a value", () => {
  expect(parseAll(["data:  two\n\n"])[0].data).toBe(" two");
});

Deno.test("sse: CRLF, CR and LF line endings all work", () => {
  const events = parseAll(["data: a\r\n\r\ndata: b\r\rdata: c\n\n"]);
  expect(events.map((event) => event.data)).toEqual(["a", "b", "c"]);
});

Deno.test("sse: a CRLF split across chunks is one line ending", () => {
  const events = parseAll(["data: a\r", "\ndata: b\r", "\n\r", "\n"]);
  expect(events).toEqual([{ event: "message", data: "a\nb", id: "", ownId: false }]);
});

Deno.test("sse: every chunk boundary gives the same events", () => {
  const text = 'id: 1\nretry: 40\r\nevent: m\ndata: {"x":"é€"}\n\n: c\ndata: 2\r\n\r\n';
  const bytes = encode(text);
  const whole = createSseParser({ maxEventBytes: 1024 }).push(bytes);
  expect(whole.length).toBe(2);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const parser = createSseParser({ maxEventBytes: 1024 });
    const events = [...parser.push(bytes.slice(0, cut)), ...parser.push(bytes.slice(cut))];
    expect(events).toEqual(whole);
    expect(parser.retryMs()).toBe(40);
  }
  for (let size = 1; size < 5; size++) {
    const parser = createSseParser({ maxEventBytes: 1024 });
    const events: SseEvent[] = [];
    for (let i = 0; i < bytes.length; i += size) {
      events.push(...parser.push(bytes.slice(i, i + size)));
    }
    expect(events).toEqual(whole);
  }
});

Deno.test("sse: a priming event with an id and empty data is dispatched and sets lastEventId", () => {
  const parser = createSseParser({ maxEventBytes: 1024 });
  expect(parser.lastEventId()).toBe("");
  const events = parser.push(encode("id: abc\nretry: 5\ndata: \n\n"));
  expect(events).toEqual([{ event: "message", data: "", id: "abc", ownId: true }]);
  expect(parser.lastEventId()).toBe("abc");
  expect(parser.retryMs()).toBe(5);
});

Deno.test("sse: an event without data is not dispatched but its id is kept", () => {
  const parser = createSseParser({ maxEventBytes: 1024 });
  expect(parser.push(encode("id: 9\nevent: x\n\ndata: y\n\n"))).toEqual([
    { event: "message", data: "y", id: "9", ownId: false },
  ]);
});

Deno.test("sse: invalid retry and ids with NUL are ignored; a BOM is stripped", () => {
  const parser = createSseParser({ maxEventBytes: 1024 });
  const events = parser.push(encode("\uFEFFdata: a\nid: x\0y\nretry: 1s\n\n"));
  expect(events).toEqual([{ event: "message", data: "a", id: "", ownId: false }]);
  expect(parser.retryMs()).toBe(undefined);
});

Deno.test("sse: an incomplete event at the end is not dispatched", () => {
  expect(parseAll(["data: a\n", "data: b"])).toEqual([]);
});

Deno.test("sse: an event larger than the limit throws, even when split into many lines", () => {
  expect(() => parseAll(["data: " + "x".repeat(200) + "\n\n"], 100)).toThrow(/exceeds 100 bytes/);
  expect(() => parseAll(["data: 1234567890\n".repeat(20)], 100)).toThrow(/exceeds 100 bytes/);
  expect(() => parseAll(["data: " + "x".repeat(60), "y".repeat(60)], 100)).toThrow(/exceeds/);
});

Deno.test("sse: events below the limit pass, and the limit applies per event", () => {
  const events = parseAll(
    ["data: " + "x".repeat(80) + "\n\n", "data: " + "y".repeat(80) + "\n\n"],
    100,
  );
  expect(events.length).toBe(2);
});
