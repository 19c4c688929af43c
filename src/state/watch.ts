/** Watches the policy file and schema directory and calls back once writes settle (effect). */
import { basename, dirname, resolve } from "node:path";

/** Stops watching. */
export type StopWatching = () => void;

/**
 * Watches `policyPath` (through its directory, so editors that replace the file by renaming
 * are seen) and `schemaDir`; calls `onChange` `debounceMs` after the last relevant event.
 */
export function watchSources(options: {
  policyPath: string;
  schemaDir?: string;
  debounceMs: number;
  onChange: () => void;
  onError: (message: string) => void;
}): StopWatching {
  const policyFile = resolve(options.policyPath);
  const policyDir = dirname(policyFile);
  const schemaDir = options.schemaDir ? resolve(options.schemaDir) : undefined;
  const paths = [policyDir];
  if (schemaDir && schemaDir !== policyDir) paths.push(schemaDir);
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(paths, { recursive: false });
  } catch (error) {
    options.onError(
      `Cannot watch "${paths.join('", "')}": ${error instanceof Error ? error.message : error}`,
    );
    return () => {};
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const relevant = (path: string) =>
    path === policyFile || basename(path) === basename(policyFile) ||
    (schemaDir !== undefined && dirname(path) === schemaDir && path.endsWith(".json"));
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access" || !event.paths.some(relevant)) continue;
        clearTimeout(timer);
        timer = setTimeout(options.onChange, options.debounceMs);
      }
    } catch (error) {
      options.onError(`File watching stopped: ${error instanceof Error ? error.message : error}`);
    }
  })();
  return () => {
    clearTimeout(timer);
    try {
      watcher.close();
    } catch {
      // already closed
    }
  };
}
