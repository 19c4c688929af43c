import { expect } from "expect";
import { chainLine, GENESIS_HASH, verifyLines } from "./chain.ts";
import { chainBatch } from "./chain_batch.ts";
import { createChainer } from "./chainer.ts";
import { buildAuditEvent, buildAuditRecord } from "../event/event.ts";
import { linePrefix } from "../event/line.ts";

const input = (n: number) => ({
  event: "toolcall" as const,
  agentId: null,
  modelId: "gpt-4o",
  sessionId: "s",
  toolName: "search.web",
  payload: { n, text: "ünïcode ✓", token: "hidden" },
  status: "allowed" as const,
  reasonCode: "ok" as const,
  reason: `reason ${n}`,
  latencyMs: n / 3,
  policyVersion: "0123456789ab",
});

function batch(count: number) {
  return Array.from({ length: count }, (_, n) => {
    const { event, payloadJson } = buildAuditRecord(input(n), {
      now: 1_700_000_000_000,
      eventId: `id-${n}`,
    });
    return linePrefix(event, payloadJson);
  });
}

function lines(bytes: Uint8Array): string[] {
  return new TextDecoder().decode(bytes).split("\n").slice(0, -1);
}

Deno.test("chainer: records chain to exactly the lines chainLine writes for their events", () => {
  const chained = chainBatch(batch(3), GENESIS_HASH);
  const text = lines(chained.bytes);
  expect(verifyLines(text, { from: GENESIS_HASH })).toEqual({
    ok: true,
    count: 3,
    head: chained.hashes[2],
  });
  let prev = GENESIS_HASH;
  for (let n = 0; n < 3; n++) {
    const built = buildAuditEvent(input(n), { now: 1_700_000_000_000, eventId: `id-${n}` });
    const expected = chainLine(built, prev);
    expect(text[n]).toBe(expected.line);
    expect(chained.hashes[n]).toBe(expected.hash);
    prev = expected.hash;
  }
  expect(JSON.parse(text[1]).payload.token).toBe("[REDACTED]");
  expect(chained.ends[2]).toBe(chained.bytes.length);
});

Deno.test("chainer: a truncated or absent payload gives the same line as chainLine", () => {
  for (const payload of [{ text: "x".repeat(20_000), secret: "s" }, null]) {
    const context = { now: 1_700_000_000_000, eventId: "id-big" };
    const record = buildAuditRecord({ ...input(0), payload }, context);
    const chained = chainBatch([linePrefix(record.event, record.payloadJson)], GENESIS_HASH);
    const expected = chainLine(buildAuditEvent({ ...input(0), payload }, context), GENESIS_HASH);
    expect(lines(chained.bytes)).toEqual([expected.line]);
  }
});

Deno.test("chainer: a worker chains large batches exactly as this thread does", async () => {
  const chainer = createChainer({ minWorkerBatch: 8 });
  try {
    const parts = batch(50);
    const onWorker = await chainer.chain(parts, GENESIS_HASH);
    expect(chainer.workerBatches).toBe(1);
    const here = chainBatch(parts, GENESIS_HASH);
    expect(lines(onWorker.bytes)).toEqual(lines(here.bytes));
    expect(onWorker.hashes).toEqual(here.hashes);
    expect(Array.from(onWorker.ends)).toEqual(Array.from(here.ends));
    const small = await chainer.chain(parts.slice(0, 2), onWorker.hashes[49]);
    expect(chainer.workerBatches).toBe(1);
    expect(
      verifyLines([...lines(onWorker.bytes), ...lines(small.bytes)], { from: GENESIS_HASH }).ok,
    )
      .toBe(true);
  } finally {
    chainer.close();
  }
});

Deno.test("chainer: startNow starts the worker before any batch, and chains on it", async () => {
  const lazy = createChainer({ minWorkerBatch: 8 });
  const eager = createChainer({ minWorkerBatch: 8, startNow: true });
  try {
    expect(lazy.workerStarted).toBe(false);
    expect(eager.workerStarted).toBe(true);
    const parts = batch(10);
    const chained = await eager.chain(parts, GENESIS_HASH);
    expect(eager.workerBatches).toBe(1);
    expect(chained.hashes).toEqual(chainBatch(parts, GENESIS_HASH).hashes);
  } finally {
    lazy.close();
    eager.close();
  }
});

Deno.test("chainer: a worker that never answers is abandoned for this thread", async () => {
  const silent = new URL("data:application/javascript,self.onmessage = () => {};");
  const chainer = createChainer({ minWorkerBatch: 1, workerUrl: silent, workerTimeoutMs: 50 });
  try {
    const parts = batch(5);
    const first = await chainer.chain(parts, GENESIS_HASH);
    expect(first.hashes).toEqual(chainBatch(parts, GENESIS_HASH).hashes);
    const second = await chainer.chain(parts, first.hashes[4]);
    expect(second.hashes).toEqual(chainBatch(parts, first.hashes[4]).hashes);
    expect(chainer.workerBatches).toBe(0);
  } finally {
    chainer.close();
  }
});
