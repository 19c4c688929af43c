/** Incremental Server-Sent Events parser (WHATWG event-stream rules), pure and byte-bounded. */
import { concatBytes } from "../../../bytes.ts";

/** One dispatched event. `data` lines are joined with "\n"; `event` defaults to "message". */
export interface SseEvent {
  /** The event type. */
  readonly event: string;
  /** The event data (may be "" for a priming event that only carries an id). */
  readonly data: string;
  /** The last event id when this event was dispatched ("" when none was ever set). */
  readonly id: string;
  /** True when this event carried an `id:` field of its own (not inherited from an earlier). */
  readonly ownId: boolean;
}

/** A stateful parser fed with raw bytes in chunks of any size. */
export interface SseParser {
  /** Consumes a chunk and returns the events it completed; throws past the size limit. */
  push(chunk: Uint8Array): SseEvent[];
  /** The last event id seen (for `Last-Event-ID` on reconnection); "" when none. */
  lastEventId(): string;
  /** The reconnection delay the server asked for with `retry:`, if any. */
  retryMs(): number | undefined;
}

const LF = 0x0a;
const CR = 0x0d;

/** Creates a parser that refuses any event (or line) larger than `maxEventBytes`. */
export function createSseParser(options: { maxEventBytes: number }): SseParser {
  const decoder = new TextDecoder();
  let line: Uint8Array[] = [];
  let lineBytes = 0;
  let skipLf = false;
  let bomChecked = false;
  let data: string[] = [];
  let dataBytes = 0;
  let eventType = "";
  let lastId = "";
  let ownId = false;
  let retry: number | undefined;

  const tooLarge = () => new Error(`SSE event exceeds ${options.maxEventBytes} bytes`);

  function processLine(bytes: Uint8Array, out: SseEvent[]): void {
    let text = decoder.decode(bytes);
    if (!bomChecked) {
      bomChecked = true;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    if (text === "") {
      dispatch(out);
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        data.push(value);
        dataBytes += bytes.length;
        if (dataBytes > options.maxEventBytes) throw tooLarge();
        break;
      case "event":
        eventType = value;
        break;
      case "id":
        if (!value.includes("\0")) {
          lastId = value;
          ownId = true;
        }
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) retry = Number(value);
        break;
    }
  }

  function dispatch(out: SseEvent[]): void {
    if (data.length > 0) {
      out.push({
        event: eventType === "" ? "message" : eventType,
        data: data.join("\n"),
        id: lastId,
        ownId,
      });
    }
    ownId = false;
    data = [];
    dataBytes = 0;
    eventType = "";
  }

  function endLine(tail: Uint8Array, out: SseEvent[]): void {
    let bytes = tail;
    if (line.length > 0) {
      line.push(tail);
      bytes = concatBytes(line, lineBytes + tail.length);
      line = [];
      lineBytes = 0;
    }
    if (bytes.length + dataBytes > options.maxEventBytes) throw tooLarge();
    processLine(bytes, out);
  }

  return {
    push(chunk) {
      const out: SseEvent[] = [];
      let start = 0;
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i];
        if (skipLf) {
          skipLf = false;
          if (byte === LF) {
            start = i + 1;
            continue;
          }
        }
        if (byte !== LF && byte !== CR) continue;
        endLine(chunk.subarray(start, i), out);
        skipLf = byte === CR;
        start = i + 1;
      }
      if (start < chunk.length) {
        const rest = chunk.slice(start);
        lineBytes += rest.length;
        if (lineBytes + dataBytes > options.maxEventBytes) throw tooLarge();
        line.push(rest);
      }
      return out;
    },
    lastEventId: () => lastId,
    retryMs: () => retry,
  };
}
