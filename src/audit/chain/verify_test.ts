import { expect } from "expect";
import { join } from "node:path";
import { chainLine, GENESIS_HASH } from "./chain.ts";
import { buildAuditEvent } from "../event/event.ts";
import { chainFiles, countLogLines, verifyLogFiles, wholeLogProblem } from "./verify.ts";

function chained(count: number, reason = "r", from = GENESIS_HASH): string[] {
  const lines: string[] = [];
  let prev = from;
  for (let i = 0; i < count; i++) {
    const event = buildAuditEvent({
      event: "toolcall",
      agentId: null,
      modelId: "m",
      sessionId: "s",
      toolName: "t",
      payload: { i, text: "replacement char: \ufffd" },
      status: "allowed",
      reasonCode: "ok",
      reason,
      latencyMs: 1,
      policyVersion: null,
    }, { now: 1_700_000_000_000 + i, eventId: `e${i}` });
    const { line, hash } = chainLine(event, prev);
    lines.push(line);
    prev = hash;
  }
  return lines;
}

const encode = (text: string) => new TextEncoder().encode(text);

Deno.test("verifyLogFiles streams long lines across chunk boundaries", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const lines = chained(3, "long ".repeat(40_000)); // ~200 KB per line
  await Deno.writeTextFile(path, `${lines.join("\n")}\n`);
  const head = JSON.parse(lines[2]).hash;
  expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toEqual({
    ok: true,
    count: 3,
    head,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verifyLogFiles accepts a last line without newline, not a blank line inside", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const lines = chained(2);
  await Deno.writeTextFile(path, lines.join("\n"));
  expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toMatchObject({
    ok: true,
    count: 2,
  });
  await Deno.writeTextFile(path, `${lines[0]}\n\n${lines[1]}\n`);
  expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toMatchObject({
    ok: false,
    file: path,
    lineNumber: 2,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verifyLogFiles checks raw bytes: an invalid byte standing for U+FFFD is caught", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const lines = chained(2);
  const bytes = encode(`${lines.join("\n")}\n`);
  const at = bytes.findIndex((b, i) =>
    b === 0xef && bytes[i + 1] === 0xbf && bytes[i + 2] === 0xbd
  );
  const tampered = new Uint8Array([...bytes.subarray(0, at), 0xff, ...bytes.subarray(at + 3)]);
  await Deno.writeFile(path, tampered);
  expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toEqual({
    ok: false,
    file: path,
    lineNumber: 1,
    reason: "not valid UTF-8",
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verifyLogFiles refuses CRLF line endings", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await Deno.writeTextFile(path, `${chained(2).join("\r\n")}\r\n`);
  expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toMatchObject({
    ok: false,
    lineNumber: 1,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verifyLogFiles continues the chain from file to file, numbering lines per file", async () => {
  const dir = await Deno.makeTempDir();
  const [a, b] = [join(dir, "a.log"), join(dir, "b.log")];
  const lines = chained(5);
  await Deno.writeTextFile(a, `${lines.slice(0, 2).join("\n")}\n`);
  await Deno.writeTextFile(b, `${[lines[2], lines[4]].join("\n")}\n`);
  expect(await verifyLogFiles([a, b], { from: GENESIS_HASH })).toMatchObject({
    ok: false,
    file: b,
    lineNumber: 2,
  });
  await Deno.writeTextFile(b, `${lines.slice(2).join("\n")}\n`);
  expect(await verifyLogFiles([a, b], { from: GENESIS_HASH })).toMatchObject({
    ok: true,
    count: 5,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verifyLogFiles names an unreadable file without leaking more", async () => {
  const dir = await Deno.makeTempDir();
  const missing = join(dir, "nope.log");
  await expect(verifyLogFiles([missing], { from: GENESIS_HASH })).rejects.toThrow(
    `Cannot read audit log "${missing}": ENOENT`,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("countLogLines counts lines as verifyLogFiles does, across files and chunk edges", async () => {
  const dir = await Deno.makeTempDir();
  const lines = chained(3, "x".repeat(70_000)); // each line longer than one read chunk
  const whole = join(dir, "a.log");
  const torn = join(dir, "b.log");
  const empty = join(dir, "c.log");
  await Deno.writeTextFile(whole, lines.map((line) => line + "\n").join(""));
  await Deno.writeTextFile(torn, "first\nsecond without newline");
  await Deno.writeTextFile(empty, "");
  expect(await countLogLines([whole])).toBe(3);
  expect((await verifyLogFiles([whole], { from: GENESIS_HASH })).ok).toBe(true);
  expect(await countLogLines([torn])).toBe(2);
  expect(await countLogLines([empty])).toBe(0);
  expect(await countLogLines([whole, torn, empty])).toBe(5);
  await expect(countLogLines([join(dir, "missing.log")])).rejects.toThrow(
    /^Cannot read audit log ".*missing\.log": [A-Z_]+$/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("chainFiles lists rotated files oldest first, then the file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  expect(await chainFiles(path)).toEqual([path]);
  for (const n of [2, 1, 10]) await Deno.writeTextFile(`${path}.${n}`, "");
  expect(await chainFiles(path)).toEqual([`${path}.1`, `${path}.2`, `${path}.10`]);
  await Deno.writeTextFile(path, "");
  expect(await chainFiles(path)).toEqual([`${path}.1`, `${path}.2`, `${path}.10`, path]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("wholeLogProblem: the head must be the last line's, the count at least N", () => {
  const head = "ab".repeat(32);
  const other = "cd".repeat(32);
  expect(wholeLogProblem({ count: 5, head }, {})).toBeNull();
  expect(wholeLogProblem({ count: 5, head }, { head, minLines: 5 })).toBeNull();
  expect(wholeLogProblem({ count: 6, head }, { minLines: 5 })).toBeNull();
  expect(wholeLogProblem({ count: 4, head: other }, { head })).toMatch(
    new RegExp(`^Cut short: the last line's hash is ${other}, expected ${head}`),
  );
  expect(wholeLogProblem({ count: 0, head: GENESIS_HASH }, { head })).toBe(
    `Cut short: the log is empty, expected head ${head}`,
  );
  expect(wholeLogProblem({ count: 4, head }, { minLines: 5 })).toBe(
    "Cut short: 4 lines, at least 5 expected",
  );
});
