/**
 * Where held calls live (§15): this process (the default) or Redis (§13, every replica sees
 * them). Every transition is atomic and happens once: a second decision, a replayed or
 * mismatched approval is refused. A policy reload never touches the store.
 */
import {
  type ApprovalBinding,
  type ApprovalDecision,
  type ApprovalRecord,
  bindingMismatch,
  effectiveState,
  MAX_PENDING_APPROVALS,
  MAX_PENDING_PER_AGENT,
  useDeadline,
} from "./approval.ts";

/** A refused transition: why, and the record as it stands (when there is one). */
export interface ApprovalRefusal {
  readonly ok: false;
  /** Human-readable reason (`approval x was already approved`). */
  readonly reason: string;
  /** The record as it stands. */
  readonly record?: ApprovalRecord;
}

/** A transition's result: the record after it, or a refusal. */
export type ApprovalResult =
  | { readonly ok: true; readonly record: ApprovalRecord }
  | ApprovalRefusal;

/** The approvals store; every call rejects when the store does not answer (Redis down). */
export interface ApprovalStore {
  /** `memory` or `redis`. */
  readonly kind: "memory" | "redis";
  /** Stores a new pending approval; refused past the pending limits. */
  create(record: ApprovalRecord, now: number): Promise<ApprovalResult>;
  /** The record, or undefined when unknown or forgotten. */
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** Pending approvals as of `now`, oldest first. */
  pending(now: number): Promise<ApprovalRecord[]>;
  /** Approvals still marked pending though past their deadline (nobody settled them yet). */
  overdue(now: number): Promise<ApprovalRecord[]>;
  /** pending → approved | denied; refused when not pending (or past its deadline). */
  decide(id: string, decision: ApprovalDecision): Promise<ApprovalResult>;
  /** approved → used, for exactly the call it was given for; refused otherwise. */
  consume(id: string, call: ApprovalBinding, now: number): Promise<ApprovalResult>;
  /** pending → expired | withdrawn (the waiting call timed out or was cancelled). */
  settle(id: string, to: "expired" | "withdrawn", now: number): Promise<ApprovalResult>;
  /** Calls `listener` when the record changes (here or, with Redis, on another replica). */
  watch(id: string, listener: () => void): () => void;
  /** Stops listening (Redis). */
  close(): void;
}

/** Options of the stores. */
export interface ApprovalStoreOptions {
  /** APPROVAL_TIMEOUT_MS: how long an approval waits, and how long an approved one stays usable. */
  readonly timeoutMs: number;
  /** Pending approvals at once (default `MAX_PENDING_APPROVALS`). */
  readonly maxPending?: number;
  /** Pending approvals of one agent at once (default `MAX_PENDING_PER_AGENT`). */
  readonly maxPerAgent?: number;
}

/** How long a record is kept after its deadline, so its outcome can still be read and used. */
export function keepMs(timeoutMs: number): number {
  return 2 * timeoutMs + 60_000;
}

/** The rule of `decide` on a record as it stands; shared by both stores. */
export function decideTransition(
  record: ApprovalRecord | undefined,
  id: string,
  decision: ApprovalDecision,
): ApprovalResult {
  if (record === undefined) return { ok: false, reason: `no approval ${id}` };
  const state = effectiveState(record, decision.at);
  if (state !== "pending") {
    return { ok: false, reason: `approval ${id} is already ${state}`, record };
  }
  return {
    ok: true,
    record: {
      ...record,
      state: decision.decision === "approve" ? "approved" : "denied",
      decided: decision,
    },
  };
}

/** The rule of `consume` on a record as it stands; shared by both stores. */
export function consumeTransition(
  record: ApprovalRecord | undefined,
  options: { id: string; call: ApprovalBinding; now: number; timeoutMs: number },
): ApprovalResult {
  const { id, call, now } = options;
  if (record === undefined) return { ok: false, reason: `no approval ${id}` };
  const state = effectiveState(record, now);
  if (state !== "approved") {
    return { ok: false, reason: `approval ${id} is ${state}, not approved and unused`, record };
  }
  if (now > useDeadline(record, options.timeoutMs)) {
    return { ok: false, reason: `approval ${id} was not used in time`, record };
  }
  const mismatch = bindingMismatch(record, call);
  if (mismatch !== undefined) {
    return {
      ok: false,
      reason: `approval ${id} cannot be used for this call: ${mismatch}`,
      record,
    };
  }
  return { ok: true, record: { ...record, state: "used", usedAt: now } };
}

