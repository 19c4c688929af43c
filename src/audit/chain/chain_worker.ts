// The audit chain worker (effect): hashes and encodes batches of audit lines on its own thread,
// so the request thread only queues events. Message in: `{ id, batch, prev }` (line prefixes packed);
// message out: `{ id, bytes, ends, hashes }` (the hashes packed, the bytes transferred) or
// `{ id, error }`.
import { chainBatch, packHashes, unpackBatch } from "./chain_batch.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (event: MessageEvent) => {
  const { id, batch, prev } = event.data as { id: number; batch: string; prev: string };
  try {
    const chained = chainBatch(unpackBatch(batch), prev);
    scope.postMessage({
      id,
      bytes: chained.bytes,
      ends: chained.ends,
      hashes: packHashes(chained.hashes),
    }, [chained.bytes.buffer as ArrayBuffer, chained.ends.buffer as ArrayBuffer]);
  } catch (error) {
    scope.postMessage({ id, error: error instanceof Error ? error.message : "chaining failed" });
  }
};
