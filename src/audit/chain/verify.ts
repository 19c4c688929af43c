import { createChainVerifier } from "./chain.ts";
import { concatBytes } from "../../bytes.ts";
import { describeError, listRotatedFiles } from "../sink/log_file.ts";

/** Outcome of verifying audit files: the chain's length and head, or the first broken line. */
export type VerifyFilesResult =
  | { ok: true; count: number; head: string }
  | { ok: false; file: string; lineNumber: number; reason: string };

/** Longest line accepted (a written line is at most ~8 KiB of payload plus its fields). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

const CHUNK_BYTES = 64 * 1024;

/**
 * Verifies `files` in order as one chain starting at `options.from`, streaming them in chunks.
 * Throws `Cannot read audit log "f": CODE` when a file cannot be read.
 */
export async function verifyLogFiles(
  files: readonly string[],
  options: { from: string },
): Promise<VerifyFilesResult> {
  const verifier = createChainVerifier(options.from);
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  for (const path of files) {
    let lineNumber = 0;
    const push = (bytes: Uint8Array): VerifyFilesResult | null => {
      lineNumber++;
      let line: string;
      try {
        line = decoder.decode(bytes);
      } catch {
        return { ok: false, file: path, lineNumber, reason: "not valid UTF-8" };
      }
      const broken = verifier.push(line);
      return broken === null ? null : { ok: false, file: path, ...broken };
    };
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      throw new Error(`Cannot read audit log "${path}": ${describeError(error)}`);
    }
    try {
      const carry: Uint8Array[] = [];
      let carried = 0;
      const chunk = new Uint8Array(CHUNK_BYTES);
      for (;;) {
        let read: number | null;
        try {
          read = await file.read(chunk);
        } catch (error) {
          throw new Error(`Cannot read audit log "${path}": ${describeError(error)}`);
        }
        if (read === null) break;
        let start = 0;
        for (
          let at = chunk.indexOf(0x0a, 0);
          at >= 0 && at < read;
          at = chunk.indexOf(0x0a, start)
        ) {
          const piece = chunk.subarray(start, at);
          const broken = push(carried === 0 ? piece : concatBytes([...carry, piece], -1));
          if (broken !== null) return broken;
          carry.length = 0;
          carried = 0;
          start = at + 1;
        }
        if (start < read) {
          carry.push(chunk.slice(start, read));
          carried += read - start;
          if (carried > MAX_LINE_BYTES) {
            return { ok: false, file: path, lineNumber: lineNumber + 1, reason: "line too long" };
          }
        }
      }
      if (carried > 0) {
        const broken = push(concatBytes(carry, -1));
        if (broken !== null) return broken;
      }
    } finally {
      file.close();
    }
    verifier.endInput();
  }
  return { ok: true, count: verifier.count, head: verifier.head };
}

/** What the whole log must end with (§12): the head hash of its last line, and a line count. */
export interface WholeLogExpectation {
  /** The hash the last line must have (`--head`), lowercase hex. */
  readonly head?: string;
  /** The least number of lines the verified files must hold (`--expect-lines`). */
  readonly minLines?: number;
}

/**
 * Why a log whose chain verified is still not the whole log expected, or null when it is. A chain
 * cut after any line still verifies, so only an anchor kept elsewhere (the head printed at
 * shutdown or read from `/healthz`, a line count) shows that lines are missing at the end. Pure.
 */
export function wholeLogProblem(
  verified: { readonly count: number; readonly head: string },
  expected: WholeLogExpectation,
): string | null {
  if (expected.head !== undefined && verified.head !== expected.head) {
    return verified.count === 0
      ? `Cut short: the log is empty, expected head ${expected.head}`
      : `Cut short: the last line's hash is ${verified.head}, expected ${expected.head} ` +
        "(lines are missing at the end, or that hash is not this log's last)";
  }
  if (expected.minLines !== undefined && verified.count < expected.minLines) {
    return `Cut short: ${verified.count} lines, at least ${expected.minLines} expected`;
  }
  return null;
}

/** The files of the audit chain at `path`: its rotated files .1, .2, … then the file itself. */
export async function chainFiles(path: string): Promise<string[]> {
  const rotated = (await listRotatedFiles(path)).map((file) => file.path);
  if (rotated.length === 0) return [path];
  try {
    await Deno.stat(path);
    return [...rotated, path];
  } catch {
    return rotated;
  }
}

/**
 * Counts the lines of `files` as `verifyLogFiles` does (a last line without its newline counts),
 * without hashing: one streamed read. Throws `Cannot read audit log "f": CODE`.
 */
export async function countLogLines(files: readonly string[]): Promise<number> {
  let count = 0;
  const chunk = new Uint8Array(CHUNK_BYTES);
  for (const path of files) {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      throw new Error(`Cannot read audit log "${path}": ${describeError(error)}`);
    }
    try {
      let last = 0x0a;
      for (;;) {
        const read = await file.read(chunk);
        if (read === null) break;
        const view = chunk.subarray(0, read);
        for (let at = view.indexOf(0x0a); at >= 0; at = view.indexOf(0x0a, at + 1)) count++;
        last = view[read - 1];
      }
      if (last !== 0x0a) count++;
    } catch (error) {
      throw new Error(`Cannot read audit log "${path}": ${describeError(error)}`);
    } finally {
      file.close();
    }
  }
  return count;
}
