/**
 * Remembers when keys were last used, per owner, and hands back the idle ones (§12 per-agent
 * quotas on state). Used for the decision API's upstream sessions: each owner (an agent, or the
 * open identity mode pool as null) holds at most `maxPerOwner` keys; past it the owner's least
 * recently used key is given back to be closed, never another owner's. Clock passed in.
 */

/** A last-use table with idle expiry and a quota per owner. */
export interface IdleKeys {
  /**
   * Marks `key` used at `now` by `owner` (default null, the open pool). Returns the owner's key
   * that had to go to keep it within its quota (its upstream session must be closed), if any.
   */
  touch(key: string, now: number, owner?: string | null): string | undefined;
  /** Removes and returns every key idle for `idleMs` or more. */
  expire(now: number): string[];
  /** Removes and returns every key of `owner` (an agent revoked by a reload). */
  dropOwner(owner: string | null): string[];
  /** The owners holding keys. */
  owners(): (string | null)[];
  /** Number of keys `owner` holds. */
  countFor(owner: string | null): number;
  /** Number of keys tracked. */
  readonly size: number;
}

/** Options of `createIdleKeys`. */
export interface IdleKeysOptions {
  /** Most keys of one agent (MAX_SESSIONS_PER_AGENT); default 1000. */
  readonly maxPerOwner?: number;
  /** Most keys of the open identity mode pool (owner null); default 100,000. */
  readonly maxOpenPool?: number;
}

/** Creates an empty table; keys idle for `idleMs` expire. */
export function createIdleKeys(idleMs: number, options: IdleKeysOptions = {}): IdleKeys {
  const maxPerOwner = options.maxPerOwner ?? 1000;
  const maxOpenPool = options.maxOpenPool ?? 100_000;
  // Owner → key → last use, least recently used first.
  const byOwner = new Map<string | null, Map<string, number>>();
  let size = 0;
  return {
    touch(key, now, owner = null) {
      let own = byOwner.get(owner);
      if (own === undefined) {
        own = new Map();
        byOwner.set(owner, own);
      }
      if (own.delete(key)) {
        own.set(key, now);
        return undefined;
      }
      own.set(key, now);
      size++;
      if (own.size <= (owner === null ? maxOpenPool : maxPerOwner)) return undefined;
      const oldest = own.keys().next().value!;
      own.delete(oldest);
      size--;
      return oldest;
    },
    expire(now) {
      const expired: string[] = [];
      for (const [owner, own] of byOwner) {
        for (const [key, at] of own) {
          if (now - at < idleMs) break;
          own.delete(key);
          expired.push(key);
        }
        if (own.size === 0) byOwner.delete(owner);
      }
      size -= expired.length;
      return expired;
    },
    dropOwner(owner) {
      const own = byOwner.get(owner);
      if (own === undefined) return [];
      byOwner.delete(owner);
      size -= own.size;
      return [...own.keys()];
    },
    owners: () => [...byOwner.keys()],
    countFor: (owner) => byOwner.get(owner)?.size ?? 0,
    get size() {
      return size;
    },
  };
}

/**
 * The upstream session key of a decision-API session: `api:<agent>:<session_id>`, the agent id
 * percent-encoded so that no `:` in it can make two (agent, session) pairs share a key (agent
 * `a` with session `b:c` and agent `a:b` with session `c` stay apart); empty in open mode.
 */
export function apiSessionKey(agentId: string | null, sessionId: string): string {
  return `api:${agentId === null ? "" : encodeURIComponent(agentId)}:${sessionId}`;
}
