import { expect } from "expect";
import { join } from "node:path";
import { GENESIS_HASH, verifyLines } from "../chain/chain.ts";
import { type AuditEvent, buildAuditEvent } from "../event/event.ts";
import { type AuditSink, type AuditSinkOptions, openAuditSink } from "./sink.ts";
import { verifyLogFiles } from "../chain/verify.ts";

function event(n: number, payload: unknown = { n, password: "hunter2" }): AuditEvent {
  return buildAuditEvent({
    event: "toolcall",
    agentId: null,
    modelId: "gpt-4o",
    sessionId: "s1",
    toolName: "search.web",
    payload,
    status: "allowed",
    reasonCode: "ok",
    reason: "allowed",
    latencyMs: 0.5,
    policyVersion: "0123456789ab",
  }, { now: 1_700_000_000_000 + n, eventId: `e${n}` });
}

async function withSink(
  options: Partial<AuditSinkOptions> & { path: string },
  body: (sink: AuditSink) => void | Promise<void>,
): Promise<void> {
  const sink = await openAuditSink({ flushIntervalMs: 60_000, ...options });
  try {
    await body(sink);
  } finally {
    await sink.close().catch(() => {});
  }
}

async function lines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n");
}

const hashOf = (line: string): string => JSON.parse(line).hash;
const idOf = (line: string): string => JSON.parse(line).event_id;

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("sink: close() writes every appended event as a verifiable chain", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "nested", "audit.log");
  const sink = await openAuditSink({ path, flushIntervalMs: 60_000 });
  expect(sink.head).toBe(GENESIS_HASH);
  for (let i = 0; i < 5; i++) sink.append(event(i));
  expect(sink.head).toBe(GENESIS_HASH); // nothing written on the request path
  await sink.close();
  const written = await lines(path);
  expect(written.length).toBe(6);
  expect(written[5]).toBe("");
  expect(written.slice(0, 5).map(idOf)).toEqual(["e0", "e1", "e2", "e3", "e4"]);
  expect(written.join("\n")).not.toContain("hunter2");
  expect(verifyLines(written, { from: GENESIS_HASH })).toEqual({
    ok: true,
    count: 5,
    head: sink.head,
  });
  expect(sink.healthy).toBe(false);
  sink.append(event(99));
  expect(sink.dropped).toBe(1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: the timer writes appended events without an explicit flush", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await withSink({ path, flushIntervalMs: 5 }, async (sink) => {
    sink.append(event(0));
    sink.append(event(1));
    await waitFor(() => sink.head !== GENESIS_HASH && sink.recent()[1].hash === sink.head);
    expect((await lines(path)).map((l) => l && idOf(l))).toEqual(["e0", "e1", ""]);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: the chain continues across a re-open", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  let firstHead = "";
  await withSink({ path }, async (sink) => {
    sink.append(event(0));
    sink.append(event(1));
    await sink.flush();
    firstHead = sink.head;
  });
  await withSink({ path }, async (sink) => {
    expect(sink.head).toBe(firstHead);
    sink.append(event(2));
    await sink.flush();
  });
  const written = await lines(path);
  expect(JSON.parse(written[2]).prev_hash).toBe(firstHead);
  expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toMatchObject({
    ok: true,
    count: 3,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: a torn last line is closed with a newline and skipped by the chain", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await withSink({ path }, (sink) => {
    sink.append(event(0));
    sink.append(event(1));
  });
  const intact = await lines(path);
  await Deno.writeTextFile(path, '{"timestamp":"2025-01-0', { append: true });
  await withSink({ path }, async (sink) => {
    expect(sink.head).toBe(hashOf(intact[1]));
    sink.append(event(2));
    await sink.flush();
  });
  const written = await lines(path);
  expect(written.length).toBe(5);
  expect(written[2]).toBe('{"timestamp":"2025-01-0');
  expect(JSON.parse(written[3]).prev_hash).toBe(hashOf(intact[1]));
  expect(await verifyLogFiles([path], { from: GENESIS_HASH })).toMatchObject({
    ok: false,
    lineNumber: 3,
  });
  expect(verifyLines([written[0], written[1], written[3]], { from: GENESIS_HASH }).ok).toBe(true);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: bytes appended by someone else are closed off before the next line", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await withSink({ path }, async (sink) => {
    sink.append(event(0));
    await sink.flush();
    await Deno.writeTextFile(path, "intruder", { append: true });
    sink.append(event(1));
    await sink.flush();
    const written = await lines(path);
    expect(written[1]).toBe("intruder");
    expect(JSON.parse(written[2]).prev_hash).toBe(hashOf(written[0]));
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: the ring keeps the newest events (at least 1000), chained once written", async () => {
  const dir = await Deno.makeTempDir();
  await withSink({ path: join(dir, "audit.log"), ringSize: 10 }, async (sink) => {
    for (let i = 0; i < 1005; i++) sink.append(event(i, null));
    const ring = sink.recent();
    expect(ring.length).toBe(1000);
    expect(ring[0].event_id).toBe("e5");
    expect(ring[999].event_id).toBe("e1004");
    expect(ring[999].hash).toBe(null);
    await sink.flush();
    expect(sink.recent()[999].hash).toBe(sink.head);
    const lazy = sink.recentList();
    expect(lazy.length).toBe(1000);
    for (const index of [0, 500, 999]) {
      expect(lazy.at(index)).toEqual(sink.recent()[index]);
      expect(lazy.timestampAt?.(index)).toBe(sink.recent()[index].timestamp);
    }
    expect(lazy.at(1000)).toBe(undefined);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: subscribers see each append; unsubscribe stops them", async () => {
  const dir = await Deno.makeTempDir();
  await withSink({ path: join(dir, "audit.log") }, (sink) => {
    const seen: string[] = [];
    const stop = sink.subscribe((e) => seen.push(e.event_id));
    sink.subscribe(() => {
      throw new Error("bad listener");
    });
    sink.append(event(0));
    stop();
    sink.append(event(1));
    expect(seen).toEqual(["e0"]);
    expect(sink.recent().length).toBe(2);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: stdout gets a byte-for-byte copy of the file, even with short writes", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const chunks: Uint8Array[] = [];
  // Like Deno.stdout.write: may write fewer bytes than given and says how many.
  const stdout = {
    write(bytes: Uint8Array): Promise<number> {
      const n = Math.min(100, bytes.length);
      chunks.push(bytes.slice(0, n));
      return Promise.resolve(n);
    },
  };
  await withSink({ path, stdout }, async (sink) => {
    for (let i = 0; i < 3; i++) sink.append(event(i));
    await sink.flush();
    sink.append(event(3));
  });
  const copied = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  expect(copied).toBe(await Deno.readTextFile(path));
  expect(copied.split("\n").length).toBe(5);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: concurrent flushes keep order and never overlap", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await withSink({ path, flushIntervalMs: 1 }, async (sink) => {
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      sink.append(event(i));
      if (i % 7 === 0) flushes.push(sink.flush());
    }
    await Promise.all(flushes);
    await sink.flush();
  });
  const written = await lines(path);
  expect(written.slice(0, 200).map(idOf)).toEqual([...Array(200).keys()].map((i) => `e${i}`));
  expect(verifyLines(written, { from: GENESIS_HASH })).toMatchObject({ ok: true, count: 200 });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: rotation renames to .1, .2 … and the chain runs across files", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  const lineBytes = await (async () => {
    const probe = join(dir, "probe.log");
    await withSink({ path: probe }, (sink) => sink.append(event(0)));
    const size = (await Deno.stat(probe)).size;
    await Deno.remove(probe);
    return size;
  })();
  const maxBytes = lineBytes * 3 + 10; // three lines per file
  await withSink({ path, maxBytes }, async (sink) => {
    for (let i = 0; i < 4; i++) sink.append(event(i));
    await sink.flush();
    for (let i = 4; i < 10; i++) sink.append(event(i));
  });
  const rotated = [`${path}.1`, `${path}.2`, `${path}.3`];
  for (const file of rotated) {
    expect((await lines(file)).length).toBe(4); // three lines and the final ""
    expect((await Deno.stat(file)).size).toBeLessThanOrEqual(maxBytes);
  }
  expect((await lines(path)).map((l) => l && idOf(l))).toEqual(["e9", ""]);
  const first = await lines(`${path}.1`);
  expect(idOf(first[0])).toBe("e0");
  const second = await lines(`${path}.2`);
  expect(JSON.parse(second[0]).prev_hash).toBe(hashOf(first[2]));
  const all = await verifyLogFiles([...rotated, path], { from: GENESIS_HASH });
  expect(all).toMatchObject({ ok: true, count: 10 });
  expect(await verifyLogFiles([path, ...rotated], { from: GENESIS_HASH })).toMatchObject({
    ok: false,
    file: path,
    lineNumber: 1,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: with audit.log gone, the chain continues from the newest rotated file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await withSink({ path, maxBytes: 1 }, (sink) => {
    for (let i = 0; i < 3; i++) sink.append(event(i)); // one line per file
  });
  const newest = await lines(`${path}.2`);
  await Deno.rename(path, `${path}.3`);
  const last = await lines(`${path}.3`);
  expect(idOf(newest[0])).toBe("e1");
  await withSink({ path }, (sink) => {
    expect(sink.head).toBe(hashOf(last[0]));
    sink.append(event(3));
  });
  const files = [`${path}.1`, `${path}.2`, `${path}.3`, path];
  expect(await verifyLogFiles(files, { from: GENESIS_HASH })).toMatchObject({ ok: true, count: 4 });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: a failing write keeps events queued, goes unhealthy, recovers", async () => {
  const dir = await Deno.makeTempDir();
  const logDir = join(dir, "logs");
  const path = join(logDir, "audit.log");
  const errors: string[] = [];
  let recoveries = 0;
  const options = {
    path,
    onError: (message: string) => errors.push(message),
    onRecover: () => recoveries++,
  };
  await withSink(options, async (sink) => {
    sink.append(event(0));
    await sink.flush();
    const anchor = sink.head;
    await Deno.remove(logDir, { recursive: true });
    sink.append(event(1));
    sink.append(event(2));
    await expect(sink.flush()).rejects.toThrow(`Cannot write audit log "${path}": ENOENT`);
    expect(sink.healthy).toBe(false);
    expect(sink.head).toBe(anchor);
    sink.append(event(3));
    await expect(sink.flush()).rejects.toThrow("Cannot write audit log");
    expect(errors.length).toBe(1);
    expect(errors[0]).not.toContain("hunter2");
    expect(recoveries).toBe(0);
    await Deno.mkdir(logDir);
    await sink.flush();
    expect(sink.healthy).toBe(true);
    expect(recoveries).toBe(1);
    const written = await lines(path);
    expect(written.map((l) => l && idOf(l))).toEqual(["e1", "e2", "e3", ""]);
    expect(JSON.parse(written[0]).prev_hash).toBe(anchor);
    expect(await verifyLogFiles([path], { from: anchor })).toEqual({
      ok: true,
      count: 3,
      head: sink.head,
    });
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: the retry timer recovers by itself once writing works", async () => {
  const dir = await Deno.makeTempDir();
  const logDir = join(dir, "logs");
  const path = join(logDir, "audit.log");
  await withSink({ path, flushIntervalMs: 2 }, async (sink) => {
    await Deno.remove(logDir, { recursive: true });
    sink.append(event(0));
    await waitFor(() => !sink.healthy);
    await Deno.mkdir(logDir);
    await waitFor(() => sink.healthy && sink.head !== GENESIS_HASH);
    expect((await lines(path)).map((l) => l && idOf(l))).toEqual(["e0", ""]);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: a full queue drops new events, counts and reports them once", async () => {
  const dir = await Deno.makeTempDir();
  const logDir = join(dir, "logs");
  const path = join(logDir, "audit.log");
  const errors: string[] = [];
  await withSink({ path, maxQueue: 3, onError: (m) => errors.push(m) }, async (sink) => {
    await Deno.remove(logDir, { recursive: true });
    for (let i = 0; i < 6; i++) sink.append(event(i));
    expect(sink.dropped).toBe(3);
    expect(errors.filter((m) => m.includes("queue full")).length).toBe(1);
    await Deno.mkdir(logDir);
    await sink.flush();
    expect((await lines(path)).map((l) => l && idOf(l))).toEqual(["e0", "e1", "e2", ""]);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: open refuses a file whose last line has no hash", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await Deno.writeTextFile(path, "not an audit line\n");
  await expect(openAuditSink({ path })).rejects.toThrow(
    `Cannot open audit log "${path}": its last line has no valid hash`,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sink: gateway_id (GATEWAY_ID, §13) is in every line, after policy_version, hashed", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "audit.log");
  await withSink({ path, gatewayId: "gw-a:8081" }, (sink) => {
    for (let i = 0; i < 3; i++) sink.append(event(i));
    expect(sink.recent().map((e) => e.gateway_id)).toEqual(["gw-a:8081", "gw-a:8081", "gw-a:8081"]);
  });
  const written = (await lines(path)).filter((l) => l !== "");
  expect(written.length).toBe(3);
  for (const line of written) {
    expect(line).toContain('"policy_version":"0123456789ab","gateway_id":"gw-a:8081","prev_hash"');
  }
  expect(verifyLines(written, { from: GENESIS_HASH }).ok).toBe(true);
  // The name is covered by the hash: changing it breaks the chain.
  const forged = [written[0].replace('"gw-a:8081"', '"gw-b:8081"'), ...written.slice(1)];
  expect(verifyLines(forged, { from: GENESIS_HASH }).ok).toBe(false);
  await Deno.remove(dir, { recursive: true });
});
