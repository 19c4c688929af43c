/** Holds the gateway state in force and swaps it whole on a good reload. */
import type { GatewayState } from "../pipeline.ts";
import type { LoadResult } from "./load.ts";

/** The outcome of one reload. */
export type ReloadResult =
  | { ok: true; at: number; version: string; rules: number }
  | { ok: false; at: number; errors: string[] };

/** The state in force, and the way to reload it. */
export interface StateStore {
  /** The state in force now. */
  readonly current: GatewayState;
  /** The last reload's outcome (the start-up load counts as the first). */
  readonly lastReload: ReloadResult;
  /** Loads again; a failed load keeps the current state. Reloads never overlap. */
  reload(): Promise<ReloadResult>;
}

/** Creates a store from a good initial state and a loader; `onReload` sees every outcome. */
export function createStateStore(options: {
  initial: GatewayState;
  load: () => Promise<LoadResult>;
  now: () => number;
  onReload?: (result: ReloadResult, state: GatewayState) => void;
}): StateStore {
  let current = options.initial;
  let lastReload: ReloadResult = {
    ok: true,
    at: options.now(),
    version: current.policy.version,
    rules: current.policy.rules.length,
  };
  let queue: Promise<unknown> = Promise.resolve();
  async function reloadNow(): Promise<ReloadResult> {
    let result: ReloadResult;
    try {
      const loaded = await options.load();
      if (loaded.ok) {
        current = loaded.state;
        result = {
          ok: true,
          at: options.now(),
          version: current.policy.version,
          rules: current.policy.rules.length,
        };
      } else {
        result = { ok: false, at: options.now(), errors: loaded.errors };
      }
    } catch (error) {
      result = {
        ok: false,
        at: options.now(),
        errors: [`Cannot reload: ${error instanceof Error ? error.message : String(error)}`],
      };
    }
    lastReload = result;
    options.onReload?.(result, current);
    return result;
  }
  return {
    get current() {
      return current;
    },
    get lastReload() {
      return lastReload;
    },
    reload() {
      const next = queue.then(reloadNow, reloadNow);
      queue = next;
      return next;
    },
  };
}
