/**
 * Resource subscriptions of the gateway's sessions (§12 "Per-agent quotas on state"): at most
 * `maxPerSession` URIs per session, freed when the session ends (`forget`), and — should an end
 * be missed — purged once the table has doubled, by asking which sessions are still live. Pure:
 * no I/O, no timers.
 */

/** Default cap of subscriptions per session. */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 100;

/** The subscription table. */
export interface SubscriptionTable {
  /** Subscribes a session to a URI: `added`, `held` (already subscribed) or `full` (cap reached). */
  add(sessionKey: string, uri: string): "added" | "held" | "full";
  /** Unsubscribes; true when it was subscribed. */
  remove(sessionKey: string, uri: string): boolean;
  /** Drops every subscription of a session (it ended); returns its URIs. */
  forget(sessionKey: string): string[];
  /** The sessions subscribed to a URI. */
  sessionsFor(uri: string): Iterable<string>;
  /** Number of subscriptions of one session. */
  countOf(sessionKey: string): number;
  /** Number of subscriptions in all. */
  readonly size: number;
}

/** Creates an empty table; `isLive` tells whether a session still exists (for the purge). */
export function createSubscriptionTable(options: {
  maxPerSession?: number;
  isLive: (sessionKey: string) => boolean;
  /** The purge runs when the table grows past this (then past twice what it kept). */
  purgeFloor?: number;
}): SubscriptionTable {
  const maxPerSession = options.maxPerSession ?? MAX_SUBSCRIPTIONS_PER_SESSION;
  const floor = options.purgeFloor ?? 4096;
  const bySession = new Map<string, Set<string>>();
  const byUri = new Map<string, Set<string>>();
  let size = 0;
  let purgeAt = floor;

  const unlink = (sessionKey: string, uri: string) => {
    const sessions = byUri.get(uri);
    sessions?.delete(sessionKey);
    if (sessions?.size === 0) byUri.delete(uri);
  };

  const forget = (sessionKey: string): string[] => {
    const uris = bySession.get(sessionKey);
    if (!uris) return [];
    bySession.delete(sessionKey);
    for (const uri of uris) unlink(sessionKey, uri);
    size -= uris.size;
    return [...uris];
  };

  const purge = () => {
    for (const sessionKey of [...bySession.keys()]) {
      if (!options.isLive(sessionKey)) forget(sessionKey);
    }
    purgeAt = Math.max(floor, size * 2);
  };

  return {
    add(sessionKey, uri) {
      let uris = bySession.get(sessionKey);
      if (uris?.has(uri)) return "held";
      if ((uris?.size ?? 0) >= maxPerSession) return "full";
      if (!uris) {
        uris = new Set();
        bySession.set(sessionKey, uris);
      }
      uris.add(uri);
      let sessions = byUri.get(uri);
      if (!sessions) {
        sessions = new Set();
        byUri.set(uri, sessions);
      }
      sessions.add(sessionKey);
      size++;
      if (size > purgeAt) purge();
      return "added";
    },
    remove(sessionKey, uri) {
      const uris = bySession.get(sessionKey);
      if (!uris?.delete(uri)) return false;
      if (uris.size === 0) bySession.delete(sessionKey);
      unlink(sessionKey, uri);
      size--;
      return true;
    },
    forget,
    sessionsFor: (uri) => byUri.get(uri) ?? [],
    countOf: (sessionKey) => bySession.get(sessionKey)?.size ?? 0,
    get size() {
      return size;
    },
  };
}
