/**
 * The gateway's own HTTP listener (effects, §12 "Connections"): accepts connections itself so it
 * can cap them, close idle, half-open and slow ones, survive running out of descriptors, and close
 * everything at shutdown. `Deno.serve` offers no accept hook and no timeouts, so each connection
 * is served under a table of deadlines either with `Deno.serveHttp` (the runtime's HTTP/1.1
 * parser, `HTTP_SERVER=deno`) or with the gateway's own server (`builtin`, src/http/h1/server.ts).
 */
import type { HttpServerKind } from "../config/config.ts";
import type { Logger } from "../log.ts";
import { type BodyWatch, drainUnreadBody, watchBody } from "./body_deadline.ts";
import { serveH1 } from "./h1/server.ts";
import {
  type ConnectionEntry,
  type ConnectionLimits,
  type ConnectionTable,
  createConnectionTable,
  defaultMaxConnections,
  parseOpenFilesLimit,
  sweepIntervalMs,
} from "./connection_limits.ts";

/** One request on a connection served by `Deno.serveHttp`. */
interface RequestEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}

/** A connection served by `Deno.serveHttp` (its types left the runtime's declarations in Deno 2). */
interface HttpConn {
  nextRequest(): Promise<RequestEvent | null>;
  close(): void;
}

/**
 * `Deno.serveHttp`: deprecated, but still in the runtime, and the only way in it to serve HTTP on a
 * connection this code accepted and can close (`Deno.serve` owns its accept loop and has no
 * timeouts). Read once; `serveConnections` refuses to start without it.
 */
const serveHttp = (Deno as unknown as { serveHttp?: (conn: Deno.Conn) => HttpConn }).serveHttp;

/** Connection bounds; `maxConnections` undefined = a share of the descriptor limit. */
export type ListenerLimits = Omit<ConnectionLimits, "maxConnections"> & {
  readonly maxConnections?: number;
};

/** A bound listening socket, or why it could not be bound. */
export type ListenResult =
  | { ok: true; listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr> }
  | { ok: false; error: string };

/** What a connection table entry closes. */
type Closable = { close(): void };

/** What `serveConnections` needs. */
export interface ServeConnectionsOptions {
  /** `builtin` (src/http/h1/server.ts, the default) or `deno` (`Deno.serveHttp`). */
  readonly server?: HttpServerKind;
  /**
   * Body bytes read for a request (a larger declared length is not read): the builtin server's
   * limit, and on the `deno` server what is read of a body the handler left unread.
   */
  readonly maxBodyBytes?: number;
  /** A listener from `listenTcp`. */
  readonly listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  /** Answers one request (a throw becomes a bare 500). */
  readonly handler: (request: Request) => Response | Promise<Response>;
  /** Timeouts and cap. */
  readonly limits: ListenerLimits;
  /** Monotonic milliseconds for deadlines; default `performance.now`. */
  readonly clock?: () => number;
  /** Operational log (accept errors, the cap being reached; rate-limited). */
  readonly log: Logger;
  /** The process's descriptor limit (see `readOpenFilesLimit`), for the default cap. */
  readonly fdLimit?: number;
}

/** A running listener. */
export interface ConnectionServer {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The cap in force. */
  readonly maxConnections: number;
  /** Connections open now. */
  readonly openConnections: number;
  /**
   * Stops accepting, closes connections waiting for a request and event streams to GETs at once,
   * lets requests in flight finish within `graceMs`, then closes whatever is left.
   */
  shutdown(graceMs: number): Promise<void>;
}

const LOG_EVERY_MS = 10_000;
const MAX_BACKOFF_MS = 1000;
const REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\n" +
    "x-content-type-options: nosniff\r\nretry-after: 1\r\ncontent-length: 21\r\n\r\n" +
    "too many connections\n",
);

/** Binds `hostname:port`; a failure is one line, e.g. `Cannot listen on 127.0.0.1:8080: address in use`. */
export function listenTcp(options: { hostname: string; port: number }): ListenResult {
  try {
    return { ok: true, listener: Deno.listen({ ...options, transport: "tcp" }) };
  } catch (error) {
    const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
    return { ok: false, error: `Cannot listen on ${host}:${options.port}: ${listenReason(error)}` };
  }
}

