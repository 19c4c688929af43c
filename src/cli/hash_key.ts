/** `hash-key <key>`: prints the sha256 to put in `agents[].key_sha256`. */
import { hashKey } from "../identity/identify.ts";
import { MIN_AGENT_KEY_LENGTH } from "./help.ts";

/** Runs the subcommand; returns the exit code (1: key too short, 2: usage). The key is never
 * echoed back. */
export function hashKeyCommand(
  args: string[],
  io: { print(line: string): void; printError(line: string): void },
): number {
  const keys = args[0] === "--" ? args.slice(1) : args;
  if (keys.length !== 1 || keys[0] === "") {
    io.printError("usage: hash-key KEY (see hash-key --help)");
    return 2;
  }
  const length = [...keys[0]].length;
  if (length < MIN_AGENT_KEY_LENGTH) {
    io.printError(
      `hash-key: an agent key must be at least ${MIN_AGENT_KEY_LENGTH} characters, this one has ` +
        `${length}; use a random one, e.g. "openssl rand -hex 24"`,
    );
    return 1;
  }
  io.print(hashKey(keys[0]));
  return 0;
}
