import { type AuditEvent, sha256Hex } from "../event/event.ts";
import { chainPrefix, linePrefix } from "../event/line.ts";

/** The `prev_hash` of the very first line of a log: 64 zeros. */
export const GENESIS_HASH = "0".repeat(64);

/** The member that ends every line, up to its value. */
const HASH_MEMBER = ',"hash":"';

const HEX64 = /^[0-9a-f]{64}$/;

/** True when `value` is a 64-character lowercase hex sha256. */
export function isHash(value: unknown): value is string {
  return typeof value === "string" && HEX64.test(value);
}

/**
 * Chains `event` after `prevHash`: sets `prev_hash` and `hash` on it and returns its log line
 * (without the newline) `P,"hash":"H"}` where P is the event's JSON up to its closing brace and
 * H = sha256 hex of the UTF-8 bytes of `P + "}"`.
 */
export function chainLine(event: AuditEvent, prevHash: string): { line: string; hash: string } {
  if (!isHash(prevHash)) throw new Error("Cannot chain audit event: prev_hash is not a sha256 hex");
  const { line, hash } = chainPrefix(linePrefix(event), prevHash);
  event.prev_hash = prevHash;
  event.hash = hash;
  return { line, hash };
}

/** The `hash` at the end of a line written by `chainLine`, or null when the line has none. */
export function lineHash(line: string): string | null {
  const at = line.lastIndexOf(HASH_MEMBER);
  if (at < 0) return null;
  const rest = line.slice(at + HASH_MEMBER.length);
  if (rest.length !== 66 || !rest.endsWith('"}')) return null;
  const hash = rest.slice(0, 64);
  return isHash(hash) ? hash : null;
}

/** Where and why a chain broke. */
export interface ChainBreak {
  /** 1-based line number within the current input. */
  lineNumber: number;
  /** Why, without quoting the line. */
  reason: string;
}

/** A streaming verifier of chained lines: feed lines in order, one input (file) after another. */
export interface ChainVerifier {
  /** Checks the next line of the current input; returns the break, or null when it is fine. */
  push(line: string): ChainBreak | null;
  /** Ends the current input: line numbers restart, trailing blank lines were fine. */
  endInput(): void;
  /** Non-blank lines verified so far. */
  readonly count: number;
  /** Hash of the last verified line (the starting hash before any). */
  readonly head: string;
}

/** Creates a verifier whose first line must have `prev_hash` = `from`. */
export function createChainVerifier(from: string): ChainVerifier {
  let head = from;
  let count = 0;
  let lineNumber = 0;
  let blankAt = 0;
  return {
    push(line: string): ChainBreak | null {
      lineNumber++;
      if (line === "") {
        if (blankAt === 0) blankAt = lineNumber;
        return null;
      }
      if (blankAt !== 0) return { lineNumber: blankAt, reason: "blank line inside the log" };
      const reason = checkLine(line, head, count === 0);
      if (reason !== null) return { lineNumber, reason };
      head = lineHash(line) as string;
      count++;
      return null;
    },
    endInput(): void {
      lineNumber = 0;
      blankAt = 0;
    },
    get count(): number {
      return count;
    },
    get head(): string {
      return head;
    },
  };
}

/** Verifies chained lines in order; a blank last line is allowed. */
export function verifyLines(
  lines: Iterable<string>,
  options: { from: string },
): { ok: true; count: number; head: string } | { ok: false; lineNumber: number; reason: string } {
  const verifier = createChainVerifier(options.from);
  for (const line of lines) {
    const broken = verifier.push(line);
    if (broken !== null) return { ok: false, ...broken };
  }
  return { ok: true, count: verifier.count, head: verifier.head };
}

function checkLine(line: string, expectedPrev: string, first: boolean): string | null {
  if (!line.isWellFormed()) return "not valid UTF-8 text";
  const hash = lineHash(line);
  if (hash === null) return 'does not end with a ,"hash":"<64 hex>"} member';
  const prefix = line.slice(0, line.length - HASH_MEMBER.length - 66);
  if (sha256Hex(`${prefix}}`) !== hash) return "hash does not match the line's content";
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return "not valid JSON";
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return "not a JSON object";
  }
  const prev = (parsed as Record<string, unknown>).prev_hash;
  if (!isHash(prev) || !prefix.endsWith(`"prev_hash":"${prev}"`)) {
    return "prev_hash is missing, malformed or not the member before hash";
  }
  if (prev !== expectedPrev) {
    return first
      ? "prev_hash does not match the starting hash (64 zeros unless --from is given)"
      : "prev_hash does not link to the previous line's hash (line missing, added or reordered)";
  }
  return null;
}