function listenReason(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) return "address in use";
  if (error instanceof Deno.errors.AddrNotAvailable) return "address not available on this host";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "not allowed (start with --allow-net)";
  return error instanceof Error ? error.message : String(error);
}

/**
 * The soft descriptor limit of this process (after the runtime raised it to the hard limit), or
 * undefined. Read from `/proc/self/limits` where allowed (Deno lets only `--allow-all` read
 * `/proc/self`), else from `sh -c "ulimit -n"` (a child inherits the limit; `--allow-run` is
 * already granted for stdio upstreams). Called once at start.
 */
export async function readOpenFilesLimit(): Promise<number | undefined> {
  try {
    const limit = parseOpenFilesLimit(await Deno.readTextFile("/proc/self/limits"));
    if (limit !== undefined) return limit;
  } catch { /* not Linux, or not allowed */ }
  try {
    const output = await new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    if (!output.success) return undefined;
    if (text === "unlimited") return Infinity;
    return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Serves `handler` on `listener` under the connection table's deadlines and cap. */
export function serveConnections(options: ServeConnectionsOptions): ConnectionServer {
  const { listener, handler, log } = options;
  const builtin = (options.server ?? "builtin") === "builtin";
  if (!builtin && serveHttp === undefined) {
    throw new Error("Cannot serve: this runtime has no Deno.serveHttp");
  }
  const clock = options.clock ?? (() => performance.now());
  const maxConnections = options.limits.maxConnections ?? defaultMaxConnections(options.fdLimit);
  const limits: ConnectionLimits = { ...options.limits, maxConnections };
  log.debug(
    `Connections: at most ${maxConnections} at once` +
      (options.limits.maxConnections === undefined
        ? ` (default for a descriptor limit of ${options.fdLimit ?? "unknown"})`
        : ""),
  );
  const table: ConnectionTable<Closable> = createConnectionTable(limits, { now: clock() });
  const warnAccept = rateLimitedWarning(log, clock);
  const warnFull = rateLimitedWarning(log, clock);
  let stopped = false;
  let drained: PromiseWithResolvers<void> | undefined;

  function close(entry: ConnectionEntry<Closable>): void {
    table.remove(entry);
    try {
      entry.handle.close();
    } catch { /* already closed */ }
    if (drained !== undefined && table.size === 0) drained.resolve();
  }

  const sweeper = setInterval(() => {
    for (const entry of table.sweep(clock()).close) close(entry);
  }, sweepIntervalMs(limits));
  Deno.unrefTimer(sweeper);

  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const serving = serveConnection({ table, handler, close, log, maxBodyBytes });
  const h1 = {
    table,
    handler,
    maxBodyBytes,
    localAuthority: authority(listener.addr),
    close,
    log,
  };
  const accepting = acceptLoop();

  async function acceptLoop(): Promise<void> {
    let backoff = 0;
    while (!stopped) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
        backoff = 0;
      } catch (error) {
        if (stopped) return;
        if (error instanceof Deno.errors.BadResource) {
          log.error(`Listener closed unexpectedly: ${(error as Error).message}`);
          return;
        }
        // EMFILE, ENFILE, ENOMEM, ECONNABORTED…: never fatal. Back off briefly, keep accepting.
        warnAccept(`Cannot accept connections: ${(error as Error).message}; retrying`);
        backoff = Math.min(MAX_BACKOFF_MS, backoff === 0 ? 10 : backoff * 2);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        continue;
      }
      if (table.full) {
        warnFull(`Connection limit reached (${maxConnections} open): refusing new connections`);
        refuse(conn);
        continue;
      }
      if (builtin) {
        void serveH1(h1, conn);
        continue;
      }
      let http: HttpConn;
      try {
        conn.setNoDelay(true); // SSE events and small answers go out at once, never held by Nagle
        http = serveHttp!(conn);
      } catch (error) {
        warnAccept(`Cannot serve a connection: ${(error as Error).message}`);
        closeQuietly(conn);
        continue;
      }
      const entry = table.open(http);
      if (entry === undefined) closeQuietly(http);
      else void serving(http, entry);
    }
  }

  return {
    addr: listener.addr,
    maxConnections,
    get openConnections() {
      return table.size;
    },
    async shutdown(graceMs) {
      if (drained !== undefined) return await drained.promise;
      stopped = true;
      drained = Promise.withResolvers<void>();
      closeQuietly(listener);
      await accepting;
      for (const entry of table.drain()) close(entry);
      if (table.size === 0) drained.resolve();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        drained.promise,
        new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
      for (const entry of [...table.entries()]) close(entry);
      clearInterval(sweeper);
      drained.resolve();
    },
  };
}

