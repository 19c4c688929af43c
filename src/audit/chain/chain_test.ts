import { createHash } from "node:crypto";
import { expect } from "expect";
import { chainLine, GENESIS_HASH, lineHash, verifyLines } from "./chain.ts";
import { type AuditEvent, buildAuditEvent } from "../event/event.ts";

function event(n: number, payload: unknown = { n }): AuditEvent {
  return buildAuditEvent({
    event: "toolcall",
    agentId: null,
    modelId: "gpt-4o",
    sessionId: "s",
    toolName: "search.web",
    payload,
    status: n % 2 === 0 ? "allowed" : "blocked",
    reasonCode: n % 2 === 0 ? "ok" : "tool_denied",
    reason: `reason ${n} — ünïcode`,
    latencyMs: n / 7,
    policyVersion: "0123456789ab",
  }, { now: 1_700_000_000_000 + n, eventId: `id-${n}` });
}

function chain(count: number, from = GENESIS_HASH): string[] {
  const lines: string[] = [];
  let prev = from;
  for (let i = 0; i < count; i++) {
    const { line, hash } = chainLine(event(i), prev);
    lines.push(line);
    prev = hash;
  }
  return lines;
}

Deno.test("chainLine follows the §6 recipe (recomputed independently)", () => {
  const e = event(1, { text: "héllo", nested: { token: "secret-value" } });
  const { line, hash } = chainLine(e, GENESIS_HASH);
  const match = /^(.*),"hash":"([0-9a-f]{64})"\}$/s.exec(line);
  expect(match).not.toBe(null);
  const [, p, h] = match as RegExpExecArray;
  expect(p.endsWith(`,"prev_hash":"${GENESIS_HASH}"`)).toBe(true);
  const bytes = new TextEncoder().encode(`${p}}`);
  expect(createHash("sha256").update(bytes).digest("hex")).toBe(h);
  expect(hash).toBe(h);
  expect(e.prev_hash).toBe(GENESIS_HASH);
  expect(e.hash).toBe(h);
  const parsed = JSON.parse(line);
  expect(Object.keys(parsed)).toEqual(Object.keys(e));
  expect(parsed).toEqual(e);
  expect(line).not.toContain("secret-value");
});

Deno.test("chainLine links each line to the previous hash", () => {
  const lines = chain(3);
  expect(JSON.parse(lines[1]).prev_hash).toBe(JSON.parse(lines[0]).hash);
  expect(JSON.parse(lines[2]).prev_hash).toBe(JSON.parse(lines[1]).hash);
});

Deno.test("chainLine refuses a prev_hash that is not a sha256 hex", () => {
  expect(() => chainLine(event(0), "abc")).toThrow("prev_hash");
});

Deno.test("lineHash reads only the final hash member", () => {
  const { line, hash } = chainLine(
    event(0, { a: ',"hash":"x"}', hash: "1".repeat(64) }),
    GENESIS_HASH,
  );
  expect(lineHash(line)).toBe(hash);
  expect(lineHash(`${line} `)).toBe(null);
  expect(lineHash("{}")).toBe(null);
});

Deno.test("verifyLines accepts an intact chain, with a blank trailing line", () => {
  const lines = chain(5);
  const head = JSON.parse(lines[4]).hash;
  expect(verifyLines(lines, { from: GENESIS_HASH })).toEqual({ ok: true, count: 5, head });
  expect(verifyLines([...lines, ""], { from: GENESIS_HASH })).toEqual({ ok: true, count: 5, head });
  expect(verifyLines([], { from: GENESIS_HASH })).toEqual({
    ok: true,
    count: 0,
    head: GENESIS_HASH,
  });
});

Deno.test("verifyLines catches a modified byte", () => {
  const lines = chain(4);
  const tampered = lines[2].replace('"status":"allowed"', '"status":"blocked"');
  expect(tampered).not.toBe(lines[2]);
  lines[2] = tampered;
  const result = verifyLines(lines, { from: GENESIS_HASH });
  expect(result).toEqual({ ok: false, lineNumber: 3, reason: expect.stringContaining("hash") });
});

Deno.test("verifyLines catches a changed hash value, even a recomputed one", () => {
  const lines = chain(3);
  const p = lines[1].slice(0, lines[1].lastIndexOf(',"hash":"'));
  const forged = `${p.replace("reason 1", "reason X")}}`;
  const h = createHash("sha256").update(forged).digest("hex");
  lines[1] = `${forged.slice(0, -1)},"hash":"${h}"}`;
  expect(verifyLines(lines, { from: GENESIS_HASH })).toMatchObject({ ok: false, lineNumber: 3 });
});

Deno.test("verifyLines catches a deleted line", () => {
  const lines = chain(4);
  lines.splice(1, 1);
  const result = verifyLines(lines, { from: GENESIS_HASH });
  expect(result).toEqual({ ok: false, lineNumber: 2, reason: expect.stringContaining("link") });
});

Deno.test("verifyLines catches reordered lines", () => {
  const lines = chain(4);
  [lines[1], lines[2]] = [lines[2], lines[1]];
  expect(verifyLines(lines, { from: GENESIS_HASH })).toMatchObject({ ok: false, lineNumber: 2 });
});

Deno.test("verifyLines catches a bad first link and honours from", () => {
  const lines = chain(3);
  const broken = verifyLines(lines.slice(1), { from: GENESIS_HASH });
  expect(broken).toEqual({ ok: false, lineNumber: 1, reason: expect.stringContaining("starting") });
  const from = JSON.parse(lines[0]).hash;
  expect(verifyLines(lines.slice(1), { from })).toMatchObject({ ok: true, count: 2 });
});

Deno.test("verifyLines rejects malformed lines and blank lines inside the log", () => {
  const lines = chain(2);
  const cases: [string[], number][] = [
    [[lines[0], "", lines[1]], 2],
    [["not json"], 1],
    [[`${lines[0]} `], 1],
    [[lines[0].replace(/"hash":"[0-9a-f]{64}"/, `"hash":"${"A".repeat(64)}"`)], 1],
    [[`[${lines[0].slice(1)}`], 1],
    [[lines[0], `${lines[1].slice(0, 20)}\ud800${lines[1].slice(20)}`], 2],
  ];
  for (const [input, lineNumber] of cases) {
    expect(verifyLines(input, { from: GENESIS_HASH })).toMatchObject({ ok: false, lineNumber });
  }
});

Deno.test("verifyLines needs prev_hash to be the member right before hash", () => {
  const raw = `{"a":1,"prev_hash":"${GENESIS_HASH}","b":2`;
  const h = createHash("sha256").update(`${raw}}`).digest("hex");
  const result = verifyLines([`${raw},"hash":"${h}"}`], { from: GENESIS_HASH });
  expect(result).toEqual({
    ok: false,
    lineNumber: 1,
    reason: expect.stringContaining("prev_hash"),
  });
});
