import { expect } from "expect";
import { drainUnreadBody } from "./body_deadline.ts";

/** A POST whose body the test feeds chunk by chunk, and whether its reader cancelled it. */
function feedRequest(): {
  request: Request;
  push(bytes: number): void;
  end(): void;
  cancelled: () => boolean;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      cancelled = true;
    },
  });
  const request = new Request("http://127.0.0.1/mcp/toolcall", { method: "POST", body });
  return {
    request,
    push: (bytes) => controller.enqueue(new Uint8Array(bytes)),
    end: () => controller.close(),
    cancelled: () => cancelled,
  };
}

Deno.test("an unread body is read to its end before the answer may go (HTTP/2 resets otherwise)", async () => {
  const chunks = [40, 40];
  let delivered = 0;
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) {
        closed = true;
        controller.close();
        return;
      }
      delivered += next;
      controller.enqueue(new Uint8Array(next));
    },
  }, { highWaterMark: 0 });
  const request = new Request("http://127.0.0.1/mcp/toolcall", { method: "POST", body });
  expect(await drainUnreadBody(request, { limit: 100 })).toBe(true);
  expect({ delivered, closed, used: request.bodyUsed }).toEqual({
    delivered: 80,
    closed: true,
    used: true,
  });
});

Deno.test("an unread body past the limit is cancelled, not read on", async () => {
  const feed = feedRequest();
  const draining = drainUnreadBody(feed.request, { limit: 100 });
  feed.push(60);
  feed.push(60);
  expect(await draining).toBe(false);
  expect(feed.cancelled()).toBe(true);
});

Deno.test("a declared length past the limit is not read at all", async () => {
  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull() {
      pulled = true;
    },
  });
  const request = new Request("http://127.0.0.1/x", {
    method: "POST",
    body,
    headers: { "content-length": "101" },
  });
  pulled = false; // the constructor may pull once to start the stream
  expect(await drainUnreadBody(request, { limit: 100 })).toBe(false);
  expect(pulled).toBe(false);
});

Deno.test("a body already read, or none, is left alone", async () => {
  const read = new Request("http://127.0.0.1/x", { method: "POST", body: "{}" });
  await read.text();
  expect(await drainUnreadBody(read, { limit: 100 })).toBe(true);
  expect(await drainUnreadBody(new Request("http://127.0.0.1/x"), { limit: 100 })).toBe(true);
});

Deno.test("a body that fails mid-way (client gone, deadline) reports not whole, without a throw", async () => {
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new Error("connection reset"));
    },
  });
  const request = new Request("http://127.0.0.1/x", { method: "POST", body });
  expect(await drainUnreadBody(request, { limit: 100 })).toBe(false);
});

Deno.test("a body still trickling at its deadline is cut off: not whole, the reader cancelled", async () => {
  const feed = feedRequest();
  let timeout: (() => void) | undefined;
  const draining = drainUnreadBody(feed.request, {
    limit: 100,
    watch: { wait: (onTimeout) => void (timeout = onTimeout), done: () => {} },
  });
  feed.push(10);
  expect(timeout).toBeDefined();
  timeout!();
  expect(await draining).toBe(false);
  expect(feed.cancelled()).toBe(true);
});

Deno.test("a body read whole within its deadline tells the watch it is done", async () => {
  const feed = feedRequest();
  let done = 0;
  const draining = drainUnreadBody(feed.request, {
    limit: 100,
    watch: { wait: () => {}, done: () => void done++ },
  });
  feed.push(10);
  feed.end();
  expect(await draining).toBe(true);
  expect(done).toBe(1);
});
