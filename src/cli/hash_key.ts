/** `hash-key <key>`: prints the sha256 to put in `agents[].key_sha256`. */
import { hashKey } from "../identity/identify.ts";

/** Runs the subcommand; returns the exit code. */
export function hashKeyCommand(
  args: string[],
  io: { print(line: string): void; printError(line: string): void },
): number {
  if (args.length !== 1 || args[0] === "") {
    io.printError("usage: hash-key <key>");
    return 2;
  }
  io.print(hashKey(args[0]));
  return 0;
}
