/** One stdio MCP server process: clean environment, newline-delimited JSON in and out. */
import { concatBytes } from "../../../bytes.ts";
import type { Logger } from "../../../log.ts";
import { UpstreamError } from "../upstream.ts";
import { truncate } from "../upstream_common.ts";

/** Longest stderr line logged, in characters. */
const STDERR_LINE_CHARS = 2048;
/** How long to wait for the pipes to drain once the process has exited. */
const DRAIN_MS = 1_000;

/** Options of `spawnStdioProcess`. */
export interface StdioProcessOptions {
  /** The upstream's name (log prefix, messages). */
  readonly name: string;
  /** Program and arguments. */
  readonly command: readonly string[];
  /** The child's whole environment (see `childEnvironment`). */
  readonly env: Readonly<Record<string, string>>;
  /** Longest accepted stdout line, in bytes; longer lines are skipped. */
  readonly maxLineBytes: number;
  /** Operational log (stderr lines go here). */
  readonly log: Logger;
  /** Called with every stdout line that parsed as JSON. */
  readonly onMessage: (value: unknown) => void;
}

/** How a process ended. */
export interface StdioExit {
  /** Exit code. */
  readonly code: number;
  /** The terminating signal, if any. */
  readonly signal: string | null;
}

/** A running child process. */
export interface StdioProcess {
  /** When it was spawned (epoch ms). */
  readonly startedAt: number;
  /** Writes one message as a line; rejects with `UpstreamError("unavailable")` if it cannot. */
  send(message: unknown): Promise<void>;
  /** Resolves once the process has exited and its output has been read. */
  readonly exited: Promise<StdioExit>;
  /** Closes stdin, sends SIGTERM, SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs: number): Promise<StdioExit>;
}

/** The child's environment: `PATH` and `HOME` from ours (when set) plus the configured `env`;
 * nothing else of the gateway's environment. */
export function childEnvironment(
  configured: Readonly<Record<string, string>>,
  get: (name: string) => string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME"]) {
    const value = get(name);
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...configured };
}

/** Spawns the process; a missing program or a refused spawn throws `UpstreamError("unavailable")`. */
export function spawnStdioProcess(options: StdioProcessOptions): StdioProcess {
  const { name, log } = options;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.command[0], {
      args: options.command.slice(1),
      env: { ...options.env },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? `command "${options.command[0]}" not found`
      : error instanceof Deno.errors.PermissionDenied
      ? `permission denied for "${options.command[0]}"`
      : "spawn failed";
    throw new UpstreamError("unavailable", `Cannot start upstream "${name}": ${why}`);
  }
  const startedAt = Date.now();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  const readers = [
    readLines(child.stdout, options.maxLineBytes, (line, skipped) => {
      if (skipped) {
        log.warn(
          `Upstream "${name}" wrote a line longer than ${options.maxLineBytes} bytes (skipped)`,
        );
        return;
      }
      const text = new TextDecoder().decode(line).replace(/\r$/, "");
      if (text.trim() === "") return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        log.warn(`Upstream "${name}" wrote a non-JSON line (skipped): ${truncate(text, 200)}`);
        return;
      }
      options.onMessage(value);
    }),
    readLines(child.stderr, STDERR_LINE_CHARS * 4, (line) => {
      const text = new TextDecoder().decode(line).replace(/\r$/, "");
      if (text !== "") log.info(`[upstream ${name}] ${truncate(text, STDERR_LINE_CHARS)}`);
    }),
  ];
  const exited = (async (): Promise<StdioExit> => {
    const status = await child.status;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = Promise.all(readers.map((reader) => reader.done));
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, DRAIN_MS));
    await Promise.race([drained, late]);
    clearTimeout(timer);
    for (const reader of readers) await reader.cancel();
    await writer.close().catch(() => {});
    return { code: status.code, signal: status.signal };
  })();

  return {
    startedAt,
    exited,
    async send(message) {
      try {
        await writer.write(encoder.encode(`${JSON.stringify(message)}\n`));
      } catch {
        throw new UpstreamError("unavailable", `Upstream "${name}" process is not accepting input`);
      }
    },
    async stop(graceMs) {
      await Promise.race([writer.close().catch(() => {}), exited]);
      kill(child, "SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const escalate = new Promise<void>((resolve) =>
        timer = setTimeout(() => {
          kill(child, "SIGKILL");
          resolve();
        }, graceMs)
      );
      const result = await Promise.race([exited, escalate.then(() => exited)]);
      clearTimeout(timer);
      return result;
    },
  };
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // already exited
  }
}

interface LineReader {
  readonly done: Promise<void>;
  cancel(): Promise<void>;
}

/** Splits a byte stream into lines (LF), bounding each line; `skipped` marks overlong lines. */
function readLines(
  stream: ReadableStream<Uint8Array>,
  maxLineBytes: number,
  onLine: (line: Uint8Array, skipped: boolean) => void,
): LineReader {
  const reader = stream.getReader();
  let parts: Uint8Array[] = [];
  let size = 0;
  let overlong = false;
  const finishLine = (tail: Uint8Array) => {
    if (overlong || size + tail.length > maxLineBytes) {
      onLine(new Uint8Array(), true);
    } else {
      onLine(concatBytes([...parts, tail], size + tail.length), false);
    }
    parts = [];
    size = 0;
    overlong = false;
  };
  const done = (async () => {
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        let start = 0;
        for (
          let newline = value.indexOf(0x0a);
          newline !== -1;
          newline = value.indexOf(0x0a, start)
        ) {
          finishLine(value.subarray(start, newline));
          start = newline + 1;
        }
        if (start < value.length && !overlong) {
          const rest = value.slice(start);
          size += rest.length;
          if (size > maxLineBytes) {
            overlong = true;
            parts = [];
          } else parts.push(rest);
        }
      }
    } catch {
      // the pipe broke: the process is gone
    }
  })();
  return {
    done,
    async cancel() {
      await reader.cancel().catch(() => {});
      await done;
    },
  };
}
