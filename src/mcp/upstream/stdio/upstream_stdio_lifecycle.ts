/**
 * The one process of a stdio upstream: spawned and initialized on first use, shared by every
 * gateway session, restarted with backoff after it exits (each start bumps the generation).
 */
import type { Logger } from "../../../log.ts";
import { UpstreamError, type UpstreamInfo, type UpstreamStatus } from "../upstream.ts";
import {
  type ClientInfo,
  createRequestScope,
  delay,
  initializeParams,
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

/** How the process starts and restarts (options of the client). */
export interface StdioStartOptions {
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
}

/** What the lifecycle needs from its client. */
export interface StdioLifecycleDeps extends StdioStartOptions {
  /** The upstream's name in `upstreams:`. */
  readonly name: string;
  /** Operational log. */
  readonly log: Logger;
  /** Aborted when the client closes. */
  readonly closed: AbortSignal;
  /** Where the process's messages go. */
  readonly routes: RouteHandlers;
}

/** A process that stayed up this long resets the restart backoff. */
const STABLE_AFTER_MS = 30_000;
/** Grace between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000;

/** The shared process of one stdio upstream client and its state (nothing runs yet). */
export class StdioLifecycle {
  #deps: StdioLifecycleDeps;
  #backoff: { readonly initial: number; readonly max: number };
  #status: UpstreamStatus = "idle";
  #info: UpstreamInfo | undefined;
  #running: ProcessCalls | undefined;
  #starting: Promise<ProcessCalls> | undefined;
  #nextBackoff: number;
  #restartAt = 0;
  #generation = 0;

  /** The lifecycle of the process described by `deps`. */
  constructor(deps: StdioLifecycleDeps) {
    this.#deps = deps;
    this.#backoff = deps.restartBackoffMs ?? { initial: 250, max: 30_000 };
    this.#nextBackoff = this.#backoff.initial;
  }

  /** Current state. */
  get status(): UpstreamStatus {
    return this.#status;
  }

  /** What the process said at its (first) initialize; undefined before. */
  get info(): UpstreamInfo | undefined {
    return this.#info;
  }

  /** Processes initialized so far. */
  get generation(): number {
    return this.#generation;
  }

  /** The initialized process, if any (check `alive`: it may be exiting). */
  get running(): ProcessCalls | undefined {
    return this.#running;
  }

  /** The running process, started first when needed (concurrent callers share one start); waits
   * out the restart backoff when `scope` leaves time for it. */
  async ensure(scope: RequestScope): Promise<ProcessCalls> {
    const { name } = this.#deps;
    if (this.#running?.alive) return this.#running;
    if (this.#starting === undefined) {
      const wait = this.#restartAt - Date.now();
      if (wait > scope.remainingMs()) {
        throw new UpstreamError("unavailable", `Upstream "${name}" is restarting (in ${wait} ms)`);
      }
      await delay(wait, scope.signal);
      if (scope.ended() !== undefined) throw new Error("scope ended");
      if (this.#running?.alive) return this.#running;
    }
    if (this.#starting === undefined) {
      const started = this.#start();
      this.#starting = started;
      const clear = () => {
        if (this.#starting === started) this.#starting = undefined;
      };
      started.then(clear, clear);
    }
    return await this.#starting;
  }

  /** Waits for a start in progress, then stops the process (once `closed` has aborted). */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => {});
    const run = this.#running;
    this.#running = undefined;
    if (run !== undefined) await run.process.stop(KILL_GRACE_MS);
  }

  async #start(): Promise<ProcessCalls> {
    const deps = this.#deps;
    const { name, log } = deps;
    this.#status = "starting";
    let child: StdioProcess;
    try {
      child = spawnStdioProcess({
        name,
        command: deps.command,
        env: childEnvironment(deps.env, (key) => Deno.env.get(key)),
        maxLineBytes: deps.maxLineBytes ?? 16 * 1024 * 1024,
        log,
        onMessage: (value) => routeMessage(run, value, deps.routes),
      });
    } catch (error) {
      this.#status = "down";
      this.#scheduleRestart();
      throw error;
    }
    const run: ProcessCalls = {
      process: child,
      pending: new Map(),
      nextId: 1,
      alive: true,
      generation: 0,
    };
    child.exited.then((exit) => this.#exited(run, exit));
    const scope = createRequestScope({ timeoutMs: deps.startTimeoutMs, closed: deps.closed });
    try {
      const params = initializeParams(deps.clientInfo, SHARED_PROCESS_CAPABILITIES);
      const { answer } = sendRequest(run, { method: "initialize", params }, {});
      const response = await raceAbort(answer, scope.signal, () => new Error("start aborted"));
      const found = parseInitializeResult(name, resultOf(response));
      await child.send({ jsonrpc: "2.0", method: "notifications/initialized" });
      this.#info = found;
      this.#status = "up";
      run.generation = ++this.#generation;
      this.#running = run;
      return run;
    } catch (error) {
      await child.stop(KILL_GRACE_MS);
      this.#status = "down";
      const why = scope.ended();
      if (why === "closed") throw scopeError(name, why, 0);
      if (why !== undefined) {
        throw new UpstreamError(
          "unavailable",
          `Upstream "${name}" did not initialize within ${deps.startTimeoutMs} ms`,
        );
      }
      if (error instanceof UpstreamError) throw error;
      throw new UpstreamError("unavailable", `Upstream "${name}" failed to start`);
    } finally {
      scope.dispose();
    }
  }

  #exited(run: ProcessCalls, exit: StdioExit): void {
    const { name, log, closed } = this.#deps;
    run.alive = false;
    const error = new UpstreamError(
      "unavailable",
      `Upstream "${name}" process exited (code ${exit.code}${
        exit.signal ? `, ${exit.signal}` : ""
      })`,
    );
    failAll(run, error);
    if (this.#running === run) this.#running = undefined;
    if (Date.now() - run.process.startedAt >= STABLE_AFTER_MS) {
      this.#nextBackoff = this.#backoff.initial;
    }
    this.#scheduleRestart();
    this.#status = "down";
    if (!closed.aborted) {
      log.warn(`${error.message}; restart allowed in ${this.#restartAt - Date.now()} ms`);
    }
  }

  #scheduleRestart(): void {
    this.#restartAt = Date.now() + this.#nextBackoff;
    this.#nextBackoff = Math.min(this.#nextBackoff * 2, this.#backoff.max);
  }
}
