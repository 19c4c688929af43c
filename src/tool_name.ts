/** The only tool names the gateway accepts (§4, §8): checked before any lookup or path is built. */
export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** True when `name` is an acceptable tool name: the pattern, and not ending in `.output`. */
export function isValidToolName(name: unknown): name is string {
  return typeof name === "string" && TOOL_NAME_PATTERN.test(name) && !name.endsWith(".output");
}
