import { expect } from "expect";
import { createLogger, type Logger, silentLogger } from "../../../log.ts";
import { stdioFixtureCommand } from "../../../../tests/fixtures/stdio_server.ts";
import type { JsonRpcNotification } from "../../jsonrpc.ts";
import { type UpstreamClient, UpstreamError } from "../upstream.ts";
import { createStdioUpstream, type StdioUpstreamOptions } from "./upstream_stdio.ts";

const CALL = { timeoutMs: 20_000 };

function fixture(extra: Partial<StdioUpstreamOptions> = {}): UpstreamClient {
  return createStdioUpstream({
    name: "fx",
    command: stdioFixtureCommand(),
    env: {},
    startTimeoutMs: 20_000,
    restartBackoffMs: { initial: 10, max: 100 },
    clientInfo: { name: "mcp-sec-gateway", version: "0.1.0" },
    log: silentLogger(),
    ...extra,
  });
}

/** A logger that records lines and resolves `seen(text)` once a line contains `text`. */
function watchedLogger(): { log: Logger; lines: string[]; seen(text: string): Promise<void> } {
  const lines: string[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  const log = createLogger("debug", (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (line.includes(waiter.text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  return {
    log,
    lines,
    seen: (text) =>
      lines.some((line) => line.includes(text))
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ text, resolve })),
  };
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UpstreamError) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

const textOf = (result: Record<string, unknown>) => (result.content as { text: string }[])[0].text;

Deno.test("stdio upstream: lazy start, list, call, and concurrent sessions routed", async () => {
  const upstream = fixture();
  try {
    expect(upstream.status()).toBe("idle");
    const listed = await upstream.request("a", "tools/list", undefined, CALL);
    expect((listed.tools as { name: string }[]).map((t) => t.name)).toContain("env_keys");
    expect(upstream.status()).toBe("up");
    expect(upstream.info()?.serverInfo.name).toBe("mcpsec-fixture");
    const calls = [];
    for (let i = 0; i < 20; i++) {
      const key = i % 2 === 0 ? "a" : "b";
      const text = `${key}-${i}`;
      calls.push(
        upstream.request(key, "tools/call", { name: "echo", arguments: { text } }, CALL)
          .then((result) => [text, (result.structuredContent as { text: string }).text]),
      );
    }
    for (const [sent, received] of await Promise.all(calls)) expect(received).toBe(sent);
  } finally {
    await upstream.close();
  }
});

Deno.test("stdio upstream: progress tokens are rewritten and restored per request", async () => {
  const upstream = fixture();
  try {
    const seen: Record<string, unknown[]> = { a: [], b: [] };
    const call = (key: "a" | "b") =>
      upstream.request(key, "tools/call", {
        name: "progress",
        arguments: {},
        _meta: { progressToken: "same" },
      }, {
        ...CALL,
        onNotification: (n: JsonRpcNotification) =>
          seen[key].push([n.params?.progressToken, n.params?.progress]),
      });
    const [a, b] = await Promise.all([call("a"), call("b")]);
    const expected = [["same", 1], ["same", 2], ["same", 3]];
    expect(seen).toEqual({ a: expected, b: expected });
    expect(textOf(a)).toMatch(/^progress done \(token \d+\)$/);
    expect(textOf(b)).not.toBe(textOf(a));
  } finally {
    await upstream.close();
  }
});

Deno.test("stdio upstream: the child gets only PATH, HOME and its configured env", async () => {
  Deno.env.set("MCPSEC_SECRET_TEST", "1");
  const upstream = fixture({ env: { FIXTURE_SETTING: "on" } });
  try {
    const result = await upstream.request("a", "tools/call", { name: "env_keys" }, CALL);
    const keys = (result.structuredContent as { keys: string[] }).keys;
    expect(keys).not.toContain("MCPSEC_SECRET_TEST");
    expect(keys).toContain("FIXTURE_SETTING");
    expect(keys).toContain("PATH");
    if (Deno.env.get("HOME") !== undefined) expect(keys).toContain("HOME");
    expect(keys.filter((key) => !["PATH", "HOME", "FIXTURE_SETTING"].includes(key))).toEqual([]);
  } finally {
    Deno.env.delete("MCPSEC_SECRET_TEST");
    await upstream.close();
  }
});

Deno.test("stdio upstream: a crash mid-call is unavailable, the next call restarts (a new generation)", async () => {
  const upstream = fixture();
  const seen: number[] = [];
  const check = (generation: number) => void seen.push(generation);
  try {
    expect(upstream.generation()).toBe(0);
    await upstream.request("a", "tools/list", undefined, { ...CALL, beforeSend: check });
    const error = await failure(upstream.request("a", "tools/call", { name: "crash" }, CALL));
    expect(error.failure).toBe("unavailable");
    expect(error.message).toContain("process exited (code 3)");
    expect(upstream.status()).toBe("down");
    expect(upstream.generation()).toBe(1);
    const echoed = await upstream.request("b", "tools/call", {
      name: "echo",
      arguments: { text: "back" },
    }, { ...CALL, beforeSend: check });
    expect(echoed.structuredContent).toEqual({ text: "back" });
    expect(upstream.status()).toBe("up");
    expect([upstream.generation(), seen]).toEqual([2, [1, 2]]);
    // A check that refuses keeps the request from being sent (the process stays up).
    const refusal = new UpstreamError("unavailable", "refused by the re-check");
    const refused = await failure(upstream.request("b", "tools/call", { name: "crash" }, {
      ...CALL,
      beforeSend: () => Promise.reject(refusal),
    }));
    expect(refused).toBe(refusal);
    expect([upstream.status(), upstream.generation()]).toEqual(["up", 2]);
  } finally {
    await upstream.close();
  }
});

Deno.test("stdio upstream: during the restart backoff, short requests fail and long ones wait", async () => {
  const upstream = fixture({ restartBackoffMs: { initial: 300, max: 1_000 } });
  try {
    await failure(upstream.request("a", "tools/call", { name: "crash" }, CALL));
    const early = await failure(upstream.request("a", "tools/list", undefined, { timeoutMs: 50 }));
    expect(early.failure).toBe("unavailable");
    expect(early.message).toContain("restarting");
    const listed = await upstream.request("a", "tools/list", undefined, CALL);
    expect(Array.isArray(listed.tools)).toBe(true);
  } finally {
    await upstream.close();
  }
});

Deno.test("stdio upstream: timeout sends notifications/cancelled with the rewritten id", async () => {
  const watched = watchedLogger();
  const upstream = fixture({ log: watched.log });
  try {
    await upstream.request("a", "tools/list", undefined, CALL);
    const error = await failure(
      upstream.request("a", "tools/call", { name: "slow" }, { timeoutMs: 200 }),
    );
    expect(error.failure).toBe("timeout");
    await watched.seen("[upstream fx] slow cancelled");
    const controller = new AbortController();
    const aborted = upstream.request("b", "tools/call", { name: "slow" }, {
      timeoutMs: 20_000,
      signal: controller.signal,
    });
    controller.abort();
    expect((await failure(aborted)).failure).toBe("unavailable");
  } finally {
    await upstream.close();
  }
});

Deno.test("stdio upstream: list_changed reaches listeners with a null session key", async () => {
  const upstream = fixture();
  const seen: [string, string | null][] = [];
  const stop = upstream.onNotification((n, key) => seen.push([n.method, key]));
  try {
    await upstream.request("a", "tools/call", { name: "list_changed" }, CALL);
    await upstream.request("a", "tools/list", undefined, CALL);
    expect(seen).toEqual([["notifications/tools/list_changed", null]]);
  } finally {
    stop();
    await upstream.close();
  }
});

Deno.test("stdio upstream: close() stops the process and fails calls in flight", async () => {
  const upstream = fixture();
  await upstream.request("a", "tools/list", undefined, CALL);
  const pending = failure(upstream.request("a", "tools/call", { name: "slow" }, CALL));
  await upstream.close();
  const error = await pending;
  expect(error.failure).toBe("unavailable");
  expect(upstream.status()).toBe("down");
  expect((await failure(upstream.request("a", "tools/list", undefined, CALL))).message)
    .toContain("closed");
});

Deno.test("stdio upstream: a missing command is unavailable with a clear message", async () => {
  const upstream = fixture({ command: ["/nonexistent/mcpsec-no-such-binary"] });
  try {
    const error = await failure(upstream.request("a", "tools/list", undefined, CALL));
    expect(error.failure).toBe("unavailable");
    expect(error.message).toContain("not found");
    expect(upstream.status()).toBe("down");
  } finally {
    await upstream.close();
  }
});
