import { expect } from "expect";
import { prefersEventStream } from "./rpc_http.ts";

Deno.test("Accept: SSE only when the client prefers it (q first, then its own order)", () => {
  expect(prefersEventStream("application/json, text/event-stream")).toBe(false);
  expect(prefersEventStream("text/event-stream, application/json")).toBe(true);
  expect(prefersEventStream("Text/Event-Stream;charset=utf-8 , application/json")).toBe(true);
  expect(prefersEventStream("application/json;q=0.5, text/event-stream")).toBe(true);
  expect(prefersEventStream("text/event-stream;q=0.4, application/json")).toBe(false);
  expect(prefersEventStream("text/event-stream;q=0, application/json")).toBe(false);
  expect(prefersEventStream("text/event-stream;q=banana, application/json")).toBe(false);
  expect(prefersEventStream("text/event-stream")).toBe(true);
  expect(prefersEventStream("")).toBe(false);
  expect(prefersEventStream("*/*")).toBe(false);
});
