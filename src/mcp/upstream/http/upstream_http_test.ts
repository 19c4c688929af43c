import { expect } from "expect";
import { createLogger, silentLogger } from "../../../log.ts";
import { startFixtureHttpServer } from "../../../../tests/fixtures/http_server.ts";
import type { JsonRpcNotification } from "../../jsonrpc.ts";
import { UpstreamError } from "../upstream.ts";
import { createHttpUpstream, type HttpUpstreamOptions } from "./upstream_http.ts";

const CALL = { timeoutMs: 10_000 };

function client(url: string, extra: Partial<HttpUpstreamOptions> = {}) {
  return createHttpUpstream({
    name: "fx",
    url,
    headers: {},
    startTimeoutMs: 10_000,
    clientInfo: { name: "mcp-sec-gateway", version: "0.1.0" },
    log: silentLogger(),
    reconnectBackoffMs: { initial: 5, max: 50 },
    ...extra,
  });
}

async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UpstreamError) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

for (const pooled of [true, false]) {
  const via = pooled ? "the pooled HTTP/1.1 client" : "fetch";

  Deno.test(`http upstream (${via}): initialize, list and call over SSE answers`, async () => {
    const fixture = startFixtureHttpServer();
    const upstream = client(fixture.url, { pooled });
    try {
      expect(upstream.status()).toBe("idle");
      expect(upstream.info()).toBe(undefined);
      const listed = await upstream.request("a", "tools/list", undefined, CALL);
      const names = (listed.tools as { name: string }[]).map((tool) => tool.name);
      expect(names).toEqual(["echo", "add", "slow", "progress", "bad_output", "no_structured"]);
      expect(upstream.status()).toBe("up");
      expect(upstream.info()?.protocolVersion).toBe("2025-11-25");
      expect(upstream.info()?.serverInfo.name).toBe("mcpsec-fixture");
      const echoed = await upstream.request("a", "tools/call", {
        name: "echo",
        arguments: { text: "hi" },
      }, CALL);
      expect(echoed.structuredContent).toEqual({ text: "hi" });
      const posts = fixture.stats.requests.filter((r) => r.httpMethod === "POST");
      expect(posts.map((r) => r.rpcMethod)).toEqual([
        "initialize",
        "notifications/initialized",
        "tools/list",
        "tools/call",
      ]);
      expect(posts[0].headers["mcp-session-id"]).toBe(undefined);
      expect(posts[3].headers["mcp-session-id"]).toBe(fixture.stats.sessionIds[0]);
      expect(posts[3].headers["mcp-protocol-version"]).toBe("2025-11-25");
      expect(posts[3].headers["accept"]).toBe("application/json, text/event-stream");
    } finally {
      await upstream.close();
      await fixture.close();
    }
  });

  Deno.test(`http upstream (${via}): JSON answers and JSON-RPC errors`, async () => {
    const fixture = startFixtureHttpServer({ jsonResponse: true });
    const upstream = client(fixture.url, { pooled });
    try {
      const sum = await upstream.request("a", "tools/call", {
        name: "add",
        arguments: { a: 2, b: 3 },
      }, CALL);
      expect(sum.content).toEqual([{ type: "text", text: "5" }]);
      const error = await rejection(upstream.request("a", "no/such/method", {}, CALL));
      expect(error.failure).toBe("rpc");
      expect(error.code).toBe(-32601);
    } finally {
      await upstream.close();
      await fixture.close();
    }
  });
}

Deno.test("http upstream: progress notifications arrive in order before the result", async () => {
  const fixture = startFixtureHttpServer();
  const upstream = client(fixture.url);
  try {
    const seen: string[] = [];
    const result = await upstream.request("a", "tools/call", {
      name: "progress",
      arguments: {},
      _meta: { progressToken: "tok-1" },
    }, {
      ...CALL,
      onNotification: (n) =>
        seen.push(`${n.method} ${n.params?.progressToken} ${n.params?.progress}`),
    });
    seen.push("result");
    expect(result.content).toEqual([{ type: "text", text: 'progress done (token "tok-1")' }]);
    expect(seen).toEqual([
      "notifications/progress tok-1 1",
      "notifications/progress tok-1 2",
      "notifications/progress tok-1 3",
      "result",
    ]);
  } finally {
    await upstream.close();
    await fixture.close();
  }
});

