import { expect } from "expect";
import { createStreamHub } from "./streams.ts";

const message = (n: number) => ({
  jsonrpc: "2.0" as const,
  method: "notifications/message",
  params: { n },
});

Deno.test("a stream primes, numbers its events per session and replays after Last-Event-ID", async () => {
  const hub = createStreamHub({ priming: true });
  const first = hub.create();
  const second = hub.create();
  expect(first.id).not.toBe(second.id);
  first.send(message(1));
  first.send(message(2));
  first.end();
  const all = await first.response().text();
  expect(all).toMatch(new RegExp(`^id: ${first.id}\\.0\\nretry: \\d+\\ndata: \\n\\n`));
  expect(all).toContain(`id: ${first.id}.1\nevent: message\ndata: {"jsonrpc":"2.0"`);
  expect(all).toContain(`id: ${first.id}.2\n`);
  const resumed = await hub.resume(`${first.id}.1`)!.text();
  expect(resumed).not.toContain(`id: ${first.id}.1\nevent`);
  expect(resumed).toContain(`id: ${first.id}.2\nevent`);
  expect(hub.resume("s999.1")).toBeUndefined();
  expect(hub.resume("garbage")).toBeUndefined();
  hub.close();
});

Deno.test("without priming (older protocol) the stream starts with the first event", async () => {
  const hub = createStreamHub({ priming: false });
  const stream = hub.create();
  stream.send(message(1));
  stream.end();
  expect(await stream.response().text()).toMatch(/^id: s\d+\.1\n/);
  hub.close();
});

Deno.test("one standalone GET stream at a time; messages wait for it", async () => {
  const hub = createStreamHub({ priming: false });
  expect(hub.sendStandalone(message(0))).toBe(false);
  const response = hub.openStandalone()!;
  expect(hub.openStandalone()).toBeUndefined();
  expect(hub.sendStandalone(message(1))).toBe(true);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  expect(value).toContain('"n":1');
  await reader.cancel();
  // after the client went away, a new GET may open and messages are buffered for it
  expect(hub.sendStandalone(message(2))).toBe(true);
  const again = hub.openStandalone();
  expect(again).toBeDefined();
  await again!.body?.cancel();
  hub.close();
});

Deno.test("buffers are bounded: old finished streams are forgotten first", () => {
  const hub = createStreamHub({ priming: false });
  const big = { jsonrpc: "2.0" as const, method: "x", params: { blob: "x".repeat(1024 * 1024) } };
  const finished = hub.create();
  finished.send(big);
  finished.end();
  const running = hub.create();
  for (let i = 0; i < 3; i++) running.send(big);
  expect(hub.resume(`${finished.id}.0`)).toBeUndefined();
  const kept = hub.resume(`${running.id}.2`);
  expect(kept).toBeDefined();
  void kept!.body?.cancel();
  hub.close();
});

Deno.test("a paused stream closes the client's connection with the retry, keeps what follows, and resumes", async () => {
  const hub = createStreamHub({ priming: true });
  const stream = hub.create();
  const reading = stream.response();
  stream.send(message(1));
  stream.pause(250);
  const first = await reading.text();
  expect(first).toMatch(/^id: s\d+\.0\nretry: \d+\ndata: \n\n/);
  expect(first).toContain(`id: ${stream.id}.1\n`);
  expect(first.endsWith("retry: 250\n\n")).toBe(true);
  expect(stream.ended).toBe(false);
  stream.send(message(2)); // nobody reading: kept
  const resumed = hub.resume(`${stream.id}.1`)!;
  stream.send(message(3));
  stream.end();
  const rest = await resumed.text();
  expect(rest).not.toContain(`id: ${stream.id}.1\nevent`);
  expect(rest.indexOf(`id: ${stream.id}.2\n`)).toBeGreaterThan(0);
  expect(rest.indexOf(`id: ${stream.id}.3\n`)).toBeGreaterThan(rest.indexOf(`.2\n`));
  hub.close();
});

Deno.test("a pause before anyone reads closes the answer right after the priming event; retry is bounded", async () => {
  const hub = createStreamHub({ priming: true });
  const stream = hub.create();
  stream.pause(10_000_000);
  expect(await stream.response().text()).toMatch(
    new RegExp(`^id: ${stream.id}\\.0\\nretry: \\d+\\ndata: \\n\\nretry: 30000\\n\\n$`),
  );
  hub.close();
});

Deno.test("without priming a pause does nothing (the client would have no id to resume from)", async () => {
  const hub = createStreamHub({ priming: false });
  const stream = hub.create();
  stream.pause(100);
  stream.send(message(1));
  stream.end();
  const text = await stream.response().text();
  expect(text).not.toContain("retry:");
  expect(text).toContain(`id: ${stream.id}.1\n`);
  hub.close();
});
