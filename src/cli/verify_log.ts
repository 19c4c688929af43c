import { GENESIS_HASH, isHash } from "../audit/chain/chain.ts";
import {
  chainFiles,
  verifyLogFiles,
  type WholeLogExpectation,
  wholeLogProblem,
} from "../audit/chain/verify.ts";

/** Usage line of `verify-log`. */
export const VERIFY_LOG_USAGE =
  "Usage: verify-log [--from HASH] [--head HASH] [--expect-lines N] [FILE...]\n" +
  "       verify-log --each FILE... (one chain per file: one file per replica)";

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
 * `verify-log [--from HASH] [--head HASH] [--expect-lines N] FILE…` (§6, §12): verifies the files
 * in order as one chain; without FILE, `AUDIT_LOG_PATH` (default audit.log) preceded by its rotated
 * files .1, .2, … `--head` requires the last line's hash to be HASH and `--expect-lines` at least N
 * lines in all, so a log cut short is caught. With `--each` (several replicas, §13) every FILE is
 * its own chain (its rotated files first), verified alone from 64 zeros and reported on its own
 * line. Returns 0 when intact, 1 when broken, cut short or unreadable (any file, with `--each`), 2
 * on a usage error.
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
  if (parsed.each) return await verifyEach(parsed.files, io);
  try {
    const files = parsed.files.length > 0
      ? parsed.files
      : await chainFiles(io.env.AUDIT_LOG_PATH || "audit.log");
    const result = await verifyLogFiles(files, { from: parsed.from });
    if (result.ok) {
      const problem = wholeLogProblem(result, parsed.expected);
      if (problem !== null) {
        io.print(problem);
        return 1;
      }
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

/** `--each`: every file its own chain, one report line per file, then a summary line. */
async function verifyEach(files: readonly string[], io: VerifyLogIo): Promise<number> {
  let failed = 0;
  for (const file of files) {
    try {
      const chain = await chainFiles(file);
      const result = await verifyLogFiles(chain, { from: GENESIS_HASH });
      if (result.ok) {
        const rotated = chain.length - (chain.at(-1) === file ? 1 : 0);
        const also = rotated === 0
          ? ""
          : ` (with ${rotated} rotated file${rotated === 1 ? "" : "s"})`;
        io.print(`OK ${file}${also}: ${result.count} lines, head ${result.head}`);
      } else {
        failed++;
        io.print(`Broken at ${result.file}:${result.lineNumber}: ${result.reason}`);
      }
    } catch (error) {
      failed++;
      io.print(`Unreadable ${file}: ${error instanceof Error ? error.message : "cannot verify"}`);
    }
  }
  io.print(
    failed === 0
      ? `All ${files.length} chains intact`
      : `${failed} of ${files.length} chains broken or unreadable`,
  );
  return failed === 0 ? 0 : 1;
}

type ParsedArgs =
  | {
    from: string;
    expected: WholeLogExpectation;
    files: string[];
    help: boolean;
    each: boolean;
  }
  | { error: string };

const COUNT = /^[0-9]{1,15}$/;

function parseArgs(args: string[]): ParsedArgs {
  let from = GENESIS_HASH;
  const expected: { head?: string; minLines?: number } = {};
  const files: string[] = [];
  let options = true;
  let each = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (options && arg === "--") {
      options = false;
    } else if (options && (arg === "-h" || arg === "--help")) {
      return { from, expected, files, help: true, each };
    } else if (options && (arg === "--from" || arg.startsWith("--from="))) {
      const value = arg === "--from" ? args[++i] : arg.slice("--from=".length);
      if (!isHash(value?.toLowerCase())) {
        return { error: "verify-log: --from needs a 64-character hex sha256" };
      }
      from = value.toLowerCase();
    } else if (options && (arg === "--head" || arg.startsWith("--head="))) {
      const value = arg === "--head" ? args[++i] : arg.slice("--head=".length);
      if (!isHash(value?.toLowerCase())) {
        return { error: "verify-log: --head needs a 64-character hex sha256" };
      }
      expected.head = value.toLowerCase();
    } else if (options && (arg === "--expect-lines" || arg.startsWith("--expect-lines="))) {
      const value = arg === "--expect-lines" ? args[++i] : arg.slice("--expect-lines=".length);
      if (value === undefined || !COUNT.test(value)) {
        return { error: "verify-log: --expect-lines N needs a whole number of lines" };
      }
      expected.minLines = Number(value);
    } else if (options && arg === "--each") {
      each = true;
    } else if (options && arg.startsWith("-") && arg !== "-") {
      return { error: "verify-log: unknown option" };
    } else {
      files.push(arg);
    }
  }
  if (each && files.length === 0) return { error: "verify-log: --each needs the files to verify" };
  if (
    each &&
    (from !== GENESIS_HASH || expected.head !== undefined || expected.minLines !== undefined)
  ) {
    return {
      error: "verify-log: --each verifies every file from its start; --from, --head and " +
        "--expect-lines anchor one chain (verify that file alone)",
    };
  }
  return { from, expected, files, help: false, each };
}
