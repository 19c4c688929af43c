/** Help texts of the command line and its argument parsing (pure). */
import { VERSION } from "../version.ts";

/** The subcommands. */
export const COMMANDS = ["serve", "check-policy", "verify-log", "hash-key"] as const;

/** A subcommand. */
export type Command = typeof COMMANDS[number];

/** The shortest agent key `hash-key` accepts (characters). */
export const MIN_AGENT_KEY_LENGTH = 16;

const NAME = "mcp-sec-gateway";

/** `mcp-sec-gateway --help`. */
export const MAIN_HELP =
  `MCP-Sec Gateway ${VERSION}: a zero-trust security gateway for the Model Context Protocol.

Usage: ${NAME} [COMMAND] [OPTIONS]
       npx -y deno@2.9.6 task start            (from a checkout: same as "serve")
       npx -y deno@2.9.6 run -A main.ts COMMAND …

Commands:
  serve                            serve the decision API, /mcp and the dashboard (default)
  check-policy [PATH]              validate a policy file, print every problem
  verify-log [OPTIONS] [FILE…]     verify the audit log's hash chain (and that it is whole)
  hash-key KEY                     print the sha256 of an agent key for agents[].key_sha256

Options:
  -h, --help      this help; "${NAME} COMMAND --help" for one command's
  -V, --version   print the version

Configuration comes from the environment and from .env in the working directory (see
.env.example and README.md); "LOG_LEVEL=debug" lists the configuration in force at start-up.`;

/** Each subcommand's `--help`. */
export const COMMAND_HELP: Readonly<Record<Command, string>> = {
  serve: `Usage: ${NAME} serve

Loads and checks the policy (POLICY_PATH, default policies.yaml), the schemas (SCHEMA_DIR) and the
configuration, then serves on HOST:PORT (default 127.0.0.1:8080): POST /mcp/toolcall and
/mcp/toolresult, the MCP proxy at /mcp, the dashboard at /dash. Every start-up problem is printed
at once and the exit code is 1.

Takes no arguments: configuration comes from the environment and .env (an unknown key in .env is
warned about). One gateway per audit file: a second one on the same AUDIT_LOG_PATH refuses to start.
Stops cleanly (audit flushed) on SIGTERM or SIGINT, and when the npx / deno task that started
it exits.`,
  "check-policy": `Usage: ${NAME} check-policy [PATH]

Validates a policy file (PATH, else POLICY_PATH, else policies.yaml) as the gateway would load
it and prints every problem. Exit code 0 when valid, 1 otherwise.`,
  "verify-log": `Usage: ${NAME} verify-log [--from HASH] [--head HASH] [--expect-lines N] [FILE…]
       ${NAME} verify-log --each FILE…

Verifies the audit hash chain of the FILEs, in order, as one chain. Without FILE: AUDIT_LOG_PATH
(default audit.log) after its rotated files .1, .2, …
  --from HASH          the prev_hash of the first line (a log that does not start at 64 zeros)
  --head HASH          the last line's hash must be HASH (the head printed at shutdown or on
                       /healthz): proves the file was not cut short
  --expect-lines N     the files must hold at least N lines
  --each               several replicas: every FILE is its own chain (after its rotated files),
                       verified alone from 64 zeros, one report line per FILE
Exit code 0 when intact, 1 when broken, cut short or unreadable (the first bad line is named; with
--each, any FILE), 2 on a usage error.`,
  "hash-key": `Usage: ${NAME} hash-key KEY

Prints the sha256 (hex) of an agent's API key, for agents[].key_sha256 in the policy. KEY must be
at least ${MIN_AGENT_KEY_LENGTH} characters; use a random one, e.g. "openssl rand -hex 24".
Exit code 0, 1 when the key is too short, 2 on a usage error.`,
};

/** What the command line asks for. */
export type ParsedCommandLine =
  | { kind: "run"; command: Command; args: string[] }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string }
  | { kind: "usage"; error: string };

/** True when `args` ask for help (`-h`/`--help` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "-h" || arg === "--help") return true;
  }
  return false;
}

/** Parses argv: a help or version request never runs a command (least of all `serve`). */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const [first = "serve", ...rest] = argv;
  if (first === "-h" || first === "--help" || first === "help") {
    const topic = rest[0];
    if (topic !== undefined && (COMMANDS as readonly string[]).includes(topic)) {
      return { kind: "help", text: COMMAND_HELP[topic as Command] };
    }
    return { kind: "help", text: MAIN_HELP };
  }
  if (first === "-V" || first === "--version" || first === "version") {
    return { kind: "version", text: `${NAME} ${VERSION}` };
  }
  if (!(COMMANDS as readonly string[]).includes(first)) {
    const shown = first.length > 40 ? `${first.slice(0, 40)}…` : first;
    return { kind: "usage", error: `Unknown command "${shown}" (see ${NAME} --help)` };
  }
  const command = first as Command;
  if (wantsHelp(rest)) return { kind: "help", text: COMMAND_HELP[command] };
  if (command === "serve" && rest.length > 0) {
    return {
      kind: "usage",
      error: `serve takes no arguments: configuration comes from the environment and .env ` +
        `(see ${NAME} serve --help)`,
    };
  }
  return { kind: "run", command, args: rest };
}