Deno.test("http upstream: an upstream 404 re-initializes once and retries", async () => {
  const fixture = startFixtureHttpServer();
  const upstream = client(fixture.url);
  try {
    await upstream.request("a", "tools/list", undefined, CALL);
    await fixture.forgetSessions();
    const echoed = await upstream.request("a", "tools/call", {
      name: "echo",
      arguments: { text: "again" },
    }, CALL);
    expect(echoed.structuredContent).toEqual({ text: "again" });
    expect(fixture.stats.sessionIds.length).toBe(2);
    const inits = fixture.stats.requests.filter((r) => r.rpcMethod === "initialize");
    expect(inits.length).toBe(2);
  } finally {
    await upstream.close();
    await fixture.close();
  }
});

Deno.test("http upstream: timeout sends notifications/cancelled and rejects with timeout", async () => {
  const fixture = startFixtureHttpServer();
  const upstream = client(fixture.url);
  try {
    await upstream.request("a", "tools/list", undefined, CALL);
    const error = await rejection(
      upstream.request("a", "tools/call", { name: "slow", arguments: {} }, { timeoutMs: 150 }),
    );
    expect(error.failure).toBe("timeout");
    await fixture.waitFor((stats) => stats.slowCancelled === 1);
    expect(fixture.stats.cancellations.length).toBe(1);
    expect(typeof fixture.stats.cancellations[0].requestId).toBe("number");
    expect(String(fixture.stats.cancellations[0].reason)).toContain("timeout");
  } finally {
    await upstream.close();
    await fixture.close();
  }
});

