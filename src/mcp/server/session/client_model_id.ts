/** The model id of an open-mode session that sent no `X-Model-Id`: its `clientInfo.name`, made
 * glob-friendly (see docs/POLICY_SCHEMA.md "Model id from clientInfo.name"). */

/** Characters kept as they are; every run of anything else becomes one `-`. */
const OUTSIDE_KEPT = /[^A-Za-z0-9._:/@+-]+/g;

/** Longest model id (as for `X-Model-Id`). */
export const MAX_MODEL_ID_LENGTH = 256;

/**
 * Normalises a client's declared name into a model id: every run of characters other than ASCII
 * letters, digits and `. _ : / @ + -` (spaces, brackets, `*`, `?`, control and non-ASCII
 * characters) becomes one `-`, leading and trailing `-` are dropped, and the result is cut to 256
 * characters. `"sdk-probe (via mcp-remote 0.15.1)"` → `"sdk-probe-via-mcp-remote-0.15.1"` (matched
 * by the glob `sdk-probe*`). Undefined when nothing is left (the session is then refused).
 */
export function modelIdFromClientName(name: unknown): string | undefined {
  if (typeof name !== "string") return undefined;
  // Bounded before the regexp runs: a hostile 1 MiB name costs no more than a 1 KiB one.
  const normalised = name.slice(0, MAX_MODEL_ID_LENGTH * 4).replace(OUTSIDE_KEPT, "-")
    .replace(/^-+|-+$/g, "").slice(0, MAX_MODEL_ID_LENGTH).replace(/-+$/, "");
  return normalised === "" ? undefined : normalised;
}