/** Listeners per approval id: told when that approval changes (the waiting call looks again). */
export interface ApprovalWatchers {
  /** Calls every listener of `id`. */
  notify(id: string): void;
  /** Every id someone listens to. */
  ids(): IterableIterator<string>;
  /** Adds a listener of `id`; returns its removal. */
  watch(id: string, listener: () => void): () => void;
}

/** An empty set of watchers (both stores use it). */
export function createWatchers(): ApprovalWatchers {
  const watchers = new Map<string, Set<() => void>>();
  return {
    notify(id) {
      for (const listener of watchers.get(id) ?? []) listener();
    },
    ids: () => watchers.keys(),
    watch(id, listener) {
      let set = watchers.get(id);
      if (set === undefined) watchers.set(id, set = new Set());
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) watchers.delete(id);
      };
    },
  };
}

/** The in-memory store: one process; bounded, records forgotten `keepMs` after their deadline. */
export function createMemoryApprovals(options: ApprovalStoreOptions): ApprovalStore {
  const maxPending = options.maxPending ?? MAX_PENDING_APPROVALS;
  const maxPerAgent = options.maxPerAgent ?? MAX_PENDING_PER_AGENT;
  const keep = keepMs(options.timeoutMs);
  const records = new Map<string, ApprovalRecord>();
  const watchers = createWatchers();
  const notify = watchers.notify;
  const forgetOld = (now: number) => {
    // Insertion order is creation order: the oldest are first.
    for (const [id, record] of records) {
      if (record.deadline + keep >= now) break;
      records.delete(id);
    }
  };
  const put = (result: ApprovalResult): ApprovalResult => {
    if (result.ok) {
      records.set(result.record.id, result.record);
      notify(result.record.id);
    }
    return result;
  };
  return {
    kind: "memory",
    create(record, now) {
      forgetOld(now);
      let pending = 0;
      let mine = 0;
      for (const held of records.values()) {
        if (effectiveState(held, now) !== "pending") continue;
        pending++;
        if (held.agentId === record.agentId) mine++;
      }
      if (pending >= maxPending) {
        return Promise.resolve({
          ok: false,
          reason: `${maxPending} calls already wait for approval`,
        });
      }
      if (mine >= maxPerAgent) {
        return Promise.resolve({
          ok: false,
          reason: `${maxPerAgent} calls of this agent already wait for approval`,
        });
      }
      records.set(record.id, record);
      return Promise.resolve({ ok: true, record });
    },
    get: (id) => Promise.resolve(records.get(id)),
    pending(now) {
      forgetOld(now);
      return Promise.resolve(
        [...records.values()].filter((record) => effectiveState(record, now) === "pending"),
      );
    },
    overdue(now) {
      return Promise.resolve(
        [...records.values()].filter((record) =>
          record.state === "pending" && effectiveState(record, now) === "expired"
        ),
      );
    },
    decide: (id, decision) => Promise.resolve(put(decideTransition(records.get(id), id, decision))),
    consume: (id, call, now) =>
      Promise.resolve(
        put(consumeTransition(records.get(id), { id, call, now, timeoutMs: options.timeoutMs })),
      ),
    settle(id, to) {
      const record = records.get(id);
      if (record === undefined) return Promise.resolve({ ok: false, reason: `no approval ${id}` });
      if (record.state !== "pending") {
        return Promise.resolve({
          ok: false,
          reason: `approval ${id} is already ${record.state}`,
          record,
        });
      }
      return Promise.resolve(put({ ok: true, record: { ...record, state: to } }));
    },
    watch: watchers.watch,
    close() {},
  };
}
