/**
 * Chains batches of audit lines (effect): large batches on a worker thread (so hashing and
 * encoding never hold up requests), small ones in this thread. Any worker trouble (it cannot
 * start, it fails, it is too slow) falls back to this thread for good: the chain is the same
 * either way, only where the work happens changes.
 */
import { chainBatch, type ChainedBatch, packBatch, unpackHashes } from "./chain_batch.ts";

/** Options of `createChainer`. */
export interface ChainerOptions {
  /** Batches at least this long go to the worker (default 32; Infinity = never). */
  readonly minWorkerBatch?: number;
  /** A worker answer slower than this abandons the worker (default 5000 ms). */
  readonly workerTimeoutMs?: number;
  /** The worker module (default `chain_worker.ts` beside this file). */
  readonly workerUrl?: URL;
  /**
   * Start the worker now rather than with the first large batch (the server does): starting it
   * holds this thread ~30 ms and the first large batch would wait for its module to load.
   */
  readonly startNow?: boolean;
}

/** Chains batches in order; one batch at a time. */
export interface Chainer {
  /** Chains the line prefixes of `batch` after `prevHash` (a checked sha256 hex). Never rejects for worker trouble. */
  chain(batch: readonly string[], prevHash: string): Promise<ChainedBatch>;
  /** Batches chained by the worker so far. */
  readonly workerBatches: number;
  /** Whether a worker is running (started and not abandoned). */
  readonly workerStarted: boolean;
  /** Stops the worker. */
  close(): void;
}

interface Waiting {
  resolve(batch: ChainedBatch): void;
  reject(error: Error): void;
}

/** Creates a chainer; its worker starts with the first large batch (or now, with `startNow`). */
export function createChainer(options: ChainerOptions = {}): Chainer {
  const minWorkerBatch = options.minWorkerBatch ?? 32;
  const timeoutMs = options.workerTimeoutMs ?? 5000;
  let worker: Worker | undefined;
  let usable = true;
  let nextId = 1;
  let workerBatches = 0;
  const waiting = new Map<number, Waiting>();

  function abandon(why: Error): void {
    usable = false;
    worker?.terminate();
    worker = undefined;
    for (const entry of waiting.values()) entry.reject(why);
    waiting.clear();
  }

  function start(): Worker | undefined {
    if (worker !== undefined || !usable) return worker;
    try {
      const url = options.workerUrl ?? new URL("./chain_worker.ts", import.meta.url);
      worker = new Worker(url.href, { type: "module" });
    } catch {
      usable = false;
      return undefined;
    }
    worker.onmessage = (event: MessageEvent) => {
      const data = event.data as {
        id: number;
        error?: string;
        bytes: Uint8Array;
        ends: Uint32Array;
        hashes: string;
      };
      const entry = waiting.get(data.id);
      if (entry === undefined) return;
      waiting.delete(data.id);
      if (data.error !== undefined) entry.reject(new Error(data.error));
      else {
        entry.resolve({
          bytes: data.bytes,
          ends: data.ends,
          hashes: unpackHashes(data.hashes),
        });
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      abandon(new Error("audit chain worker failed"));
    };
    worker.onmessageerror = () => abandon(new Error("audit chain worker sent garbage"));
    return worker;
  }

  function onWorker(running: Worker, batch: readonly string[], prevHash: string) {
    const id = nextId++;
    return new Promise<ChainedBatch>((resolve, reject) => {
      const timer = setTimeout(() => abandon(new Error("audit chain worker too slow")), timeoutMs);
      waiting.set(id, {
        resolve: (chained) => {
          clearTimeout(timer);
          resolve(chained);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      running.postMessage({ id, batch: packBatch(batch), prev: prevHash });
    });
  }

  if (options.startNow === true && minWorkerBatch !== Infinity) start();

  return {
    async chain(batch, prevHash) {
      const running = batch.length >= minWorkerBatch ? start() : undefined;
      if (running !== undefined) {
        try {
          const chained = await onWorker(running, batch, prevHash);
          workerBatches++;
          return chained;
        } catch {
          // fall through: this thread chains the same batch from the same head
        }
      }
      return chainBatch(batch, prevHash);
    },
    get workerBatches() {
      return workerBatches;
    },
    get workerStarted() {
      return worker !== undefined;
    },
    close() {
      usable = false;
      abandon(new Error("audit chainer closed"));
    },
  };
}
