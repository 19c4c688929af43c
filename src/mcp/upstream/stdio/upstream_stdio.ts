/** An `UpstreamClient` for a stdio MCP server: one process shared by every gateway session. */
import type { Logger } from "../../../log.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../../jsonrpc.ts";
import { type UpstreamClient, UpstreamError, type UpstreamRequestOptions } from "../upstream.ts";
import {
  answerServerRequest,
  asUpstreamError,
  cancelledNotification,
  cancelReason,
  createBackground,
  createListenerSet,
  createRequestScope,
  isReservedNotification,
  raceAbort,
  resultOf,
  scopeError,
} from "../upstream_common.ts";
import { type ProcessCalls, type RouteHandlers, sendRequest } from "./upstream_stdio_calls.ts";
import { StdioLifecycle, type StdioStartOptions } from "./upstream_stdio_lifecycle.ts";

/** Options of `createStdioUpstream`. */
export interface StdioUpstreamOptions extends StdioStartOptions {
  /** The upstream's name in `upstreams:`. */
  readonly name: string;
  /** Operational log (the child's stderr goes here too). */
  readonly log: Logger;
  /** Answers server→client requests (roots, sampling, elicitation); absent = -32601. Hook for
   * the full relay: the process is shared, so the request is not tied to a gateway session. */
  readonly onServerRequest?: (request: JsonRpcRequest) => Promise<Record<string, unknown>>;
}

/** Creates a client that spawns `options.command` on first use (nothing runs yet). */
export function createStdioUpstream(options: StdioUpstreamOptions): UpstreamClient {
  const { name, log } = options;
  const closed = new AbortController();
  const background = createBackground();
  const logError = (error: unknown) =>
    log.warn(
      `Upstream "${name}" listener failed: ${error instanceof Error ? error.name : "error"}`,
    );
  const listeners = createListenerSet(logError);

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

  const lifecycle = new StdioLifecycle({
    name,
    log,
    command: options.command,
    env: options.env,
    startTimeoutMs: options.startTimeoutMs,
    maxLineBytes: options.maxLineBytes,
    restartBackoffMs: options.restartBackoffMs,
    clientInfo: options.clientInfo,
    closed: closed.signal,
    routes,
  });

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
      const run = await raceAbort(lifecycle.ensure(scope), scope.signal, ended);
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
    status: () => lifecycle.status,
    request: (key, method, params, requestOptions) => {
      if (closed.signal.aborted) return Promise.reject(scopeError(name, "closed", 0));
      return request(key, method, params, requestOptions);
    },
    async notify(_key, method, params) {
      const run = lifecycle.running;
      if (isReservedNotification(method) || run === undefined || !run.alive) return;
      const message: JsonRpcNotification = { jsonrpc: "2.0", method };
      if (params !== undefined) message.params = params;
      await run.process.send(message);
    },
    info: () => lifecycle.info,
    generation: () => lifecycle.generation,
    onNotification: (listener) => listeners.add(listener),
    closeSession: () => Promise.resolve(),
    async close() {
      closed.abort();
      await lifecycle.stop();
      await background.drain();
    },
  };
}
