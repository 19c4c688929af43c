import { basename, dirname, join } from "node:path";
import { GENESIS_HASH, lineHash } from "../chain/chain.ts";

/** A rotated audit file `<path>.N`. */
export interface RotatedFile {
  /** N (1 is the oldest). */
  index: number;
  /** Full path. */
  path: string;
}

/** What the end of an existing audit file looks like. */
export interface LogTail {
  /** File size in bytes. */
  size: number;
  /** Inode number where the platform has one. */
  ino: number | null;
  /** False when the last line is torn (no newline after it); true for an empty file. */
  endsWithNewline: boolean;
  /** True when the file holds at least one complete, non-blank line. */
  hasCompleteLine: boolean;
  /** The `hash` of the last complete line, null when it has none (or there is no such line). */
  lastHash: string | null;
}

/** What the sink knows about the end of the file it appends to. */
export interface LogFileState {
  /** Inode number where the platform has one. */
  ino: number | null;
  /** Size in bytes. */
  size: number;
  /** False when the last line has no newline yet (torn, or partly written by us). */
  endsWithNewline: boolean;
}

const FIRST_WINDOW = 64 * 1024;
const MAX_WINDOW = 64 * 1024 * 1024;
const ROTATED_SUFFIX = /^[1-9][0-9]{0,8}$/;
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The rotated files `<path>.N` that exist, oldest (lowest N) first. */
export async function listRotatedFiles(path: string): Promise<RotatedFile[]> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const found: RotatedFile[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.startsWith(prefix)) continue;
      const suffix = entry.name.slice(prefix.length);
      if (ROTATED_SUFFIX.test(suffix)) {
        found.push({ index: Number(suffix), path: join(dir, entry.name) });
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return found.sort((a, b) => a.index - b.index);
}

/** Reads only the end of `path` to find its last complete line; null when the file is missing. */
export async function readLogTail(path: string): Promise<LogTail | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const info = await file.stat();
    if (!info.isFile) throw new Error("not a regular file");
    const base = { size: info.size, ino: info.ino ?? null };
    if (info.size === 0) {
      return { ...base, endsWithNewline: true, hasCompleteLine: false, lastHash: null };
    }
    for (let window = FIRST_WINDOW;; window *= 4) {
      const start = Math.max(0, info.size - window);
      const bytes = await readRange(file, start, info.size);
      const endsWithNewline = bytes[bytes.length - 1] === 0x0a;
      const line = lastCompleteLine(bytes, start === 0);
      if (line === "grow") {
        if (window >= MAX_WINDOW) throw new Error("last line is longer than 64 MiB");
        continue;
      }
      if (line === null) {
        return { ...base, endsWithNewline, hasCompleteLine: false, lastHash: null };
      }
      return { ...base, endsWithNewline, hasCompleteLine: true, lastHash: hashOf(line) };
    }
  } finally {
    file.close();
  }
}

/** The last byte of `path` (which is `size` bytes long), or null when it is empty. */
export async function readLastByte(path: string, size: number): Promise<number | null> {
  if (size <= 0) return null;
  using file = await Deno.open(path, { read: true });
  const bytes = await readRange(file, size - 1, size);
  return bytes.length === 1 ? bytes[0] : null;
}

/** A short, secret-free description of an I/O error: its code (ENOSPC, EACCES…) or name. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && /^[A-Z0-9_]{1,32}$/.test(code) ? code : error.name;
  }
  return "unknown error";
}

function lastCompleteLine(bytes: Uint8Array, fromFileStart: boolean): Uint8Array | null | "grow" {
  let end = bytes.lastIndexOf(0x0a);
  while (end >= 0) {
    const previous = end === 0 ? -1 : bytes.lastIndexOf(0x0a, end - 1);
    if (previous < 0 && !fromFileStart) return "grow";
    if (previous + 1 < end) return bytes.subarray(previous + 1, end);
    end = previous;
  }
  return fromFileStart ? null : "grow";
}

function hashOf(line: Uint8Array): string | null {
  try {
    return lineHash(strictDecoder.decode(line));
  } catch {
    return null;
  }
}

async function readRange(file: Deno.FsFile, start: number, end: number): Promise<Uint8Array> {
  await file.seek(start, Deno.SeekMode.Start);
  const bytes = new Uint8Array(end - start);
  let filled = 0;
  while (filled < bytes.length) {
    const read = await file.read(bytes.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  return bytes.subarray(0, filled);
}

/** Where an existing log's chain continues (its last hash, else the newest rotated file's, else
 * GENESIS) and the state of its end. */
export async function findChainStart(
  path: string,
): Promise<{ head: string; known: LogFileState | null }> {
  const tail = await readLogTail(path);
  const known = tail === null
    ? null
    : { ino: tail.ino, size: tail.size, endsWithNewline: tail.endsWithNewline };
  if (tail?.hasCompleteLine) {
    if (tail.lastHash === null) throw new Error("its last line has no valid hash");
    return { head: tail.lastHash, known };
  }
  const rotated = await listRotatedFiles(path);
  const newest = rotated.at(-1);
  if (newest === undefined) return { head: GENESIS_HASH, known };
  const previous = await readLogTail(newest.path);
  if (previous?.hasCompleteLine && previous.lastHash === null) {
    throw new Error(`the last line of "${newest.path}" has no valid hash`);
  }
  return { head: previous?.lastHash ?? GENESIS_HASH, known };
}

/** The single-writer lock of an audit file, held until `release()` (or the process dies). */
export interface LogFileLock {
  /** The lock file, `<path>.lock`. */
  readonly path: string;
  /** Empties the lock file and releases the lock; safe to call twice. */
  release(): void;
}

/**
 * Takes the single-writer lock of the audit file at `path`: an exclusive OS lock (`flock`) on
 * `<path>.lock`, which holds the owner's pid. The OS drops it when the process exits, even on
 * SIGKILL. Throws `another process (pid N) is writing to it…` when someone else holds it.
 */
export async function lockLogFile(path: string, pid: number = Deno.pid): Promise<LogFileLock> {
  const lockPath = `${path}.lock`;
  const file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o640 });
  let locked = false;
  try {
    locked = await file.tryLock(true);
    if (!locked) {
      const holder = await readHolder(file);
      throw new Error(
        `another process (${
          holder === null ? "pid unknown" : `pid ${holder}`
        }) is writing to it (lock "${lockPath}"); stop that gateway, or give this one its own ` +
          "file with AUDIT_LOG_PATH (and PINS_PATH)",
      );
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${pid}\n`));
  } catch (error) {
    if (locked) file.unlockSync();
    file.close();
    throw error;
  }
  let held = true;
  return {
    path: lockPath,
    release() {
      if (!held) return;
      held = false;
      try {
        file.truncateSync(0); // no stale pid left behind; the file stays (see AUDIT_LOG_FORMAT.md)
        file.unlockSync();
      } catch {
        // closing below releases the lock whatever happened
      }
      file.close();
    },
  };
}

/** The pid written in a lock file, or null when there is none (yet). */
async function readHolder(file: Deno.FsFile): Promise<number | null> {
  const bytes = await readRange(file, 0, Math.min(32, (await file.stat()).size));
  const text = new TextDecoder().decode(bytes).trim();
  return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : null;
}
