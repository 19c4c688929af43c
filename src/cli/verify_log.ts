import { GENESIS_HASH, isHash } from "../audit/chain.ts";
import { listRotatedFiles } from "../audit/log_file.ts";
import { verifyLogFiles } from "../audit/verify.ts";

/** Usage line of `verify-log`. */
export const VERIFY_LOG_USAGE = "Usage: verify-log [--from HASH] [FILE...]";

/** What `verify-log` needs from its surroundings. */
export interface VerifyLogIo {
  /** Environment (reads `AUDIT_LOG_PATH`). */
  env: Readonly<Record<string, string | undefined>>;
  /** Prints a line on stdout. */
  print(line: string): void;
  /** Prints a line on stderr. */
  printError(line: string): void;
}

/**
 * `verify-log [--from HASH] FILE…` (§6): verifies the files in order as one chain; without FILE,
 * `AUDIT_LOG_PATH` (default audit.log) preceded by its rotated files .1, .2, …
 * Returns 0 when intact, 1 when broken or unreadable, 2 on a usage error.
 */
export async function verifyLogCommand(args: string[], io: VerifyLogIo): Promise<number> {
  const parsed = parseArgs(args);
  if ("error" in parsed) {
    io.printError(parsed.error);
    io.printError(VERIFY_LOG_USAGE);
    return 2;
  }
  if (parsed.help) {
    io.print(VERIFY_LOG_USAGE);
    return 0;
  }
  try {
    const files = parsed.files.length > 0
      ? parsed.files
      : await defaultFiles(io.env.AUDIT_LOG_PATH || "audit.log");
    const result = await verifyLogFiles(files, { from: parsed.from });
    if (result.ok) {
      io.print(`OK: ${result.count} lines, head ${result.head}`);
      return 0;
    }
    io.print(`Broken at ${result.file}:${result.lineNumber}: ${result.reason}`);
    return 1;
  } catch (error) {
    io.printError(error instanceof Error ? error.message : "Cannot verify the audit log");
    return 1;
  }
}

type ParsedArgs = { from: string; files: string[]; help: boolean } | { error: string };

function parseArgs(args: string[]): ParsedArgs {
  let from = GENESIS_HASH;
  const files: string[] = [];
  let options = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (options && arg === "--") {
      options = false;
    } else if (options && (arg === "-h" || arg === "--help")) {
      return { from, files, help: true };
    } else if (options && (arg === "--from" || arg.startsWith("--from="))) {
      const value = arg === "--from" ? args[++i] : arg.slice("--from=".length);
      if (!isHash(value?.toLowerCase())) {
        return { error: "verify-log: --from needs a 64-character hex sha256" };
      }
      from = value.toLowerCase();
    } else if (options && arg.startsWith("-") && arg !== "-") {
      return { error: "verify-log: unknown option" };
    } else {
      files.push(arg);
    }
  }
  return { from, files, help: false };
}

async function defaultFiles(path: string): Promise<string[]> {
  const rotated = (await listRotatedFiles(path)).map((file) => file.path);
  if (rotated.length === 0) return [path];
  try {
    await Deno.stat(path);
    return [...rotated, path];
  } catch {
    return rotated;
  }
}
