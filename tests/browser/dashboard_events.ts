/** Audit events as the dashboard's store reads them, for the store's tests in Deno. */

/** One audit event. */
export type DashboardEvent = Record<string, unknown>;

/** An allowed `toolcall` event with id `id`, fields overridden by `extra`. */
export function dashboardEvent(id: string, extra: DashboardEvent = {}): DashboardEvent {
  return {
    event_id: id,
    timestamp: "2026-01-01T00:00:01Z",
    event: "toolcall",
    status: "allowed",
    reason_code: "ok",
    model_id: "m",
    tool_name: "t",
    latency_ms: 1,
    ...extra,
  };
}
