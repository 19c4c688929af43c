import { createChainVerifier } from "./chain.ts";
import { concatBytes } from "../bytes.ts";
import { describeError } from "./log_file.ts";

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
