/** Catalog events (§5.6, §12): pins, ambiguous listings and name clashes, as audit fields. */
import type { ReasonCode, Status } from "../../reasons.ts";

/** A catalog event for the audit (`event: "pin_change"`). */
export interface PinEvent {
  /** Exposed tool name. */
  readonly tool: string;
  /** `new`, `changed`, `approved`, `upgraded` (an old-recipe pin rewritten, definition
   * unchanged), `ambiguous` (listed more than once by its upstream) or `clash` (offered by more
   * than one upstream). */
  readonly change:
    | "new"
    | "changed"
    | "approved"
    | "upgraded"
    | "ambiguous"
    | "clash"
    | "poisoned";
  /** The pinning mode in force. */
  readonly mode: "off" | "warn" | "block";
  /** The definition's hash (`ambiguous`: of its first listing; `clash`: empty). */
  readonly hash: string;
  /** `clash`: the upstreams offering the name, sorted. */
  readonly upstreams?: readonly string[];
  /** `ambiguous`: how many times the upstream lists it. */
  readonly count?: number;
  /** `poisoned`: the detectors its description matched, and `pinning.scan_descriptions`. */
  readonly poisoning?: { readonly detectors: readonly string[]; readonly scan: "flag" | "block" };
}

/** The audit fields of a catalog event. */
export interface PinEventAudit {
  /** `allowed` or `blocked`. */
  readonly status: Status;
  /** `ok`, `tool_definition_changed`, `tool_ambiguous` or `tool_name_clash`. */
  readonly reasonCode: ReasonCode;
  /** Human-readable reason. */
  readonly reason: string;
  /** `{change, hash, mode}` plus `upstreams` or `count` where they apply. */
  readonly payload: Record<string, unknown>;
}

/** Maps a catalog event to its audit status, reason code, reason and payload. */
export function pinEventAudit(event: PinEvent): PinEventAudit {
  const payload: Record<string, unknown> = {
    change: event.change,
    hash: event.hash,
    mode: event.mode,
    ...(event.upstreams ? { upstreams: event.upstreams } : {}),
    ...(event.count !== undefined ? { count: event.count } : {}),
    ...(event.poisoning ? { detectors: [...event.poisoning.detectors] } : {}),
  };
  const allowed = (reason: string): PinEventAudit => ({
    status: "allowed",
    reasonCode: "ok",
    reason,
    payload,
  });
  switch (event.change) {
    case "new":
      return allowed("tool seen for the first time; definition pinned");
    case "approved":
      return allowed("changed definition approved by an admin");
    case "upgraded":
      return allowed("pin rewritten with the whole-definition hash; definition unchanged");
    case "ambiguous":
      return {
        status: "blocked",
        reasonCode: "tool_ambiguous",
        reason: `the upstream lists this tool ${
          event.count ?? 2
        } times; hidden and refused until it lists it once`,
        payload,
      };
    case "clash":
      return {
        status: "blocked",
        reasonCode: "tool_name_clash",
        reason: `offered by more than one upstream (${
          (event.upstreams ?? []).join(", ")
        }); hidden and refused until only one offers it`,
        payload,
      };
    case "poisoned": {
      const names = (event.poisoning?.detectors ?? []).join(", ");
      return event.poisoning?.scan === "block"
        ? {
          status: "blocked",
          reasonCode: "tool_poisoning",
          reason: `the tool's description reads like instructions to the model (${names}); ` +
            "hidden and refused until an admin approves it",
          payload,
        }
        : {
          status: "allowed",
          reasonCode: "tool_poisoning",
          reason: `the tool's description reads like instructions to the model (${names}); ` +
            "flagged (pinning.scan_descriptions: flag), still listed",
          payload,
        };
    }
    case "changed":
      return event.mode === "block"
        ? {
          status: "blocked",
          reasonCode: "tool_definition_changed",
          reason: "tool definition changed since it was pinned; hidden and refused until approved",
          payload,
        }
        : allowed("tool definition changed since it was pinned (pinning mode warn: still allowed)");
  }
}
