/** Server processes under test: start, wait for their port, read their memory, stop (effects). */

/** A running server process. */
export interface ServerProcess {
  /** Short name, for messages. */
  readonly name: string;
  /** Its loopback port. */
  readonly port: number;
  /** Its process id. */
  readonly pid: number;
  /** Resident memory now and at its peak, in MiB (null where /proc is not available). */
  memory(): Promise<{ rssMb: number; peakMb: number } | null>;
  /** The last few KiB of its stdout and stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

/** How to start one server. */
export interface ServerOptions {
  /** Short name, for messages. */
  readonly name: string;
  /** Arguments of `deno`. */
  readonly args: readonly string[];
  /** Environment (only PATH, HOME and Deno's cache variables are inherited besides). */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory. */
  readonly cwd: string;
  /** Matches the line announcing the port; its first group is the port. */
  readonly ready: RegExp;
  /** Bound on start-up. */
  readonly timeoutMs?: number;
  /** Also append everything the process prints to this file. */
  readonly logPath?: string;
}

const KEEP_CHARS = 16_384;
const INHERITED = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NO_COLOR"];

/** Starts `deno <args>` and resolves once `ready` matches its output. */
export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [...options.args],
    env: { ...env, NO_COLOR: "1", ...options.env },
    clearEnv: true,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const port = Promise.withResolvers<number>();
  const log = options.logPath === undefined
    ? undefined
    : await Deno.open(options.logPath, { create: true, append: true });
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      for (let done = 0; log && done < chunk.length;) {
        done += await log.write(chunk.subarray(done));
      }
      text = (text + decoder.decode(chunk, { stream: true })).slice(-KEEP_CHARS);
      const match = options.ready.exec(text);
      if (match) port.resolve(Number(match[1]));
    }
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]).catch(() => {})
    .finally(() => log?.close());
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(
    () => port.reject(new Error(`Cannot start ${options.name}: not ready in ${timeoutMs} ms`)),
    timeoutMs,
  );
  child.status.then((status) =>
    port.reject(new Error(`Cannot start ${options.name}: exited with ${status.code}\n${text}`))
  );
  let stopping: Promise<number> | undefined;
  const stop = (graceMs = 10_000): Promise<number> => {
    stopping ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, graceMs);
      const status = await child.status;
      clearTimeout(killer);
      await drained;
      return status.code;
    })();
    return stopping;
  };
  let listening: number;
  try {
    listening = await port.promise;
  } catch (error) {
    await stop(1000);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    name: options.name,
    port: listening,
    pid: child.pid,
    memory: () => readMemory(child.pid),
    output: () => text,
    stop,
  };
}

/** VmRSS and VmHWM of a process from /proc, in MiB; null when unavailable. */
export async function readMemory(pid: number): Promise<{ rssMb: number; peakMb: number } | null> {
  let status: string;
  try {
    status = await Deno.readTextFile(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  const rss = kb("VmRSS");
  const peak = kb("VmHWM");
  if (!Number.isFinite(rss)) return null;
  return { rssMb: rss / 1024, peakMb: Number.isFinite(peak) ? peak / 1024 : rss / 1024 };
}