function authority(addr: Deno.NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** The per-connection request loop: one request at a time, phases kept in the table. */
function serveConnection(context: {
  table: ConnectionTable<Closable>;
  handler: (request: Request) => Response | Promise<Response>;
  close: (entry: ConnectionEntry<Closable>) => void;
  log: Logger;
  maxBodyBytes: number;
}): (http: HttpConn, entry: ConnectionEntry<Closable>) => Promise<void> {
  const { table, handler, close, log, maxBodyBytes } = context;
  return async (http, entry) => {
    let watch: BodyWatch | undefined;
    try {
      while (true) {
        const event = await http.nextRequest();
        if (event === null) break;
        const request = event.request;
        const method = request.method;
        const hasBody = method === "POST" || method === "PUT" || method === "PATCH";
        table.requestStarted(entry, hasBody);
        if (hasBody) {
          watch ??= {
            wait: (onTimeout) => void (entry.onBodyTimeout = onTimeout),
            done: () => table.bodyDone(entry),
          };
          watchBody(request, watch);
        }
        let response: Response;
        try {
          response = await handler(request);
        } catch (error) {
          log.error(`Handler failed: ${(error as Error).message}`);
          response = new Response("Internal Server Error", { status: 500 });
        }
        let whole = true;
        if (hasBody && !request.bodyUsed) {
          // A refusal answered before its body arrived (§12): read the body first (bounded, under
          // the body deadline), or HTTP/2 resets a stream the client is still sending on.
          whole = await drainUnreadBody(request, { limit: maxBodyBytes, watch });
        }
        // The runtime writes the answer from its own copy of the headers: a `SecuredResponse`
        // builds them (security headers included) when they are first read.
        const headers = response.headers;
        if (request.headers.has("accept-encoding")) keepUncompressed(headers);
        table.responseStarted(entry, method === "GET" && isEventStream(response));
        await event.respondWith(response);
        if (!table.responseDone(entry) || !whole) break;
      }
    } catch {
      // The client went away, sent something the parser refused, or the connection was closed.
    } finally {
      close(entry);
    }
  };
}

/**
 * `Deno.serveHttp` compresses answers by itself when the client accepts it (`Deno.serve` does
 * not): costly per request (a compressor's state for a few hundred bytes) and a change of
 * behaviour. `no-transform` is the one switch it honours.
 */
function keepUncompressed(headers: Headers): void {
  try {
    const cacheControl = headers.get("cache-control");
    if (cacheControl === null) headers.set("cache-control", "no-transform");
    else if (!cacheControl.includes("no-transform")) {
      headers.set("cache-control", `${cacheControl}, no-transform`);
    }
  } catch { /* immutable headers: left as they are */ }
}

function isEventStream(response: Response): boolean {
  return response.headers.get("content-type")?.startsWith("text/event-stream") === true;
}

/** Refusals being written at once; past this a refused connection is closed without a word, so
 * that a flood cannot hold more descriptors than the cap plus this. */
const MAX_PENDING_REFUSALS = 32;
let pendingRefusals = 0;

function refuse(conn: Deno.Conn): void {
  if (pendingRefusals >= MAX_PENDING_REFUSALS) return closeQuietly(conn);
  pendingRefusals++;
  conn.write(REFUSAL).catch(() => 0).finally(() => {
    pendingRefusals--;
    closeQuietly(conn);
  });
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch { /* already closed */ }
}

/** A warning printed at most once per 10 s, with the count of the ones held back. */
function rateLimitedWarning(log: Logger, clock: () => number): (message: string) => void {
  let last = -Infinity;
  let held = 0;
  return (message) => {
    const now = clock();
    if (now - last < LOG_EVERY_MS) {
      held++;
      return;
    }
    log.warn(held > 0 ? `${message} (${held} similar messages held back)` : message);
    last = now;
    held = 0;
  };
}
