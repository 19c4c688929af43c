/** The GET SSE stream of one upstream session: server-initiated messages, reconnected with backoff
 * until the session ends (405, 404 and 400 end it for good). */
import type { Logger } from "../../../log.ts";
import { classifyMessage, type JsonRpcNotification, type JsonRpcRequest } from "../../jsonrpc.ts";
import { UpstreamError } from "../upstream.ts";
import { delay } from "../upstream_common.ts";
import {
  buildHeaders,
  discard,
  type HttpTarget,
  isSafeEventId,
  mediaType,
  readSseMessages,
  send,
  type SessionRef,
  type UpstreamResponse,
} from "./upstream_http_io.ts";

/** Event ids remembered to drop events a reconnection replays twice. */
const MAX_SEEN_IDS = 4096;

/** Options of a listening stream. */
export interface ListenOptions {
  /** The upstream endpoint. */
  readonly target: HttpTarget;
  /** The session whose stream this is. */
  readonly session: SessionRef;
  /** Reconnection delays: first, and the cap of the doubling. */
  readonly backoffMs: { readonly initial: number; readonly max: number };
  /** A notification arrived. */
  readonly onNotification: (notification: JsonRpcNotification) => void;
  /** A server→client request arrived. */
  readonly onRequest: (request: JsonRpcRequest) => void;
  /** The upstream answered 405: it offers no such stream (the loop ends). */
  readonly onUnsupported: () => void;
  /** The upstream answered 404 (session gone) or 400 (session unknown to it, as some servers
   * answer): the loop ends, the stream is not retried. */
  readonly onGone: (status: 404 | 400) => void;
  /** The upstream could not be reached (connection failed); the loop retries with backoff. */
  readonly onUnreachable?: () => void;
  /** The stream (re)opened: the upstream is reachable again. */
  readonly onConnected?: () => void;
  /** Operational log (no header values, no URL). */
  readonly log: Logger;
}

/** A running listening stream. */
export interface Listening {
  /** Stops the stream and waits for its loop to end. */
  stop(): Promise<void>;
}

/** Opens the GET stream and keeps it open (reconnecting, honouring `retry:`) until stopped. */
export function startListening(options: ListenOptions): Listening {
  const controller = new AbortController();
  const signal = controller.signal;
  const { target, log } = options;
  const done = (async () => {
    let wait = options.backoffMs.initial;
    let lastEventId = "";
    // Ids already handled: a reconnection that replays too much delivers nothing twice.
    const seen = new Set<string>();
    const backOff = async (ms: number) => {
      await delay(ms, signal);
      wait = Math.min(wait * 2, options.backoffMs.max);
    };
    while (!signal.aborted) {
      const extra: Record<string, string> = { "Accept": "text/event-stream" };
      if (lastEventId !== "") extra["Last-Event-ID"] = lastEventId;
      const headers = buildHeaders(target, options.session, extra);
      let response: UpstreamResponse;
      try {
        response = await send(target, { method: "GET", headers, signal });
      } catch (error) {
        if (signal.aborted) break;
        log.debug(`Upstream "${target.name}" GET stream: ${describe(error)}`);
        options.onUnreachable?.();
        await backOff(wait);
        continue;
      }
      const status = response.status;
      if (status === 405 || status === 404 || status === 400) {
        await discard(response);
        if (status === 405) options.onUnsupported();
        else options.onGone(status);
        break;
      }
      if (!response.ok || mediaType(response) !== "text/event-stream" || response.body === null) {
        await discard(response);
        log.warn(`Upstream "${target.name}" refused its GET stream (HTTP ${response.status})`);
        await backOff(wait);
        continue;
      }
      options.onConnected?.();
      let received = 0;
      try {
        const outcome = await readSseMessages(target, response.body, (value, eventId) => {
          if (eventId !== undefined) {
            if (seen.has(eventId)) return false;
            seen.add(eventId);
            if (seen.size > MAX_SEEN_IDS) seen.delete(seen.values().next().value!);
          }
          received++;
          handle(options, value);
          return false;
        });
        // The id goes back in a header: only a sane one (the upstream's bytes are hostile).
        if (isSafeEventId(outcome.lastEventId)) lastEventId = outcome.lastEventId;
        if (received > 0) wait = options.backoffMs.initial;
        await backOff(outcome.retryMs ?? wait);
      } catch (error) {
        if (signal.aborted) break;
        log.warn(`Upstream "${target.name}" GET stream: ${describe(error)}`);
        await backOff(wait);
      }
    }
  })();
  return {
    async stop() {
      controller.abort();
      await done;
    },
  };
}

function handle(options: ListenOptions, value: unknown): void {
  const classified = classifyMessage(value);
  if (classified.kind === "notification") options.onNotification(classified.message);
  else if (classified.kind === "request") options.onRequest(classified.message);
  else if (classified.kind === "invalid") {
    options.log.warn(`Upstream "${options.target.name}" sent an invalid message on its GET stream`);
  }
}

function describe(error: unknown): string {
  return error instanceof UpstreamError ? error.message : "stream failed";
}