Deno.test("http upstream: aborting the signal cancels upstream and rejects unavailable", async () => {
  const fixture = startFixtureHttpServer();
  const upstream = client(fixture.url);
  try {
    const controller = new AbortController();
    const call = upstream.request("a", "tools/call", { name: "slow", arguments: {} }, {
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    await fixture.waitFor((stats) => stats.requests.some((r) => r.rpcMethod === "tools/call"));
    controller.abort();
    const error = await rejection(call);
    expect(error.failure).toBe("unavailable");
    expect(error.message).toContain("aborted");
    await fixture.waitFor((stats) => stats.slowCancelled === 1);
  } finally {
    await upstream.close();
    await fixture.close();
  }
});

Deno.test("http upstream: connection refused is unavailable and status down", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const upstream = client(`http://127.0.0.1:${port}/mcp`, {
    headers: { Authorization: "Bearer s3cr3t" },
  });
  try {
    const error = await rejection(upstream.request("a", "tools/list", undefined, CALL));
    expect(error.failure).toBe("unavailable");
    expect(error.message).not.toContain("s3cr3t");
    expect(error.message).not.toContain(String(port));
    expect(upstream.status()).toBe("down");
  } finally {
    await upstream.close();
  }
});

Deno.test("http upstream: sessions per key, one shared initialize per key, DELETE on close", async () => {
  const fixture = startFixtureHttpServer();
  const upstream = client(fixture.url);
  try {
    await Promise.all([
      upstream.request("a", "tools/list", undefined, CALL),
      upstream.request("a", "tools/list", undefined, CALL),
      upstream.request("a", "tools/list", undefined, CALL),
    ]);
    expect(fixture.stats.sessionIds.length).toBe(1);
    await upstream.request("b", "tools/list", undefined, CALL);
    expect(fixture.stats.sessionIds.length).toBe(2);
    expect(fixture.stats.sessionIds[0]).not.toBe(fixture.stats.sessionIds[1]);
    await upstream.closeSession("b");
    expect(fixture.stats.deletes).toBe(1);
    await upstream.request("b", "tools/list", undefined, CALL);
    expect(fixture.stats.sessionIds.length).toBe(3);
  } finally {
    await upstream.close();
    await fixture.close();
  }
  expect(fixture.stats.deletes).toBe(3);
});

Deno.test("http upstream: each session's GET stream delivers its list_changed with its own key", async () => {
  const fixture = startFixtureHttpServer();
  const upstream = client(fixture.url);
  const seen: [JsonRpcNotification, string | null][] = [];
  let arrived!: () => void;
  let delivered = new Promise<void>((resolve) => arrived = resolve);
  const stop = upstream.onNotification((n, key) => {
    seen.push([n, key]);
    if (seen.length % 2 === 0) arrived();
  });
  try {
    await upstream.request("first", "tools/list", undefined, CALL);
    await upstream.request("second", "tools/list", undefined, CALL);
    await fixture.waitFor((stats) => stats.getStreams === 2);
    const gets = fixture.stats.requests.filter((r) => r.httpMethod === "GET");
    expect(gets.map((r) => r.headers["mcp-session-id"]).sort()).toEqual(
      [...fixture.stats.sessionIds].sort(),
    );
    await fixture.sendToolListChanged();
    await delivered;
    const note = { jsonrpc: "2.0", method: "notifications/tools/list_changed" };
    expect(seen.map(([, key]) => key).sort()).toEqual(["first", "second"]);
    expect(seen.map(([n]) => n)).toEqual([note, note]);
    // The server forgets both sessions: the next request opens a new session and a new stream.
    await fixture.forgetSessions();
    await upstream.request("second", "tools/list", undefined, CALL);
    await fixture.waitFor((stats) => stats.getStreams === 3);
    delivered = new Promise<void>((resolve) => arrived = resolve);
    seen.length = 1;
    await fixture.sendToolListChanged();
    await delivered;
    expect(seen[1][1]).toBe("second");
  } finally {
    stop();
    await upstream.close();
    await fixture.close();
  }
});

Deno.test("http upstream: a 405 to GET is not retried", async () => {
  const fixture = startFixtureHttpServer({ noGetStream: true });
  const upstream = client(fixture.url);
  try {
    await upstream.request("a", "tools/list", undefined, CALL);
    await fixture.waitFor((stats) => stats.requests.some((r) => r.httpMethod === "GET"));
    await upstream.request("b", "tools/list", undefined, CALL);
    await upstream.request("a", "tools/call", { name: "add", arguments: { a: 1, b: 1 } }, CALL);
    expect(fixture.stats.requests.filter((r) => r.httpMethod === "GET").length).toBe(1);
  } finally {
    await upstream.close();
    await fixture.close();
  }
});

Deno.test("http upstream: configured headers go upstream, never into logs", async () => {
  const fixture = startFixtureHttpServer();
  const lines: string[] = [];
  const upstream = client(fixture.url, {
    headers: {
      Authorization: "Bearer s3cr3t-value",
      "X-Api-Key": "k3y-value",
      Accept: "text/html",
    },
    log: createLogger("debug", (line) => lines.push(line)),
  });
  try {
    await upstream.request("a", "tools/list", undefined, CALL);
    await fixture.forgetSessions();
    await upstream.request("a", "tools/list", undefined, CALL);
    await rejection(
      upstream.request("a", "tools/call", { name: "slow", arguments: {} }, { timeoutMs: 100 }),
    );
    await fixture.waitFor((stats) => stats.slowCancelled === 1);
  } finally {
    await upstream.close();
    await fixture.close();
  }
  for (const record of fixture.stats.requests) {
    expect(record.headers["authorization"]).toBe("Bearer s3cr3t-value");
    expect(record.headers["x-api-key"]).toBe("k3y-value");
  }
  const post = fixture.stats.requests.find((r) => r.httpMethod === "POST");
  expect(post?.headers["accept"]).toBe("application/json, text/event-stream");
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.join("\n")).not.toMatch(/s3cr3t|k3y-value|127\.0\.0\.1/);
});
