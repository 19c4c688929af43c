/**
 * The audit file as the sink appends to it (effect): kept open between writes, checked against
 * its path before each batch, rotated, and followed byte by byte so that a line torn by a crash
 * or by someone else is closed off before the next one starts.
 */
import { listRotatedFiles, type LogFileState, readLastByte } from "./log_file.ts";

/** Where the next byte of a batch goes. */
export interface FileCursor {
  /** The open file. */
  readonly handle: Deno.FsFile;
  /** Its size in bytes, kept up to date by `write`. */
  size: number;
  /** True when a "\n" must close off a torn line before anything else is written. */
  needsNewline: boolean;
}

const NEWLINE = new Uint8Array([0x0a]);

/** The audit file at one path; see the module comment. */
export class AuditFile {
  readonly #path: string;
  #known: LogFileState | null;
  #open: { handle: Deno.FsFile; ino: number | null } | null = null;

  /** `known`: the end of the file as found at open (`findChainStart`), null when unknown. */
  constructor(path: string, known: LogFileState | null) {
    this.#path = path;
    this.#known = known;
  }

  /**
   * Opens the file for a batch, or checks that the one kept open is still the file at the path:
   * one `stat` of the path (same inode); a file moved, deleted or replaced under us is reopened,
   * and a missing directory fails (fail closed). `midLine`: the caller wrote part of a line last
   * time. `changed` is true when the file is not the one last written: that line starts over.
   * The `stat` and the writes are synchronous system calls, made by the flush and never by a
   * request handler: an async file operation costs a hop to a blocking thread and back, which
   * every call waiting for its write-ahead line would pay; a write to the page cache takes
   * microseconds. The price: a stalled file system (a hung network mount) stalls the event
   * loop, so keep the audit log on local disk.
   */
  async prepare(midLine: boolean): Promise<FileCursor & { changed: boolean }> {
    const { handle, info } = await this.#current();
    const ino = info.ino ?? null;
    const known = this.#known;
    if (known !== null && known.ino === ino && known.size === info.size) {
      const needsNewline = !midLine && !known.endsWithNewline;
      return { handle, size: info.size, needsNewline, changed: false };
    }
    const last = await readLastByte(this.#path, info.size);
    const endsWithNewline = last === null || last === 0x0a;
    this.#known = { ino, size: info.size, endsWithNewline };
    return { handle, size: info.size, needsNewline: !endsWithNewline, changed: true };
  }

  /** Closes off a torn line with "\n". */
  writeNewline(cursor: FileCursor): void {
    if (cursor.handle.writeSync(NEWLINE) !== 1) throw new Error("short write");
    cursor.needsNewline = false;
    this.#advance(cursor, 1, true);
  }

  /**
   * Writes all of `bytes` at the end (or throws). `settle` is called once with how many bytes
   * made it, also when a write fails part-way, and answers whether the file then ends with a
   * whole line.
   */
  write(cursor: FileCursor, bytes: Uint8Array, settle: (written: number) => boolean): void {
    let written = 0;
    try {
      while (written < bytes.length) written += cursor.handle.writeSync(bytes.subarray(written));
    } finally {
      this.#advance(cursor, written, settle(written));
    }
  }

  /** Moves the file to the next free `<path>.N`; the next `prepare` opens a new one. */
  async rotate(): Promise<void> {
    this.close();
    const rotated = await listRotatedFiles(this.#path);
    const next = (rotated.at(-1)?.index ?? 0) + 1;
    await Deno.rename(this.#path, `${this.#path}.${next}`);
    this.#known = null;
  }

  /** Closes the open file (the next `prepare` opens it again). */
  close(): void {
    try {
      this.#open?.handle.close();
    } catch { /* already closed */ }
    this.#open = null;
  }

  #advance(cursor: FileCursor, written: number, endsWithNewline: boolean): void {
    cursor.size += written;
    const known = this.#known;
    this.#known = known === null ? null : { ino: known.ino, size: cursor.size, endsWithNewline };
  }

  async #current(): Promise<{ handle: Deno.FsFile; info: Deno.FileInfo }> {
    const open = this.#open;
    if (open !== null) {
      let info: Deno.FileInfo | null = null;
      try {
        info = Deno.statSync(this.#path);
      } catch { /* moved or deleted: reopened below */ }
      if (info !== null && info.ino !== null && info.ino === open.ino) {
        return { handle: open.handle, info };
      }
      this.close();
    }
    const handle = await Deno.open(this.#path, { append: true, create: true, mode: 0o640 });
    try {
      const info = await handle.stat();
      this.#open = { handle, ino: info.ino };
      return { handle, info };
    } catch (error) {
      handle.close();
      throw error;
    }
  }
}
