/**
 * The regular-expression engine ajv uses for `pattern` and `patternProperties` (§8). Patterns
 * come from schemas, and an upstream MCP server's schemas are hostile input: a pattern such as
 * `^(a+)+$` makes a backtracking engine take exponential time on a crafted argument. When V8's
 * linear-time engine is enabled (`--v8-flags=--enable-experimental-regexp-engine`, set by every
 * deno task that serves or tests), each pattern that it can run is compiled for it (flag `l`).
 * Patterns it cannot run — Unicode property escapes, backreferences, lookaround — stay on the
 * usual engine. The linear engine has no Unicode mode, so a pattern goes to it only when it means
 * the same without the `u` flag: it must compile with `u` (as ajv checks, so the accepted patterns
 * do not change) and hold no `\p`, `\P`, `\k`, `\u{…}` or astral character. One difference is
 * left: `.` and negated classes match an astral character as two code units there.
 */

/** The V8 flag that makes the linear engine (the `l` regexp flag) available. */
export const LINEAR_ENGINE_FLAG = "--enable-experimental-regexp-engine";

// Syntax whose meaning changes without the `u` flag (`\p{L}` would become "p{L}").
const UNICODE_ONLY = /\\[pPk]|\\u\{|[\uD800-\uDFFF]/;

let linear: boolean | undefined;

/** True when this process was started with `LINEAR_ENGINE_FLAG`. */
export function linearEngineAvailable(): boolean {
  if (linear === undefined) {
    try {
      // The `l` flag exists only with the V8 flag; a variable keeps the linter from judging it.
      const flag = "l";
      new RegExp("a", flag);
      linear = true;
    } catch {
      linear = false;
    }
  }
  return linear;
}

/** ajv's `code.regExp`: the pattern compiled for the linear engine when it can be. */
export function schemaRegExp(pattern: string, flags: string): RegExp {
  const checked = new RegExp(pattern, flags);
  if (!linearEngineAvailable() || UNICODE_ONLY.test(pattern)) return checked;
  try {
    return new RegExp(pattern, `${flags.replace("u", "")}l`);
  } catch {
    return checked;
  }
}

// ajv names the function in standalone code with this; the gateway never emits standalone code.
schemaRegExp.code = "schemaRegExp";
