/** An `UpstreamClient` for a stdio MCP server: one process shared by every gateway session. */
import type { Logger } from "../../../log.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../../jsonrpc.ts";
import {
  type UpstreamClient,
  UpstreamError,
  type UpstreamInfo,
  type UpstreamRequestOptions,
  type UpstreamStatus,
} from "../upstream.ts";
import {
  answerServerRequest,
  asUpstreamError,
  cancelledNotification,
  cancelReason,
  type ClientInfo,
  createBackground,
  createListenerSet,
  createRequestScope,
  delay,
  initializeParams,
  isReservedNotification,
  parseInitializeResult,
  raceAbort,
  type RequestScope,
  resultOf,
  scopeError,
  SHARED_PROCESS_CAPABILITIES,
} from "../upstream_common.ts";
import {
  childEnvironment,
  spawnStdioProcess,
  type StdioExit,
  type StdioProcess,
} from "./upstream_stdio_process.ts";
import {
  failAll,
  type ProcessCalls,
  type RouteHandlers,
  routeMessage,
  sendRequest,
} from "./upstream_stdio_calls.ts";

/** Options of `createStdioUpstream`. */
export interface StdioUpstreamOptions {
  /** The upstream's name in `upstreams:`. */
  readonly name: string;
  /** Program and arguments. */
  readonly command: readonly string[];
  /** Configured environment (the child gets only this plus PATH and HOME). */
  readonly env: Readonly<Record<string, string>>;
  /** Bound on spawn + `initialize`. */
  readonly startTimeoutMs: number;
  /** Longest accepted stdout line, in bytes (default 16 MiB). */
  readonly maxLineBytes?: number;
  /** Delay before restarting a dead process: doubles from `initial` to `max` (250 / 30000). */
  readonly restartBackoffMs?: { readonly initial: number; readonly max: number };
  /** Sent as `clientInfo` at `initialize`. */
  readonly clientInfo: ClientInfo;
  /** Operational log (the child's stderr goes here too). */
  readonly log: Logger;
  /** Answers server→client requests (roots, sampling, elicitation); absent = -32601. Hook for
   * the full relay: the process is shared, so the request is not tied to a gateway session. */
  readonly onServerRequest?: (request: JsonRpcRequest) => Promise<Record<string, unknown>>;
}

