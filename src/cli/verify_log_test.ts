import { expect } from "expect";
import { join } from "node:path";
import { GENESIS_HASH } from "../audit/chain/chain.ts";
import { buildAuditEvent } from "../audit/event/event.ts";
import { openAuditSink } from "../audit/sink/sink.ts";
import { verifyLogCommand } from "./verify_log.ts";

function io(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    env,
    print: (l: string) => out.push(l),
    printError: (l: string) => err.push(l),
    out,
    err,
  };
}

async function writeLog(path: string, count: number, maxBytes = 0): Promise<string> {
  const sink = await openAuditSink({ path, maxBytes, flushIntervalMs: 60_000 });
  for (let i = 0; i < count; i++) {
    sink.append(buildAuditEvent({
      event: "toolcall",
      agentId: null,
      modelId: "m",
      sessionId: "s",
      toolName: "t",
      payload: { i },
      status: "allowed",
      reasonCode: "ok",
      reason: "r",
      latencyMs: 1,
      policyVersion: null,
    }, { now: 1_700_000_000_000 + i, eventId: `e${i}` }));
  }
  await sink.close();
  return sink.head;
}

Deno.test("verify-log FILE prints OK with the line count and head", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const head = await writeLog(path, 4);
  const t = io();
  expect(await verifyLogCommand([path], t)).toBe(0);
  expect(t.out).toEqual([`OK: 4 lines, head ${head}`]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify-log reports the first broken line and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await writeLog(path, 3);
  const lines = (await Deno.readTextFile(path)).split("\n");
  lines[1] = lines[1].replace('"payload":{"i":1}', '"payload":{"i":7}');
  await Deno.writeTextFile(path, lines.join("\n"));
  const t = io();
  expect(await verifyLogCommand([path], t)).toBe(1);
  expect(t.out.length).toBe(1);
  expect(t.out[0]).toMatch(new RegExp(`^Broken at ${path}:2: .*hash`));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify-log --from anchors a log that does not start at 64 zeros", async () => {
  const dir = await Deno.makeTempDir();
  const first = join(dir, "first.log");
  const second = join(dir, "second.log");
  const anchor = await writeLog(first, 2);
  await Deno.copyFile(first, second);
  const head = await writeLog(second, 2);
  const tail = (await Deno.readTextFile(second)).split("\n").slice(2).join("\n");
  await Deno.writeTextFile(second, tail);
  const without = io();
  expect(await verifyLogCommand([second], without)).toBe(1);
  expect(without.out[0]).toMatch(new RegExp(`^Broken at ${second}:1: `));
  for (const args of [["--from", anchor, second], [`--from=${anchor.toUpperCase()}`, second]]) {
    const t = io();
    expect(await verifyLogCommand(args, t)).toBe(0);
    expect(t.out).toEqual([`OK: 2 lines, head ${head}`]);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify-log without FILE reads AUDIT_LOG_PATH after its rotated files", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const head = await writeLog(path, 12, 1); // one line per file: .1 … .11 and audit.log
  const t = io({ AUDIT_LOG_PATH: path });
  expect(await verifyLogCommand([], t)).toBe(0);
  expect(t.out).toEqual([`OK: 12 lines, head ${head}`]);
  await Deno.remove(path);
  const rotatedOnly = io({ AUDIT_LOG_PATH: path });
  expect(await verifyLogCommand([], rotatedOnly)).toBe(0);
  expect(rotatedOnly.out[0]).toMatch(/^OK: 11 lines, head [0-9a-f]{64}$/);
  await Deno.rename(`${path}.10`, `${path}.99`);
  const gap = io({ AUDIT_LOG_PATH: path });
  expect(await verifyLogCommand([], gap)).toBe(1);
  expect(gap.out[0]).toMatch(new RegExp(`^Broken at ${path}\\.11:1: `));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify-log: a missing file exits 1 with a message on stderr", async () => {
  const dir = await Deno.makeTempDir();
  const t = io({ AUDIT_LOG_PATH: join(dir, "audit.log") });
  expect(await verifyLogCommand([], t)).toBe(1);
  expect(t.out).toEqual([]);
  expect(t.err[0]).toContain("Cannot read audit log");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify-log: usage errors exit 2; --help exits 0", async () => {
  for (const args of [["--from"], ["--from", "xyz", "a.log"], ["--bogus", "a.log"]]) {
    const t = io();
    expect(await verifyLogCommand(args, t)).toBe(2);
    expect(t.err.at(-1)).toContain("Usage: verify-log");
    expect(t.err.join("\n")).not.toContain("bogus");
  }
  const help = io();
  expect(await verifyLogCommand(["--help"], help)).toBe(0);
  expect(help.out[0]).toContain("Usage: verify-log");
  const empty = io();
  expect(await verifyLogCommand([`--from=${GENESIS_HASH}`, "--", "--help"], empty)).toBe(1);
  expect(empty.err[0]).toContain('"--help"');
});

/** Cuts the last `count` lines off the file at `path`. */
async function cutLastLines(path: string, count: number): Promise<void> {
  const lines = (await Deno.readTextFile(path)).split("\n").filter((line) => line !== "");
  await Deno.writeTextFile(path, lines.slice(0, -count).map((line) => line + "\n").join(""));
}

Deno.test("verify-log --head / --expect-lines prove a file was not cut short", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const head = await writeLog(path, 5);
  for (
    const args of [
      ["--head", head, path],
      [`--head=${head.toUpperCase()}`, path],
      ["--expect-lines", "5", path],
      ["--expect-lines=4", path], // at least N: a log that grew since N was noted passes
      ["--head", head, "--expect-lines", "5", path],
    ]
  ) {
    const t = io();
    expect({ args, code: await verifyLogCommand(args, t) }).toEqual({ args, code: 0 });
    expect(t.out).toEqual([`OK: 5 lines, head ${head}`]);
  }
  await cutLastLines(path, 2);
  const plain = io();
  expect(await verifyLogCommand([path], plain)).toBe(0); // the chain of what is left is whole
  expect(plain.out[0]).toMatch(/^OK: 3 lines, head [0-9a-f]{64}$/);
  const byHead = io();
  expect(await verifyLogCommand(["--head", head, path], byHead)).toBe(1);
  expect(byHead.out[0]).toMatch(
    new RegExp(`^Cut short: the last line's hash is [0-9a-f]{64}, expected ${head}`),
  );
  const byCount = io();
  expect(await verifyLogCommand(["--expect-lines", "5", path], byCount)).toBe(1);
  expect(byCount.out).toEqual(["Cut short: 3 lines, at least 5 expected"]);
  await Deno.writeTextFile(path, "");
  const emptied = io();
  expect(await verifyLogCommand(["--head", head, path], emptied)).toBe(1);
  expect(emptied.out[0]).toContain("the log is empty");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify-log --head: a broken chain is reported as broken, before the head", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const head = await writeLog(path, 3);
  const lines = (await Deno.readTextFile(path)).split("\n");
  lines[0] = lines[0].replace('"payload":{"i":0}', '"payload":{"i":9}');
  await Deno.writeTextFile(path, lines.join("\n"));
  const t = io();
  expect(await verifyLogCommand(["--head", head, path], t)).toBe(1);
  expect(t.out[0]).toMatch(new RegExp(`^Broken at ${path}:1: `));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify-log: bad --head / --expect-lines values are usage errors (exit 2)", async () => {
  for (
    const args of [
      ["--head"],
      ["--head", "abc", "a.log"],
      ["--expect-lines"],
      ["--expect-lines", "-1", "a.log"],
      ["--expect-lines", "1.5", "a.log"],
      ["--expect-lines", "1e3", "a.log"],
      ["--expect-lines=", "a.log"],
      ["--expect-lines", "99999999999999999999", "a.log"],
    ]
  ) {
    const t = io();
    expect({ args, code: await verifyLogCommand(args, t) }).toEqual({ args, code: 2 });
    expect(t.err.at(-1)).toContain("--expect-lines N");
  }
});

