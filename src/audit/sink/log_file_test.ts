import { expect } from "expect";
import { join } from "node:path";
import { chainLine, GENESIS_HASH } from "../chain/chain.ts";
import { buildAuditEvent } from "../event/event.ts";
import { listRotatedFiles, lockLogFile, readLogTail } from "./log_file.ts";

function line(reason: string, prev = GENESIS_HASH): { line: string; hash: string } {
  const event = buildAuditEvent({
    event: "toolcall",
    agentId: null,
    modelId: "m",
    sessionId: null,
    toolName: null,
    status: "error",
    reasonCode: "bad_request",
    reason,
    latencyMs: 0,
    policyVersion: null,
  }, { now: 0, eventId: "e" });
  return chainLine(event, prev);
}

Deno.test("readLogTail finds the last line even when it is longer than the first window", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const first = line("short");
  const last = line("x".repeat(300_000), first.hash);
  await Deno.writeTextFile(path, `${first.line}\n${last.line}\n`);
  expect(await readLogTail(path)).toMatchObject({
    endsWithNewline: true,
    hasCompleteLine: true,
    lastHash: last.hash,
  });
  await Deno.writeTextFile(path, "torn", { append: true });
  expect(await readLogTail(path)).toMatchObject({ endsWithNewline: false, lastHash: last.hash });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readLogTail: missing, empty, torn-only and hashless files", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  expect(await readLogTail(path)).toBe(null);
  await Deno.writeTextFile(path, "");
  expect(await readLogTail(path)).toMatchObject({ hasCompleteLine: false, endsWithNewline: true });
  await Deno.writeTextFile(path, "{torn");
  expect(await readLogTail(path)).toMatchObject({ hasCompleteLine: false, endsWithNewline: false });
  await Deno.writeTextFile(path, "garbage\n\n");
  expect(await readLogTail(path)).toMatchObject({ hasCompleteLine: true, lastHash: null });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("listRotatedFiles sorts numerically and ignores other names", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  for (
    const name of ["audit.log.10", "audit.log.2", "audit.log.1", "audit.log.0", "audit.log.01"]
  ) {
    await Deno.writeTextFile(join(dir, name), "");
  }
  for (const name of ["audit.log.x", "audit.log", "other.log.3", "audit.log.3.gz"]) {
    await Deno.writeTextFile(join(dir, name), "");
  }
  await Deno.mkdir(join(dir, "audit.log.4"));
  expect((await listRotatedFiles(path)).map((f) => f.index)).toEqual([1, 2, 10]);
  expect((await listRotatedFiles(path))[0].path).toBe(join(dir, "audit.log.1"));
  expect(await listRotatedFiles(join(dir, "missing", "audit.log"))).toEqual([]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lockLogFile: one holder at a time, named by pid; released on release()", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const first = await lockLogFile(path, 4242);
  expect(first.path).toBe(`${path}.lock`);
  expect(await Deno.readTextFile(`${path}.lock`)).toBe("4242\n");
  await expect(lockLogFile(path)).rejects.toThrow(
    `another process (pid 4242) is writing to it (lock "${path}.lock")`,
  );
  first.release();
  first.release();
  expect(await Deno.readTextFile(`${path}.lock`)).toBe("");
  const second = await lockLogFile(path, 7);
  expect(await Deno.readTextFile(`${path}.lock`)).toBe("7\n");
  second.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lockLogFile: a lock file with no pid yet is reported as such", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const holder = await Deno.open(`${path}.lock`, { read: true, write: true, create: true });
  expect(await holder.tryLock(true)).toBe(true);
  await expect(lockLogFile(path)).rejects.toThrow("another process (pid unknown)");
  holder.close();
  (await lockLogFile(path)).release();
  await Deno.remove(dir, { recursive: true });
});
