import { expect } from "expect";
import { compileScrubber } from "./audit/event/scrub.ts";
import { createLogger } from "./log.ts";

Deno.test("log: credential shapes and configured secrets never reach a log line (§12)", () => {
  const lines: string[] = [];
  const log = createLogger(
    "debug",
    (line) => lines.push(line),
    () => compileScrubber(["stdio-child-secret-42"]),
  );
  log.warn("upstream stderr: using stdio-child-secret-42 and Authorization: Bearer abcdef123456");
  log.info("plain message");
  expect(lines[0]).toMatch(
    /WARN upstream stderr: using \[REDACTED\] and Authorization: Bearer \[REDACTED\]$/,
  );
  expect(lines[1]).toMatch(/INFO plain message$/);
});

Deno.test("log: without a policy yet (scrubber throws), shapes are still scrubbed", () => {
  const lines: string[] = [];
  const log = createLogger("info", (line) => lines.push(line), () => {
    throw new ReferenceError("store not ready");
  });
  log.error("failed: password=hunter2");
  expect(lines[0]).toMatch(/ERROR failed: password=\[REDACTED\]$/);
});