Deno.test("verify-log --each: one chain per replica's file, each reported, exit 1 if any fails", async () => {
  const dir = await Deno.makeTempDir();
  const a = join(dir, "audit-a.log");
  const b = join(dir, "audit-b.log");
  const c = join(dir, "audit-c.log");
  const headA = await writeLog(a, 3);
  const headB = await writeLog(b, 4);
  const headC = await writeLog(c, 3, 1); // rotated: c.1, c.2 then c
  // As one chain (the default), the second replica's file does not link to the first's head.
  const joined = io();
  expect(await verifyLogCommand([a, b], joined)).toBe(1);
  expect(joined.out[0]).toMatch(new RegExp(`^Broken at ${b}:1: `));
  const each = io();
  expect(await verifyLogCommand(["--each", a, b, c], each)).toBe(0);
  expect(each.out).toEqual([
    `OK ${a}: 3 lines, head ${headA}`,
    `OK ${b}: 4 lines, head ${headB}`,
    `OK ${c} (with 2 rotated files): 3 lines, head ${headC}`,
    "All 3 chains intact",
  ]);
  // One tampered file and one missing file: both reported, the intact one still OK, exit 1.
  const lines = (await Deno.readTextFile(b)).split("\n");
  lines[2] = lines[2].replace('"payload":{"i":2}', '"payload":{"i":9}');
  await Deno.writeTextFile(b, lines.join("\n"));
  const missing = join(dir, "audit-gone.log");
  const bad = io();
  expect(await verifyLogCommand(["--each", a, b, missing], bad)).toBe(1);
  expect(bad.out[0]).toBe(`OK ${a}: 3 lines, head ${headA}`);
  expect(bad.out[1]).toMatch(new RegExp(`^Broken at ${b}:3: `));
  expect(bad.out[2]).toMatch(new RegExp(`^Unreadable ${missing}: Cannot read audit log`));
  expect(bad.out[3]).toBe("2 of 3 chains broken or unreadable");
  // --each with one chain's anchors, or with no file, is a usage error.
  for (const args of [["--each"], ["--each", "--head", headA, a], ["--each", "--from", headA, a]]) {
    const t = io();
    expect(await verifyLogCommand(args, t)).toBe(2);
    expect(t.err[0]).toContain("--each");
  }
  await Deno.remove(dir, { recursive: true });
});
