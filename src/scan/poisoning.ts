/**
 * Tool poisoning (SPEC §15): a tool definition whose text speaks to the model — hidden Unicode,
 * hiding markup, `<IMPORTANT>` blocks, requests to read secret files, to keep things from the
 * user, to send data elsewhere. Every string of the definition is read (name, title, description,
 * schema descriptions, annotations, `_meta`), with the detectors meant for descriptions (telling the
 * model which tool to call first is normal there, so `tool_call_directive` is left out).
 */
import { SHAPE_SCRUBBER } from "../audit/event/scrub.ts";
import { resultScannerFor } from "./scan.ts";

// Secrets are not this scan's business (the §12 scrubbing of upstream texts covers them).
const scanner = resultScannerFor(SHAPE_SCRUBBER);

/** The detectors a tool definition matches (sorted), empty when it reads as plain documentation. */
export function poisoningIn(definition: Readonly<Record<string, unknown>>): string[] {
  return [
    ...scanner.scan(definition, { secrets: false, injection: true, description: true }).injection,
  ];
}
