/** The pure parts of the open-loop generator: the send schedule, raw HTTP/1.1 request bytes,
 * an incremental response framer and the latency summary. No I/O here. */
import { quantile, type RequestSpec, splitTemplate } from "./load_spec.ts";

/** One open-loop run's measurements. Latencies in milliseconds from the INTENDED send time. */
export interface OpenLoopResult {
  /** Requests per second asked for. */
  readonly rate: number;
  /** Requests whose intended send time fell in the measured window. */
  readonly scheduled: number;
  /** Of those, answered (any status). */
  readonly completed: number;
  /** Answered requests per second over the measured window. */
  readonly achievedRps: number;
  /** Median latency. */
  readonly p50Ms: number;
  /** 90th percentile. */
  readonly p90Ms: number;
  /** 99th percentile. */
  readonly p99Ms: number;
  /** 99.9th percentile. */
  readonly p999Ms: number;
  /** Slowest answer. */
  readonly maxMs: number;
  /** Socket errors, and requests still unanswered at the end (counted as errors). */
  readonly errors: number;
  /** Answers that were not 2xx/3xx. */
  readonly non2xx: number;
}

/** The intended send time (ms from the start) of request number `index` at `rate` per second. */
export function intendedTime(index: number, rate: number): number {
  return (index * 1000) / rate;
}

/** Builds request number `n` of `spec` as raw HTTP/1.1 bytes (keep-alive, Content-Length). */
export function encodeRequestFactory(spec: RequestSpec): (n: number) => Uint8Array {
  const url = new URL(spec.url);
  const { parts, holes } = splitTemplate(spec.body);
  const sessions = spec.sessions ?? 1000;
  const head = [`POST ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of Object.entries(spec.headers)) {
    if (name.toLowerCase() === "content-length" || name.toLowerCase() === "host") continue;
    head.push(`${name}: ${value}`);
  }
  const headText = head.join("\r\n");
  const encoder = new TextEncoder();
  return (n) => {
    let body = parts[0];
    for (let i = 0; i < holes.length; i++) {
      body += (holes[i] === "id" ? String(n) : String(n % sessions)) + parts[i + 1];
    }
    const bodyBytes = encoder.encode(body);
    const headBytes = encoder.encode(
      `${headText}\r\nContent-Length: ${bodyBytes.length}\r\n\r\n`,
    );
    const out = new Uint8Array(headBytes.length + bodyBytes.length);
    out.set(headBytes);
    out.set(bodyBytes, headBytes.length);
    return out;
  };
}

const CR = 13;
const LF = 10;

function indexOfCrlfCrlf(bytes: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) {
      return i;
    }
  }
  return -1;
}

function indexOfCrlf(bytes: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 1 < to; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF) return i;
  }
  return -1;
}

/** Splits a byte stream of HTTP/1.1 responses into whole responses (Content-Length or chunked
 * framing); `push` returns the status of each response completed by these bytes. */
export class ResponseFramer {
  #buffer = new Uint8Array(16 * 1024);
  #length = 0;
  readonly #decoder = new TextDecoder();

  /** Adds bytes; returns the statuses of the responses they complete, in order. */
  push(chunk: Uint8Array): number[] {
    if (this.#length + chunk.length > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + chunk.length));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#length);
    this.#length += chunk.length;
    const statuses: number[] = [];
    for (;;) {
      const consumed = this.#one(statuses);
      if (consumed === 0) break;
      this.#buffer.copyWithin(0, consumed, this.#length);
      this.#length -= consumed;
    }
    return statuses;
  }

  /** Bytes held that do not yet make a whole response. */
  get pending(): number {
    return this.#length;
  }

  #one(statuses: number[]): number {
    const bytes = this.#buffer;
    const end = indexOfCrlfCrlf(bytes, 0, this.#length);
    if (end === -1) return 0;
    const head = this.#decoder.decode(bytes.subarray(0, end));
    const status = Number(head.slice(9, 12));
    if (!head.startsWith("HTTP/1.") || !Number.isInteger(status)) {
      throw new Error(`Cannot read response: bad status line "${head.slice(0, 40)}"`);
    }
    const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const bodyStart = end + 4;
    if (lengthMatch) {
      const total = bodyStart + Number(lengthMatch[1]);
      if (total > this.#length) return 0;
      statuses.push(status);
      return total;
    }
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      let at = bodyStart;
      for (;;) {
        const lineEnd = indexOfCrlf(bytes, at, this.#length);
        if (lineEnd === -1) return 0;
        const size = parseInt(this.#decoder.decode(bytes.subarray(at, lineEnd)), 16);
        if (!Number.isFinite(size)) throw new Error("Cannot read response: bad chunk size");
        const next = lineEnd + 2 + size + 2;
        if (next > this.#length) return 0;
        at = next;
        if (size === 0) {
          statuses.push(status);
          return at;
        }
      }
    }
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      statuses.push(status);
      return bodyStart;
    }
    throw new Error("Cannot read response: neither Content-Length nor chunked (close-delimited)");
  }
}

/** Summarises latencies (ms from intended send) of one measured window. */
export function summariseOpenLoop(options: {
  rate: number;
  scheduled: number;
  latencies: readonly number[];
  seconds: number;
  errors: number;
  non2xx: number;
}): OpenLoopResult {
  const sorted = Float64Array.from(options.latencies).sort();
  return {
    rate: options.rate,
    scheduled: options.scheduled,
    completed: sorted.length,
    achievedRps: options.seconds > 0 ? sorted.length / options.seconds : 0,
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    p999Ms: quantile(sorted, 0.999),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : 0,
    errors: options.errors,
    non2xx: options.non2xx,
  };
}
