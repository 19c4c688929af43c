import { expect } from "expect";
import { silentLogger } from "../../../log.ts";
import {
  basics,
  type RawCall,
  sseAnswer,
  sseEvent,
  startRawHttpServer,
} from "../../../../tests/fixtures/raw_http_server.ts";
import { UpstreamError } from "../upstream.ts";
import { createHttpUpstream } from "./upstream_http.ts";

const CALL = { timeoutMs: 5_000 };

function client(url: string, maxMessageBytes?: number, pooled?: boolean) {
  return createHttpUpstream({
    name: "raw",
    url,
    headers: { Authorization: "Bearer hostile-test-secret" },
    startTimeoutMs: 5_000,
    maxMessageBytes,
    clientInfo: { name: "mcp-sec-gateway", version: "0.1.0" },
    log: silentLogger(),
    pooled,
  });
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UpstreamError) {
      expect(error.message).not.toContain("hostile-test-secret");
      return error;
    }
    throw error;
  }
  throw new Error("expected a rejection");
}

/** Runs one `tools/list` against a server answering it with `answer`. */
async function listAgainst(
  answer: (call: RawCall) => Response | Promise<Response>,
  maxMessageBytes?: number,
): Promise<UpstreamError> {
  const server = startRawHttpServer((call) => basics(call) ?? answer(call));
  const upstream = client(server.url, maxMessageBytes);
  try {
    return await failure(upstream.request("k", "tools/list", undefined, CALL));
  } finally {
    await upstream.close();
    await server.close();
  }
}

const json = (value: unknown, status = 200) =>
  new Response(typeof value === "string" ? value : JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json" },
  });

Deno.test("http upstream: garbage answers are protocol failures", async () => {
  expect((await listAgainst(() => json("not json"))).failure).toBe("protocol");
  expect((await listAgainst(() => json({ foo: 1 }))).failure).toBe("protocol");
  expect((await listAgainst(() => json({ jsonrpc: "2.0", id: 999, result: {} }))).failure)
    .toBe("protocol");
  expect((await listAgainst((c) => json({ jsonrpc: "2.0", id: c.body?.id, result: [] }))).failure)
    .toBe("protocol");
  expect(
    (await listAgainst(() => new Response("<html>", { headers: { "Content-Type": "text/html" } })))
      .failure,
  ).toBe("protocol");
  expect((await listAgainst(() => json({ error: "boom" }, 500))).message).toContain("HTTP 500");
  expect((await listAgainst(() => new Response(null, { status: 202 }))).failure).toBe("protocol");
  expect((await listAgainst(() => sseAnswer("data: {nope\n\n"))).failure).toBe("protocol");
  expect((await listAgainst(() => sseAnswer(sseEvent({ jsonrpc: "2.0", method: "x" })))).failure)
    .toBe("protocol");
});

Deno.test("http upstream: a redirect is refused, never followed (by either client)", async () => {
  const elsewhere = startRawHttpServer((call) => basics(call) ?? json({}));
  const redirecting = startRawHttpServer(() =>
    new Response(null, { status: 307, headers: { Location: elsewhere.url } })
  );
  try {
    for (const pooled of [true, false]) {
      const upstream = client(redirecting.url, undefined, pooled);
      try {
        const error = await failure(upstream.request("k", "tools/list", undefined, CALL));
        expect(error.message).toContain("HTTP 307");
      } finally {
        await upstream.close();
      }
    }
    expect(redirecting.calls.length).toBe(2);
    // The configured Authorization header never reached the other host.
    expect(elsewhere.calls).toEqual([]);
  } finally {
    await redirecting.close();
    await elsewhere.close();
  }
});

Deno.test("http upstream: oversized bodies and events are refused", async () => {
  const big = (c: RawCall) => ({
    jsonrpc: "2.0",
    id: c.body?.id,
    result: { tools: [], pad: "x".repeat(5_000) },
  });
  const asJson = await listAgainst((c) => json(big(c)), 1_000);
  expect(asJson.failure).toBe("protocol");
  expect(asJson.message).toContain("1000 bytes");
  const streamed = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new TextEncoder().encode("x".repeat(512)));
    },
  });
  const chunked = await listAgainst(
    () => new Response(streamed, { headers: { "Content-Type": "application/json" } }),
    1_000,
  );
  expect(chunked.failure).toBe("protocol");
  const asSse = await listAgainst((c) => sseAnswer(sseEvent(big(c))), 1_000);
  expect(asSse.failure).toBe("protocol");
  expect(asSse.message).toContain("1000 bytes");
});

Deno.test("http upstream: a JSON-RPC error keeps its code, message and data", async () => {
  const error = await listAgainst((c) =>
    json({
      jsonrpc: "2.0",
      id: c.body?.id,
      error: { code: -32000, message: "nope", data: { x: 1 } },
    })
  );
  expect(error.failure).toBe("rpc");
  expect(error.code).toBe(-32000);
  expect(error.message).toBe("nope");
  expect(error.data).toEqual({ x: 1 });
});

