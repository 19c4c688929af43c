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
