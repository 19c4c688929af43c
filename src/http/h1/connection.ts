/** One client connection of the builtin HTTP/1.1 server: its socket and receive buffer (effects). */

/** Bytes owned by the server (never a view of a shared buffer once handed over). */
export type Bytes = Uint8Array<ArrayBuffer>;

/**
 * Bytes asked for per socket read, and the receive buffer a connection keeps (it grows for a
 * larger head and shrinks back once that is consumed): with its 8 KB answer buffer, an idle
 * connection holds 16 KB, so 16,384 connections (the cap's ceiling) hold 256 MB at most.
 */
export const READ_BYTES = 8 * 1024;

/** The per-connection state of the builtin server. */
export class H1Connection {
  /** The accepted socket. */
  readonly conn: Deno.TcpConn;
  /** Receive buffer (grown up to a caller's cap). */
  buffer: Bytes = new Uint8Array(READ_BYTES);
  /** Bytes `[0, end)` of `buffer` are received and not yet consumed. */
  end = 0;
  /** A read started while an answer streamed (it notices a client that leaves). */
  pending: Promise<number | null> | null = null;
  /** The read that watched a finished event stream, still to be awaited before the next head. */
  watching: Promise<void> | null = null;
  /** Reusable buffer for small answers (head and body in one write). */
  scratch: Bytes | null = null;
  /** True once closed by either side. */
  closed = false;
  /** True once the client ended its side. */
  eof = false;
  /** The authority (Host) whose serialized origin is `origin`: most connections send one. */
  authority: string | null = null;
  /** `new URL("http://" + authority).origin`, kept for the next request. */
  origin = "";

  /** Wraps an accepted socket. */
  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Closes the socket (idempotent): a pending read or write fails. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** Reads more bytes after `end` (growing the buffer up to `cap`); false at end of stream. */
  async fill(cap: number): Promise<boolean> {
    if (this.eof) return false;
    if (this.pending === null) {
      if (this.end === this.buffer.length) {
        if (this.buffer.length >= cap) throw new Error("buffer full");
        const grown = new Uint8Array(Math.min(cap, this.buffer.length * 2));
        grown.set(this.buffer);
        this.buffer = grown;
      }
      this.pending = this.conn.read(this.buffer.subarray(this.end));
    }
    const n = await this.pending;
    this.pending = null;
    if (n === null) {
      this.eof = true;
      return false;
    }
    this.end += n;
    return true;
  }

  /** Drops `[0, count)` of the received bytes (what a request consumed). */
  consume(count: number): void {
    if (count < this.end) this.buffer.copyWithin(0, count, this.end);
    this.end -= count;
    if (this.end === 0 && this.buffer.length > READ_BYTES && this.pending === null) {
      this.buffer = new Uint8Array(READ_BYTES); // a large head is not kept for the next one
    }
  }

  /** Writes all of `bytes`. */
  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }
}
