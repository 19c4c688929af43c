/** Remembers when keys were last used and hands back the idle ones. Clock passed in. */

/** A last-use table with idle expiry. */
export interface IdleKeys {
  /** Marks `key` used at `now`. */
  touch(key: string, now: number): void;
  /** Removes and returns every key idle for `idleMs` or more. */
  expire(now: number): string[];
  /** Number of keys tracked. */
  readonly size: number;
}

/** Creates an empty table; keys idle for `idleMs` expire. */
export function createIdleKeys(idleMs: number): IdleKeys {
  const lastUse = new Map<string, number>();
  return {
    touch(key, now) {
      lastUse.delete(key);
      lastUse.set(key, now);
    },
    expire(now) {
      const expired: string[] = [];
      for (const [key, at] of lastUse) {
        if (now - at < idleMs) break;
        lastUse.delete(key);
        expired.push(key);
      }
      return expired;
    },
    get size() {
      return lastUse.size;
    },
  };
}
