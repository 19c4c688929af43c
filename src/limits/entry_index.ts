// Where the limiter's records are: agent → scope → group, each group holding its sessions'
// records and its per_model record. The scope is the rule's model glob in agents mode and the
// declared model id in open identity mode (agent null); see limiter.ts. Nesting the maps (instead of joining the ids into one key
// string) makes the keys unambiguous by construction, whatever the ids contain, and a lookup
// hashes the ids as they came, with no string built per call.

import { createRecordStore, type RecordStore } from "./records.ts";

/** The entries of one (agent, scope). */
export interface Group {
  /** Session id → record slot (session cap and per_session window). */
  readonly sessions: Map<string, number>;
  /** Record slot of the per_model window; -1 when there is none. */
  modelSlot: number;
}

/** The limiter's entries and their records. */
export interface EntryIndex {
  /** The counter records. */
  readonly records: RecordStore;
  /** The (agent, scope) group, if it has an entry; agent null = open identity mode. */
  find(agentId: string | null, scope: string): Group | undefined;
  /** The (agent, scope) group, created empty if absent (give it an entry before yielding). */
  ensure(agentId: string | null, scope: string): Group;
  /** Adds a session entry to the group (the session must be absent); returns its record slot. */
  addSession(group: Group, sessionId: string): number;
  /** Adds the per_model entry to the group (it must have none); returns its record slot. */
  addModel(group: Group): number;
  /**
   * Visits at most `budget` entries, resuming where the last call stopped (a pass ends after
   * the last entry; the next call starts a new one), removing those idle at `now`. Returns how
   * many were removed.
   */
  sweep(now: number, budget: number): number;
  /** Number of entries (session entries plus per_model entries). */
  size(): number;
}

/** Creates an empty index; `capWindowMs` is the session-cap window length. */
export function createEntryIndex(capWindowMs: number): EntryIndex {
  const records = createRecordStore({ capWindowMs });
  const agents = new Map<string | null, Map<string, Group>>();
  let count = 0;
  let walker: Generator<undefined, void, undefined> | undefined;
  let sweepNow = 0;
  let removed = 0;

  const ensure = (agentId: string | null, scope: string): Group => {
    let models = agents.get(agentId);
    if (models === undefined) {
      models = new Map();
      agents.set(agentId, models);
    }
    let group = models.get(scope);
    if (group === undefined) {
      group = { sessions: new Map(), modelSlot: -1 };
      models.set(scope, group);
    }
    return group;
  };

  const addSession = (group: Group, sessionId: string): number => {
    const slot = records.alloc();
    group.sessions.set(sessionId, slot);
    count++;
    return slot;
  };

  const addModel = (group: Group): number => {
    group.modelSlot = records.alloc();
    count++;
    return group.modelSlot;
  };

  const drop = (slot: number): void => {
    records.release(slot);
    count--;
    removed++;
  };

  // One step per entry. Everything between two yields runs at once, so an emptiness check and
  // the delete that follows it cannot be separated by a `take`. Deleting from a Map while
  // iterating it is safe, and entries added meanwhile are visited later in the same pass.
  function* walk(): Generator<undefined, void, undefined> {
    for (const [agentId, models] of agents) {
      for (const [scope, group] of models) {
        // Keys only: no [key, value] pair allocated per entry (that is garbage by the million).
        for (const sessionId of group.sessions.keys()) {
          const slot = group.sessions.get(sessionId) ?? -1;
          if (slot >= 0 && records.idle(slot, sweepNow)) {
            group.sessions.delete(sessionId);
            drop(slot);
          }
          yield;
        }
        if (group.modelSlot >= 0) {
          if (records.idle(group.modelSlot, sweepNow)) {
            drop(group.modelSlot);
            group.modelSlot = -1;
          }
          yield;
        }
        if (group.sessions.size === 0 && group.modelSlot < 0) models.delete(scope);
      }
      if (models.size === 0) agents.delete(agentId);
    }
  }

  const sweep = (now: number, budget: number): number => {
    sweepNow = now;
    removed = 0;
    walker ??= walk();
    for (let seen = 0; seen < budget; seen++) {
      if (walker.next().done) {
        walker = undefined;
        break;
      }
    }
    if (count === 0) {
      // Give the memory of a burst back.
      agents.clear();
      records.clear();
      walker = undefined;
    }
    return removed;
  };

  return {
    records,
    find: (agentId, scope) => agents.get(agentId)?.get(scope),
    ensure,
    addSession,
    addModel,
    sweep,
    size: () => count,
  };
}
