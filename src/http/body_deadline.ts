/**
 * Links a request to its connection's body deadline (§12 "Connections"), so that the body reader
 * can answer 408 when a client trickles its body, instead of waiting on it for ever.
 */

/** The body deadline of one request, as the listener tracks it. */
export interface BodyWatch {
  /** The reader waits for the body: `onTimeout` runs if the deadline passes first. */
  wait(onTimeout: () => void): void;
  /** Reading ended (complete, refused or failed). */
  done(): void;
}

const watches = new WeakMap<Request, BodyWatch>();

/**
 * The error a server's body stream fails with when a chunked body outgrows the server's limit
 * (the builtin server): the reader answers 413, as when it counts the bytes itself.
 */
export class BodyTooLargeError extends Error {}

/** Attaches the body deadline of `request` (called by the listener for requests with a body). */
export function watchBody(request: Request, watch: BodyWatch): void {
  watches.set(request, watch);
}

/** The body deadline of `request`, or undefined when nothing bounds it (e.g. a test's `fetch`). */
export function bodyWatchOf(request: Request): BodyWatch | undefined {
  return watches.get(request);
}

/**
 * Reads to its end the body of a request the handler answered without reading (a refusal), up to
 * `limit` bytes and within the body deadline of `watch`, before the answer is sent: over HTTP/2
 * `Deno.serveHttp` otherwise resets the stream while the client may still be sending, and clients
 * such as curl report the refusal as a framing error instead of its status. False when the body
 * was cut off (past `limit`, declared past it, failed or late); the caller then closes the
 * connection after the answer.
 */
export async function drainUnreadBody(
  request: Request,
  options: { limit: number; watch?: BodyWatch },
): Promise<boolean> {
  const body = request.body;
  if (body === null || request.bodyUsed) return true;
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > options.limit) {
    await body.cancel().catch(() => {});
    return false;
  }
  const reader = body.getReader();
  const reading = readToEnd(reader, options.limit);
  const watch = options.watch;
  if (watch === undefined) return await reading;
  return await new Promise<boolean>((resolve) => {
    watch.wait(() => {
      reader.cancel().catch(() => {});
      resolve(false);
    });
    reading.then((whole) => {
      watch.done();
      resolve(whole);
    });
  });
}

async function readToEnd(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limit: number,
): Promise<boolean> {
  let seen = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return true;
      seen += value.byteLength;
      if (seen > limit) {
        await reader.cancel().catch(() => {});
        return false;
      }
    }
  } catch {
    return false;
  }
}