Deno.test("http upstream: a session lost twice fails after exactly one re-initialize", async () => {
  const server = startRawHttpServer((call) => {
    if (call.httpMethod === "POST" && call.body?.method === "tools/list") {
      return json({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "gone" } }, 404);
    }
    return basics(call)!;
  });
  const upstream = client(server.url);
  try {
    const error = await failure(upstream.request("k", "tools/list", undefined, CALL));
    expect(error.failure).toBe("protocol");
    const methods = server.calls.map((c) => c.body?.method).filter((m) => m !== undefined);
    expect(methods).toEqual([
      "initialize",
      "notifications/initialized",
      "tools/list",
      "initialize",
      "notifications/initialized",
      "tools/list",
    ]);
  } finally {
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: initialize that never answers is unavailable within startTimeoutMs", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const server = startRawHttpServer(async () => {
    await released;
    return new Response(null, { status: 503 });
  });
  const upstream = createHttpUpstream({
    name: "raw",
    url: server.url,
    headers: {},
    startTimeoutMs: 100,
    clientInfo: { name: "g", version: "1" },
    log: silentLogger(),
  });
  try {
    const pending = upstream.request("k", "tools/list", undefined, CALL);
    expect(upstream.status()).toBe("starting");
    const error = await failure(pending);
    expect(error.failure).toBe("unavailable");
    expect(error.message).toContain("100 ms");
    expect(upstream.status()).toBe("down");
  } finally {
    release();
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: an SSE stream closed early is resumed with Last-Event-ID", async () => {
  const server = startRawHttpServer((call) => {
    if (call.httpMethod === "POST" && call.body?.method === "tools/list") {
      return sseAnswer("id: ev-1\nretry: 1\ndata: \n\n");
    }
    if (call.httpMethod === "GET" && call.headers.get("last-event-id") === "ev-1") {
      const id = server.calls.find((c) => c.body?.method === "tools/list")?.body?.id;
      return sseAnswer(sseEvent({ jsonrpc: "2.0", id, result: { tools: [] } }, "ev-2"));
    }
    return basics(call)!;
  });
  const upstream = client(server.url);
  try {
    expect(await upstream.request("k", "tools/list", undefined, CALL)).toEqual({ tools: [] });
    const resumed = server.calls.find((c) => c.headers.get("last-event-id") === "ev-1");
    expect(resumed?.headers.get("mcp-session-id")).toBe("raw-session");
  } finally {
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: server requests on the POST stream are answered in the session", async () => {
  const answers: ((body: Record<string, unknown>) => void)[] = [];
  const encoder = new TextEncoder();
  const server = startRawHttpServer((call) => {
    if (call.httpMethod === "POST" && call.body?.method === "tools/call") {
      const id = call.body.id;
      const answer = new Promise<Record<string, unknown>>((resolve) => answers.push(resolve));
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          const ask = { jsonrpc: "2.0", id: `s-${id}`, method: "roots/list" };
          controller.enqueue(encoder.encode(sseEvent(ask)));
          const reply = await answer;
          const result = { content: [{ type: "text", text: JSON.stringify(reply) }] };
          controller.enqueue(encoder.encode(sseEvent({ jsonrpc: "2.0", id, result })));
          controller.close();
        },
      });
      return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
    }
    if (call.httpMethod === "POST" && String(call.body?.id).startsWith("s-")) {
      answers.shift()!(call.body!);
      return new Response(null, { status: 202 });
    }
    return basics(call)!;
  });
  const upstream = client(server.url);
  const replyOf = (result: Record<string, unknown>) =>
    JSON.parse((result.content as { text: string }[])[0].text);
  try {
    const without = replyOf(await upstream.request("k", "tools/call", { name: "t" }, CALL));
    expect(without.error.code).toBe(-32601);
    const asked: string[] = [];
    const withHandler = replyOf(
      await upstream.request("k", "tools/call", { name: "t" }, {
        ...CALL,
        onRequest: (request) => {
          asked.push(request.method);
          return Promise.resolve({ roots: [{ uri: "file:///tmp" }] });
        },
      }),
    );
    expect(asked).toEqual(["roots/list"]);
    expect(withHandler.result).toEqual({ roots: [{ uri: "file:///tmp" }] });
    const posts = server.calls.filter((c) => String(c.body?.id).startsWith("s-"));
    expect(posts.length).toBe(2);
    expect(posts[0].headers.get("mcp-session-id")).toBe("raw-session");
  } finally {
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: the GET stream reconnects after it ends, sending Last-Event-ID", async () => {
  let gets = 0;
  const server = startRawHttpServer((call) => {
    if (call.httpMethod !== "GET") {
      return basics(call) ?? json({ jsonrpc: "2.0", id: call.body?.id, result: { tools: [] } });
    }
    gets++;
    if (gets > 2) return new Response(null, { status: 405 });
    const note = { jsonrpc: "2.0", method: "notifications/message", params: { data: gets } };
    return sseAnswer(`retry: 1\n${sseEvent(note, `g-${gets}`)}`);
  });
  const upstream = client(server.url);
  const seen: unknown[] = [];
  let third!: () => void;
  const stopped = new Promise<void>((resolve) => third = resolve);
  upstream.onNotification((n, key) => {
    seen.push([n.params?.data, key]);
    if (seen.length === 2) third();
  });
  try {
    expect(await upstream.request("k", "tools/list", undefined, CALL)).toEqual({ tools: [] });
    await stopped;
    expect(seen).toEqual([[1, "k"], [2, "k"]]);
    const getCalls = server.calls.filter((c) => c.httpMethod === "GET");
    expect(getCalls[0].headers.get("last-event-id")).toBe(null);
    expect(getCalls[1].headers.get("last-event-id")).toBe("g-1");
  } finally {
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: every initialize bumps the generation; beforeSend sees it before each send and can stop it", async () => {
  let forget = false;
  const server = startRawHttpServer((call) => {
    if (call.httpMethod === "POST" && call.body?.method === "tools/call") {
      if (forget) {
        forget = false; // a redeployed upstream: the old session id is unknown
        return json({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "gone" } }, 404);
      }
      return json({ jsonrpc: "2.0", id: call.body.id, result: { content: [] } });
    }
    return basics(call)!;
  });
  const upstream = client(server.url);
  const seen: number[] = [];
  const check = (generation: number) => {
    seen.push(generation);
    return undefined;
  };
  const sent = () => server.calls.filter((c) => c.body?.method === "tools/call").length;
  try {
    expect(upstream.generation()).toBe(0);
    await upstream.request("a", "tools/call", { name: "t" }, { ...CALL, beforeSend: check });
    await upstream.request("b", "tools/call", { name: "t" }, { ...CALL, beforeSend: check });
    expect([upstream.generation(), seen]).toEqual([2, [1, 2]]);

    forget = true;
    await upstream.request("a", "tools/call", { name: "t" }, { ...CALL, beforeSend: check });
    expect([upstream.generation(), seen.slice(2)]).toEqual([3, [1, 3]]);
    expect(sent()).toBe(4); // one answered 404, then re-sent on the new session

    forget = true;
    const refusal = new UpstreamError("unavailable", "refused by the re-check");
    const error = await failure(
      upstream.request("b", "tools/call", { name: "t" }, {
        ...CALL,
        beforeSend: (generation) => generation > 2 ? Promise.reject(refusal) : undefined,
      }),
    );
    expect(error).toBe(refusal);
    expect([upstream.generation(), sent()]).toEqual([4, 5]); // the 404 one only, never re-sent
    expect(upstream.status()).toBe("up"); // a refusal by the check is no upstream failure
  } finally {
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: a resumed stream that replays too much delivers nothing twice; the pause is reported with the upstream's retry", async () => {
  const progress = (n: number) => ({
    jsonrpc: "2.0",
    method: "notifications/progress",
    params: { progressToken: "t", progress: n },
  });
  const server = startRawHttpServer((call) => {
    if (call.httpMethod === "POST" && call.body?.method === "tools/call") {
      return sseAnswer(`id: p-0\nretry: 7\ndata: \n\n${sseEvent(progress(1), "p-1")}`);
    }
    if (call.httpMethod === "GET" && call.headers.get("last-event-id") === "p-1") {
      // A careless event store: replays the whole stream, not what came after p-1.
      const id = server.calls.find((c) => c.body?.method === "tools/call")?.body?.id;
      return sseAnswer(
        sseEvent(progress(1), "p-1") + sseEvent(progress(2), "p-2") +
          sseEvent({ jsonrpc: "2.0", id, result: { content: [] } }, "p-3"),
      );
    }
    return basics(call)!;
  });
  const upstream = client(server.url);
  const seen: unknown[] = [];
  const pauses: number[] = [];
  try {
    const result = await upstream.request("k", "tools/call", { name: "x" }, {
      ...CALL,
      onNotification: (n) => seen.push(n.params?.progress),
      onPause: (retryMs) => pauses.push(retryMs),
    });
    expect(result).toEqual({ content: [] });
    expect(seen).toEqual([1, 2]);
    expect(pauses).toEqual([7]);
  } finally {
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: an event id unfit for a header is never sent back; the call fails", async () => {
  for (const id of ["caf\u00e9", "x".repeat(1025)]) {
    const server = startRawHttpServer((call) => {
      if (call.httpMethod === "POST" && call.body?.method === "tools/list") {
        return sseAnswer(`id: ${id}\nretry: 1\ndata: \n\n`);
      }
      return basics(call)!;
    });
    const upstream = client(server.url);
    try {
      const error = await failure(upstream.request("k", "tools/list", undefined, CALL));
      expect(error.failure).toBe("protocol");
      expect(error.message).toContain("invalid event id");
      expect(server.calls.filter((c) => c.headers.get("last-event-id") !== null)).toEqual([]);
    } finally {
      await upstream.close();
      await server.close();
    }
  }
});
