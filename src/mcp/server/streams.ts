/**
 * Server-sent event streams of one gateway session (§5.5): event ids unique per session, a
 * priming event with `retry`, replay after `Last-Event-ID` (that stream only), one standalone
 * GET stream, and bounded buffers so a client that reconnects gets what it missed.
 */
import type { JsonRpcMessage } from "../jsonrpc.ts";

/** Most events kept per stream for replay. */
const MAX_EVENTS_PER_STREAM = 1000;
/** Most streams kept per session (finished ones are dropped first). */
const MAX_STREAMS = 32;
/** Most bytes kept for replay per session, across its streams (finished ones dropped first). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Reconnection delay suggested to clients, in milliseconds. */
export const SSE_RETRY_MS = 1000;
/** Longest reconnection delay passed on to a client when a stream pauses. */
const MAX_RETRY_MS = 30_000;

const encoder = new TextEncoder();

/** One SSE stream: buffered for replay, delivered live while a client reads it. */
export interface OutStream {
  /** Stream id (the part of event ids before the dot). */
  readonly id: string;
  /** Sends a message; buffered when no client is reading. */
  send(message: JsonRpcMessage): void;
  /** No more messages: a live response ends once everything is delivered. */
  end(): void;
  /** True once `end()` was called. */
  readonly ended: boolean;
  /** Closes the client's connection without ending the stream (SSE polling, 2025-11-25): the
   * client is told to come back after `retryMs` with `Last-Event-ID`; what is sent meanwhile is
   * kept for it. A stream nobody reads yet closes as soon as it is read (after the priming
   * event). Nothing happens without priming (the client would have no id to resume from). */
  pause(retryMs: number): void;
  /** A response streaming this stream from the start (priming first). */
  response(): Response;
}

/** The streams of one session. */
export interface StreamHub {
  /** A new stream for the answer to one POST. */
  create(): OutStream;
  /** Opens the standalone GET stream; undefined when one is already being read (409). */
  openStandalone(): Response | undefined;
  /** Sends on the standalone stream; false when the client never opened one. */
  sendStandalone(message: JsonRpcMessage): boolean;
  /** Resumes the stream an event id belongs to, replaying what came after it. */
  resume(lastEventId: string): Response | undefined;
  /** Ends every stream (session over). */
  close(): void;
}

interface Event {
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** Creates the stream hub of a session; `priming` adds the 2025-11-25 priming event. */
export function createStreamHub(options: { priming: boolean }): StreamHub {
  const streams = new Map<string, StreamState>();
  let streamCounter = 0;
  let standalone: StreamState | undefined;
  let buffered = 0;

  class StreamState implements OutStream {
    readonly id: string;
    readonly events: Event[] = [];
    bytes = 0;
    seq = 0;
    ended = false;
    live: ReadableStreamDefaultController<Uint8Array> | undefined;
    /** A pause asked while no client was reading: applied when one attaches. */
    pendingRetryMs: number | undefined;
    constructor() {
      this.id = `s${++streamCounter}`;
      streams.set(this.id, this);
      trim();
    }
    send(message: JsonRpcMessage): void {
      if (this.ended) return;
      const seq = ++this.seq;
      const bytes = encoder.encode(
        `id: ${this.id}.${seq}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`,
      );
      this.events.push({ seq, bytes });
      this.bytes += bytes.byteLength;
      buffered += bytes.byteLength;
      if (this.events.length > MAX_EVENTS_PER_STREAM) this.drop(this.events.shift()!);
      this.deliver(bytes);
      trim();
    }
    end(): void {
      if (this.ended) return;
      this.ended = true;
      // Kept (bounded) after the end: bytes enqueued are not bytes the client has read.
      this.closeLive();
    }
    pause(retryMs: number): void {
      if (this.ended || !options.priming) return;
      const retry = Math.max(0, Math.min(Math.floor(retryMs), MAX_RETRY_MS));
      if (!this.live) {
        this.pendingRetryMs = retry;
        return;
      }
      this.deliver(encoder.encode(`retry: ${retry}\n\n`));
      this.closeLive();
    }
    drop(event: Event): void {
      this.bytes -= event.bytes.byteLength;
      buffered -= event.bytes.byteLength;
    }
    forget(): void {
      this.closeLive();
      buffered -= this.bytes;
      this.bytes = 0;
      streams.delete(this.id);
    }
    response(): Response {
      return this.attach(0);
    }
    attach(after: number): Response {
      this.closeLive();
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.live = controller;
          if (options.priming) {
            controller.enqueue(
              encoder.encode(`id: ${this.id}.${after}\nretry: ${SSE_RETRY_MS}\ndata: \n\n`),
            );
          }
          for (const event of this.events) {
            if (event.seq > after) controller.enqueue(event.bytes);
          }
          if (this.ended) this.closeLive();
          else if (this.pendingRetryMs !== undefined) {
            controller.enqueue(encoder.encode(`retry: ${this.pendingRetryMs}\n\n`));
            this.pendingRetryMs = undefined;
            this.closeLive();
          }
        },
        cancel: () => {
          // The client went away: keep buffering so it can resume with Last-Event-ID.
          this.live = undefined;
        },
      });
      return new Response(body, {
        headers: {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          connection: "keep-alive",
        },
      });
    }
    deliver(bytes: Uint8Array): void {
      if (!this.live) return;
      try {
        this.live.enqueue(bytes);
      } catch {
        this.live = undefined;
      }
    }
    closeLive(): void {
      const live = this.live;
      this.live = undefined;
      try {
        live?.close();
      } catch {
        // already closed by the client
      }
    }
  }

  function trim(): void {
    // Finished streams go first, then the oldest answers; the standalone stream stays.
    for (const finishedOnly of [true, false]) {
      for (const stream of streams.values()) {
        if (streams.size <= MAX_STREAMS && buffered <= MAX_BUFFERED_BYTES) return;
        if (stream === standalone || (finishedOnly && !stream.ended)) continue;
        stream.forget();
      }
    }
  }

  return {
    create: () => new StreamState(),
    openStandalone() {
      if (standalone && standalone.live) return undefined;
      standalone ??= new StreamState();
      return standalone.attach(standalone.seq);
    },
    sendStandalone(message) {
      if (!standalone) return false;
      standalone.send(message);
      return true;
    },
    resume(lastEventId) {
      const match = /^(s\d+)\.(\d+)$/.exec(lastEventId);
      if (!match) return undefined;
      const stream = streams.get(match[1]);
      if (!stream) return undefined;
      return stream.attach(Number(match[2]));
    },
    close() {
      for (const stream of [...streams.values()]) {
        stream.ended = true;
        stream.forget();
      }
      standalone = undefined;
    },
  };
}
