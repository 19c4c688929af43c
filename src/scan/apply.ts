/**
 * What a rule's `scan_results` (§15) makes of a scan: the value the agent receives (secrets
 * redacted) and, when a detector matched, the decision to audit — `allowed` with the flag
 * (`redact`, `flag`) or `blocked` (`block`), reason codes `result_secret` / `result_injection`.
 * Pure; the scanner is compiled once per policy.
 */
import type { Policy } from "../policy/types.ts";
import { findRule } from "../policy/evaluate.ts";
import { DEFAULT_SCAN_SETTINGS, type ResultScanner, type ScanSettings } from "./scan.ts";

/** The names of the detectors that matched, as shown in `_meta` and the decision API. */
export interface ScanFlags {
  /** Secret detectors (redacted or blocked). */
  readonly secrets: readonly string[];
  /** Injection detectors (flagged or blocked). */
  readonly injection: readonly string[];
}

/** A decision taken because a detector matched. */
export interface ScanFinding {
  /** `allowed` (redacted / flagged) or `blocked`. */
  readonly status: "allowed" | "blocked";
  /** `result_injection` when text aimed at the model was found, else `result_secret`. */
  readonly reasonCode: "result_secret" | "result_injection";
  /** Names the detectors; never the matched text. */
  readonly reason: string;
  /** What matched. */
  readonly flags: ScanFlags;
}

/** A scanned value: what the agent may receive, and the finding when there is one. */
export interface ScannedValue<T> {
  /** The value with secrets redacted (`redact`), else the value itself. */
  readonly value: T;
  /** Set when a detector matched and its mode is not `off`. */
  readonly finding?: ScanFinding;
}

/** The `scan_results` of the rule that applies to `modelId` (defaults when it sets none). */
export function scanSettingsFor(policy: Policy, modelId: string): ScanSettings {
  return findRule(policy, modelId)?.scanResults ?? DEFAULT_SCAN_SETTINGS;
}

/** Scans `value` (a tool result, prompt or resource contents) under `settings`. */
export function scanValue<T>(
  value: T,
  settings: ScanSettings,
  scanner: ResultScanner,
  what = "the result",
): ScannedValue<T> {
  const secretsOn = settings.secrets !== "off";
  const injectionOn = settings.injection !== "off";
  if (!secretsOn && !injectionOn) return { value };
  const out = scanner.scan(value, {
    secrets: secretsOn,
    redact: settings.secrets === "redact",
    injection: injectionOn,
  });
  const { secrets, injection } = out;
  if (secrets.length === 0 && injection.length === 0) return { value };
  const flags: ScanFlags = { secrets, injection };
  const secretText = `secrets (${secrets.join(", ")})`;
  const injectionText = `text aimed at the model (${injection.join(", ")})`;
  const blockInjection = injection.length > 0 && settings.injection === "block";
  const blockSecrets = secrets.length > 0 && settings.secrets === "block";
  if (blockInjection || blockSecrets) {
    const held = [
      ...(injection.length > 0 ? [injectionText] : []),
      ...(secrets.length > 0 ? [secretText] : []),
    ].join(" and ");
    return {
      value,
      finding: {
        status: "blocked",
        reasonCode: blockInjection ? "result_injection" : "result_secret",
        reason: `${what} was withheld by result scanning: it holds ${held}`,
        flags,
      },
    };
  }
  const parts = [
    ...(injection.length > 0 ? [`flagged ${injectionText}`] : []),
    ...(secrets.length > 0 ? [`redacted ${secretText}`] : []),
  ];
  return {
    value: out.value,
    finding: {
      status: "allowed",
      reasonCode: injection.length > 0 ? "result_injection" : "result_secret",
      reason: `result scanning ${parts.join(" and ")} in ${what}`,
      flags,
    },
  };
}
