/** Watches the policy file and schema directory and calls back once writes settle (effect). */
import { basename, dirname, resolve } from "node:path";

/** Stops watching. */
export type StopWatching = () => void;

/** What `Deno.watchFs` returns, as far as the watcher uses it (replaceable in tests). */
export interface FsEventSource extends AsyncIterable<Deno.FsEvent> {
  /** Stops the source; its iteration then ends. */
  close(): void;
}

/** Options of `watchSources`. */
export interface WatchSourcesOptions {
  /** The policy file (watched through its directory). */
  policyPath: string;
  /** The schema directory, if on disk. */
  schemaDir?: string;
  /** Quiet time after the last relevant event before `onChange`. */
  debounceMs: number;
  /** Called when the watched files changed. */
  onChange: () => void;
  /** Operational problems (watching failed, stopped, re-armed). */
  onError: (message: string) => void;
  /** Creates the event source; default `Deno.watchFs(paths, { recursive: false })`. */
  watchFs?: (paths: string[]) => FsEventSource;
  /** Delay before the first re-arm after watching stopped, doubled up to 30 s; default 250 ms. */
  rearmMs?: number;
}

const MAX_REARM_MS = 30_000;

/**
 * Watches `policyPath` (through its directory, so editors that replace the file by renaming
 * are seen) and `schemaDir`; calls `onChange` `debounceMs` after the last relevant event.
 * Watching that stops (the event stream ends or throws, or cannot be created) is logged and
 * re-armed with backoff; a policy file changed while nobody watched is reloaded on re-arm.
 */
export function watchSources(options: WatchSourcesOptions): StopWatching {
  const policyFile = resolve(options.policyPath);
  const policyDir = dirname(policyFile);
  const schemaDir = options.schemaDir ? resolve(options.schemaDir) : undefined;
  const paths = [policyDir];
  if (schemaDir && schemaDir !== policyDir) paths.push(schemaDir);
  const watchFs = options.watchFs ??
    ((watched: string[]) => Deno.watchFs(watched, { recursive: false }));
  const firstDelay = Math.max(1, options.rearmMs ?? 250);
  let delay = firstDelay;
  let stopped = false;
  let watcher: FsEventSource | null = null;
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let rearm: ReturnType<typeof setTimeout> | undefined;
  let armedStamp: string | null = null;
  const relevant = (path: string) =>
    path === policyFile || basename(path) === basename(policyFile) ||
    (schemaDir !== undefined && dirname(path) === schemaDir && path.endsWith(".json"));

  async function stamp(): Promise<string | null> {
    try {
      const info = await Deno.stat(policyFile);
      return `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    } catch {
      return null;
    }
  }

  function retry(why: string): void {
    watcher = null;
    if (stopped) return;
    options.onError(`File watching stopped (${why}): re-arming in ${delay} ms`);
    rearm = setTimeout(() => arm(true), delay);
    Deno.unrefTimer(rearm);
    delay = Math.min(MAX_REARM_MS, delay * 2);
  }

  function arm(again: boolean): void {
    if (stopped) return;
    let source: FsEventSource;
    try {
      source = watchFs(paths);
    } catch (error) {
      return retry(`cannot watch "${paths.join('", "')}": ${describe(error)}`);
    }
    watcher = source;
    void (async () => {
      const before = armedStamp;
      armedStamp = await stamp();
      if (!again || stopped) return;
      options.onError(`File watching re-armed on "${paths.join('", "')}"`);
      if (armedStamp !== before) schedule(); // changed while nobody watched
    })();
    void consume(source);
  }

  async function consume(source: FsEventSource): Promise<void> {
    try {
      for await (const event of source) {
        delay = firstDelay; // events flow again: the next failure starts the backoff anew
        if (event.kind === "access" || !event.paths.some(relevant)) continue;
        schedule();
      }
      retry("the event stream ended");
    } catch (error) {
      retry(describe(error));
    }
  }

  function schedule(): void {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      void stamp().then((now) => armedStamp = now); // what the reload is about to read
      options.onChange();
    }, options.debounceMs);
  }

  arm(false);
  return () => {
    stopped = true;
    clearTimeout(debounce);
    clearTimeout(rearm);
    try {
      watcher?.close();
    } catch {
      // already closed
    }
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
