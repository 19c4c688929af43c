/** `check-policy [path]`: validates a policy file and prints every problem (exit 1 if any). */
import { parsePolicy } from "../policy/parse/parse.ts";

/** What `check-policy` needs from the outside world (passed in so it can be tested purely). */
export interface CheckPolicyIo {
  /** Reads a UTF-8 text file. */
  readTextFile(path: string): Promise<string>;
  /** Environment for `POLICY_PATH`, `key_env` and `${VAR}` expansion. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Prints a line to stdout. */
  print(line: string): void;
  /** Prints a line to stderr. */
  printError(line: string): void;
}

/** Runs the subcommand on `args[0] ?? POLICY_PATH ?? "policies.yaml"`; returns the exit code. */
export async function checkPolicyCommand(args: string[], io: CheckPolicyIo): Promise<number> {
  const path = args[0] ?? io.env.POLICY_PATH ?? "policies.yaml";
  let text: string;
  try {
    text = await io.readTextFile(path);
  } catch (error) {
    io.printError(`Cannot load policy "${path}": ${describeReadError(error)}`);
    return 1;
  }
  const result = parsePolicy(text, { env: io.env });
  if (!result.ok) {
    for (const problem of result.errors) io.printError(`Cannot load policy "${path}": ${problem}`);
    return 1;
  }
  const { policy } = result;
  const identity = policy.agents === null
    ? "open identity mode"
    : plural(policy.agents.length, "agent") +
      (policy.oauth !== undefined ? `, OAuth tokens of ${policy.oauth.issuer}` : "");
  const upstreams = plural(Object.keys(policy.upstreams).length, "upstream");
  io.print(
    `Policy "${path}" is valid (version ${policy.version}, ${
      plural(policy.rules.length, "rule")
    }, ${identity}, ${upstreams})`,
  );
  return 0;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** A short cause for a failed read, from the error's name only (no message echoed). */
function describeReadError(error: unknown): string {
  const name = error instanceof Error ? error.name : "";
  if (name === "NotFound") return "file not found";
  if (name === "PermissionDenied") return "permission denied";
  if (name === "IsADirectory") return "is a directory";
  return "cannot read the file";
}
