/** Request bodies of the builtin server that are still arriving: streams read from the socket. */
import { BodyTooLargeError } from "../body_deadline.ts";
import { type Bytes, type H1Connection, READ_BYTES } from "./connection.ts";
import { type ChunkedBodyDecoder, ChunkedError } from "./parse.ts";

/** A body of `length` bytes of which `[size, end)` of the buffer already arrived. */
export function lengthBody(
  c: H1Connection,
  size: number,
  length: number,
  onEnd: () => void,
): ReadableStream<Bytes> {
  let first: Bytes | null = c.buffer.slice(size, c.end);
  let remaining = length - first.length;
  c.consume(c.end);
  return new ReadableStream<Bytes>({
    async pull(controller) {
      if (first !== null) {
        const piece = first;
        first = null;
        if (piece.length > 0) return controller.enqueue(piece);
      }
      if (!await c.fill(READ_BYTES)) throw new Error("connection closed mid-body");
      const take = Math.min(remaining, c.end);
      controller.enqueue(c.buffer.slice(0, take));
      c.consume(take);
      remaining -= take;
      if (remaining === 0) {
        onEnd();
        controller.close();
      }
    },
  }, { highWaterMark: 0 });
}

/** A chunked body still arriving; `first` is what was decoded from the buffer already. */
export function chunkedBody(
  c: H1Connection,
  decoder: ChunkedBodyDecoder,
  first: Bytes,
  onEnd: () => void,
): ReadableStream<Bytes> {
  let initial: Bytes | null = first;
  return new ReadableStream<Bytes>({
    async pull(controller) {
      if (initial !== null) {
        const piece = initial;
        initial = null;
        if (piece.length > 0) return controller.enqueue(piece);
      }
      for (;;) {
        if (!await c.fill(READ_BYTES)) throw new Error("connection closed mid-body");
        const pieces: Bytes[] = [];
        let used: number;
        try {
          used = decoder.push(c.buffer, 0, c.end, pieces);
        } catch (error) {
          if (error instanceof ChunkedError && error.status === 413) {
            throw new BodyTooLargeError(error.message);
          }
          throw error;
        }
        const data = joinCopy(pieces, -1);
        c.consume(used);
        if (data.length > 0) controller.enqueue(data);
        if (decoder.done) {
          onEnd();
          return controller.close();
        }
        if (data.length > 0) return;
      }
    },
  }, { highWaterMark: 0 });
}

/** The body of a chunked request past the limit: its reader fails with `BodyTooLargeError`. */
export function tooLargeBody(): ReadableStream<Bytes> {
  return new ReadableStream<Bytes>({
    pull: () => {
      throw new BodyTooLargeError("chunked body too large");
    },
  });
}

/** The pieces (views into a reused buffer) copied into one array; `length` -1 to compute it. */
export function joinCopy(pieces: readonly Bytes[], length: number): Bytes {
  const total = length >= 0 ? length : pieces.reduce((sum, piece) => sum + piece.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
