/** `appendDurable` (write-ahead audit, §12): the line is in the file when the promise resolves. */
import { expect } from "expect";
import { join } from "node:path";
import { GENESIS_HASH } from "../chain/chain.ts";
import { type AuditEvent, buildAuditEvent } from "../event/event.ts";
import { openAuditSink } from "./sink.ts";
import { verifyLogFiles } from "../chain/verify.ts";

function event(n: number): AuditEvent {
  return buildAuditEvent({
    event: "toolcall",
    agentId: null,
    modelId: "gpt-4o",
    sessionId: "s1",
    toolName: "search.web",
    payload: { n },
    status: "forwarded",
    reasonCode: "ok",
    reason: 'forwarded to upstream "search"',
    latencyMs: 0.5,
    policyVersion: "0123456789ab",
  }, { now: 1_700_000_000_000 + n, eventId: `e${n}` });
}

async function idsInFile(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line).event_id);
}

Deno.test("appendDurable: resolves only once the line is in the file, without the 20 ms timer", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  // A timer that would never fire during the test: only the write-ahead path can write.
  const sink = await openAuditSink({ path, flushIntervalMs: 3_600_000 });
  try {
    sink.append(event(0)); // an ordinary event queued first keeps its place in the chain
    await sink.appendDurable(event(1));
    expect(await idsInFile(path)).toEqual(["e0", "e1"]);
    expect(sink.head).not.toBe(GENESIS_HASH);
    expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toMatchObject({ ok: true });
  } finally {
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("appendDurable: concurrent calls share writes and keep the chain order", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  let writes = 0;
  // Every file write is copied to stdout once, so this counts the file writes.
  const stdout = { write: (bytes: Uint8Array) => (writes++, bytes.length) };
  const sink = await openAuditSink({ path, flushIntervalMs: 3_600_000, stdout });
  try {
    await Promise.all(Array.from({ length: 50 }, (_, i) => sink.appendDurable(event(i))));
    expect(await idsInFile(path)).toEqual(Array.from({ length: 50 }, (_, i) => `e${i}`));
    // The first call's write starts at once; the 49 that came while it ran share the next one.
    expect(writes).toBeLessThanOrEqual(2);
    expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toMatchObject({
      ok: true,
      count: 50,
    });
  } finally {
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("appendDurable: a failing write rejects (fail closed); the line is written on recovery", async () => {
  const dir = await Deno.makeTempDir();
  const logDir = join(dir, "logs");
  const path = join(logDir, "audit.log");
  const errors: string[] = [];
  const sink = await openAuditSink({
    path,
    flushIntervalMs: 3_600_000,
    onError: (message) => errors.push(message),
  });
  try {
    await Deno.remove(logDir, { recursive: true }); // the directory is not re-created
    await expect(sink.appendDurable(event(0))).rejects.toThrow(/Cannot write audit log/);
    expect(sink.healthy).toBe(false);
    expect(errors[0]).toMatch(/Cannot write audit log .*ENOENT|No such file/);
    // While failing, a write-ahead is refused at once, and not queued (nothing is forwarded).
    await expect(sink.appendDurable(event(1))).rejects.toThrow(/failing/);
    await Deno.mkdir(logDir);
    await sink.flush();
    expect(sink.healthy).toBe(true);
    expect(await idsInFile(path)).toEqual(["e0"]); // the failed one is written on recovery
    await sink.appendDurable(event(2));
    expect(await idsInFile(path)).toEqual(["e0", "e2"]);
  } finally {
    await sink.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("appendDurable: rejected after close", async () => {
  const dir = await Deno.makeTempDir();
  const sink = await openAuditSink({ path: join(dir, "audit.log") });
  await sink.close();
  await expect(sink.appendDurable(event(0))).rejects.toThrow(/Cannot write audit log/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a forwarded call's two lines arm the flush timer once, not once per call", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const sink = await openAuditSink({ path, flushIntervalMs: 3_600_000 });
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  let armed = 0;
  let cleared = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    armed++;
    return realSet(...args);
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: number) => {
    cleared++;
    realClear(id);
  }) as typeof clearTimeout;
  try {
    // As the proxy does under load: each call writes its write-ahead line, then its closing line
    // once the upstream answered, and the next call arrives in a later task of the event loop
    // (a zero-delay task of the real timer, not counted: arrival, not a wait for a condition).
    const call = async (n: number) => {
      await sink.appendDurable(event(2 * n));
      await Promise.resolve();
      sink.append(event(2 * n + 1));
    };
    const calls: Promise<void>[] = [];
    for (let n = 0; n < 20; n++) {
      calls.push(call(n));
      await new Promise((arrive) => realSet(arrive, 0));
    }
    await Promise.all(calls);
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
    await sink.close();
  }
  expect(armed).toBeLessThanOrEqual(1); // one flush timer for all twenty calls
  expect(cleared).toBe(0);
  expect((await idsInFile(path)).length).toBe(40);
  await Deno.remove(dir, { recursive: true });
});