/** A process that stayed up this long resets the restart backoff. */
const STABLE_AFTER_MS = 30_000;
/** Grace between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000;

/** Creates a client that spawns `options.command` on first use (nothing runs yet). */
export function createStdioUpstream(options: StdioUpstreamOptions): UpstreamClient {
  const { name, log } = options;
  const backoff = options.restartBackoffMs ?? { initial: 250, max: 30_000 };
  const closed = new AbortController();
  const background = createBackground();
  const logError = (error: unknown) =>
    log.warn(
      `Upstream "${name}" listener failed: ${error instanceof Error ? error.name : "error"}`,
    );
  const listeners = createListenerSet(logError);
  let status: UpstreamStatus = "idle";
  let info: UpstreamInfo | undefined;
  let running: ProcessCalls | undefined;
  let starting: Promise<ProcessCalls> | undefined;
  let nextBackoff = backoff.initial;
  let restartAt = 0;
  let generation = 0;

  const routes: RouteHandlers = {
    name,
    log,
    onUnrelated: (notification) => listeners.emit(notification, null),
    onServerRequest: (request, run) =>
      background.track(
        answerServerRequest(request, options.onServerRequest).then((answer) =>
          run.alive ? run.process.send(answer) : undefined
        ),
      ),
    onCallbackError: logError,
  };

  function exited(run: ProcessCalls, exit: StdioExit): void {
    run.alive = false;
    const error = new UpstreamError(
      "unavailable",
      `Upstream "${name}" process exited (code ${exit.code}${
        exit.signal ? `, ${exit.signal}` : ""
      })`,
    );
    failAll(run, error);
    if (running === run) running = undefined;
    if (Date.now() - run.process.startedAt >= STABLE_AFTER_MS) nextBackoff = backoff.initial;
    scheduleRestart();
    status = "down";
    if (!closed.signal.aborted) {
      log.warn(`${error.message}; restart allowed in ${restartAt - Date.now()} ms`);
    }
  }

  function scheduleRestart(): void {
    restartAt = Date.now() + nextBackoff;
    nextBackoff = Math.min(nextBackoff * 2, backoff.max);
  }

  async function start(): Promise<ProcessCalls> {
    status = "starting";
    let child: StdioProcess;
    try {
      child = spawnStdioProcess({
        name,
        command: options.command,
        env: childEnvironment(options.env, (key) => Deno.env.get(key)),
        maxLineBytes: options.maxLineBytes ?? 16 * 1024 * 1024,
        log,
        onMessage: (value) => routeMessage(run, value, routes),
      });
    } catch (error) {
      status = "down";
      scheduleRestart();
      throw error;
    }
    const run: ProcessCalls = {
      process: child,
      pending: new Map(),
      nextId: 1,
      alive: true,
      generation: 0,
    };
    child.exited.then((exit) => exited(run, exit));
    const scope = createRequestScope({ timeoutMs: options.startTimeoutMs, closed: closed.signal });
    try {
      const params = initializeParams(options.clientInfo, SHARED_PROCESS_CAPABILITIES);
      const { answer } = sendRequest(run, { method: "initialize", params }, {});
      const response = await raceAbort(answer, scope.signal, () => new Error("start aborted"));
      const found = parseInitializeResult(name, resultOf(response));
      await child.send({ jsonrpc: "2.0", method: "notifications/initialized" });
      info = found;
      status = "up";
      run.generation = ++generation;
      running = run;
      return run;
    } catch (error) {
      await child.stop(KILL_GRACE_MS);
      status = "down";
      const why = scope.ended();
      if (why === "closed") throw scopeError(name, why, 0);
      if (why !== undefined) {
        throw new UpstreamError(
          "unavailable",
          `Upstream "${name}" did not initialize within ${options.startTimeoutMs} ms`,
        );
      }
      if (error instanceof UpstreamError) throw error;
      throw new UpstreamError("unavailable", `Upstream "${name}" failed to start`);
    } finally {
      scope.dispose();
    }
  }

  async function ensure(scope: RequestScope): Promise<ProcessCalls> {
    if (running?.alive) return running;
    if (starting === undefined) {
      const wait = restartAt - Date.now();
      if (wait > scope.remainingMs()) {
        throw new UpstreamError("unavailable", `Upstream "${name}" is restarting (in ${wait} ms)`);
      }
      await delay(wait, scope.signal);
      if (scope.ended() !== undefined) throw new Error("scope ended");
      if (running?.alive) return running;
    }
    if (starting === undefined) {
      const started = start();
      starting = started;
      const clear = () => {
        if (starting === started) starting = undefined;
      };
      started.then(clear, clear);
    }
    return await starting;
  }

  async function request(
    _key: string,
    method: string,
    params: Record<string, unknown> | undefined,
    requestOptions: UpstreamRequestOptions,
  ): Promise<Record<string, unknown>> {
    const scope = createRequestScope({
      timeoutMs: requestOptions.timeoutMs,
      signal: requestOptions.signal,
      closed: closed.signal,
    });
    const ended = () => scopeError(name, scope.ended() ?? "aborted", requestOptions.timeoutMs);
    let sent: { run: ProcessCalls; id: number } | undefined;
    try {
      const run = await raceAbort(ensure(scope), scope.signal, ended);
      const check = requestOptions.beforeSend?.(run.generation);
      if (check !== undefined) await raceAbort(check, scope.signal, ended);
      if (!run.alive) throw new UpstreamError("unavailable", `Upstream "${name}" process exited`);
      const meta = params?._meta as Record<string, unknown> | undefined;
      const token = meta?.progressToken;
      const { id, answer } = sendRequest(run, { method, params }, {
        onNotification: requestOptions.onNotification,
        progressToken: typeof token === "string" || typeof token === "number" ? token : undefined,
      });
      sent = { run, id };
      return resultOf(await raceAbort(answer, scope.signal, ended));
    } catch (error) {
      const why = scope.ended();
      if (why !== undefined) {
        if (sent?.run.alive && why !== "closed") {
          const notice = cancelledNotification(
            sent.id,
            cancelReason(why, requestOptions.timeoutMs),
          );
          background.track(sent.run.process.send(notice));
        }
        throw scopeError(name, why, requestOptions.timeoutMs);
      }
      throw asUpstreamError(name, log, error);
    } finally {
      if (sent !== undefined) sent.run.pending.delete(sent.id);
      scope.dispose();
    }
  }

  return {
    name,
    status: () => status,
    request: (key, method, params, requestOptions) => {
      if (closed.signal.aborted) return Promise.reject(scopeError(name, "closed", 0));
      return request(key, method, params, requestOptions);
    },
    async notify(_key, method, params) {
      const run = running;
      if (isReservedNotification(method) || run === undefined || !run.alive) return;
      const message: JsonRpcNotification = { jsonrpc: "2.0", method };
      if (params !== undefined) message.params = params;
      await run.process.send(message);
    },
    info: () => info,
    generation: () => generation,
    onNotification: (listener) => listeners.add(listener),
    closeSession: () => Promise.resolve(),
    async close() {
      closed.abort();
      await starting?.catch(() => {});
      const run = running;
      running = undefined;
      if (run !== undefined) await run.process.stop(KILL_GRACE_MS);
      await background.drain();
    },
  };
}
