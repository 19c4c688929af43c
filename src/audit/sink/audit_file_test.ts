// The audit file as the sink appends to it, on real files: kept open while it is the file at the
// path, reopened when it was moved or replaced, a torn end closed off, rotation, failing closed
// when the directory is gone.
import { expect } from "expect";
import { join } from "node:path";
import { AuditFile } from "./audit_file.ts";

const encoder = new TextEncoder();

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-audit-file-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test("audit file: writes append; the same file is not re-read between batches", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "audit.log");
    const file = new AuditFile(path, null);
    const first = await file.prepare(false);
    expect([first.size, first.needsNewline, first.changed]).toEqual([0, false, true]);
    file.write(first, encoder.encode("one\ntw"), () => false);
    expect(first.size).toBe(6);
    // Our own line, half written: continued as it is, not closed off.
    const again = await file.prepare(true);
    expect([again.size, again.needsNewline, again.changed]).toEqual([6, false, false]);
    let settled = -1;
    file.write(again, encoder.encode("o\n"), (written) => {
      settled = written;
      return true;
    });
    expect(settled).toBe(2);
    file.close();
    expect(await Deno.readTextFile(path)).toBe("one\ntwo\n");
  });
});

Deno.test("audit file: a torn line left by someone else is closed off first", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "audit.log");
    await Deno.writeTextFile(path, '{"torn');
    const file = new AuditFile(path, null);
    const cursor = await file.prepare(false);
    expect([cursor.size, cursor.needsNewline, cursor.changed]).toEqual([6, true, true]);
    file.writeNewline(cursor);
    expect([cursor.size, cursor.needsNewline]).toEqual([7, false]);
    file.write(cursor, encoder.encode("next\n"), () => true);
    // Appended to by someone else since: the end is read again, and found torn.
    await Deno.writeTextFile(path, "x", { append: true });
    const after = await file.prepare(false);
    expect([after.size, after.needsNewline, after.changed]).toEqual([13, true, true]);
    file.close();
    expect(await Deno.readTextFile(path)).toBe('{"torn\nnext\nx');
  });
});

Deno.test("audit file: a file moved away is noticed and a new one opened", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "audit.log");
    const file = new AuditFile(path, null);
    file.write(await file.prepare(false), encoder.encode("old\n"), () => true);
    await Deno.rename(path, join(dir, "moved.log"));
    const cursor = await file.prepare(false);
    expect([cursor.size, cursor.changed]).toEqual([0, true]);
    file.write(cursor, encoder.encode("new\n"), () => true);
    file.close();
    expect(await Deno.readTextFile(path)).toBe("new\n");
    expect(await Deno.readTextFile(join(dir, "moved.log"))).toBe("old\n");
  });
});

Deno.test("audit file: rotation moves it to the next free .N", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "audit.log");
    await Deno.writeTextFile(`${path}.1`, "older\n");
    const file = new AuditFile(path, null);
    file.write(await file.prepare(false), encoder.encode("a\n"), () => true);
    await file.rotate();
    const cursor = await file.prepare(false);
    expect([cursor.size, cursor.changed]).toEqual([0, true]);
    file.write(cursor, encoder.encode("b\n"), () => true);
    file.close();
    expect(await Deno.readTextFile(`${path}.2`)).toBe("a\n");
    expect(await Deno.readTextFile(path)).toBe("b\n");
  });
});

Deno.test("audit file: its directory gone, prepare fails (nothing written elsewhere)", async () => {
  await withDir(async (dir) => {
    const sub = join(dir, "logs");
    await Deno.mkdir(sub);
    const path = join(sub, "audit.log");
    const file = new AuditFile(path, null);
    file.write(await file.prepare(false), encoder.encode("a\n"), () => true);
    await Deno.remove(sub, { recursive: true });
    await expect(file.prepare(false)).rejects.toThrow();
    file.close();
  });
});
