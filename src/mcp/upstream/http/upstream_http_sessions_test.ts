import { expect } from "expect";
import { silentLogger } from "../../../log.ts";
import {
  basics,
  type RawCall,
  sseAnswer,
  sseEvent,
  startRawHttpServer,
} from "../../../../tests/fixtures/raw_http_server.ts";
import type { JsonRpcRequest } from "../../jsonrpc.ts";
import { createHttpUpstream, type HttpUpstreamOptions } from "./upstream_http.ts";

const CALL = { timeoutMs: 5_000 };

function client(url: string, extra: Partial<HttpUpstreamOptions> = {}) {
  return createHttpUpstream({
    name: "raw",
    url,
    headers: {},
    startTimeoutMs: 5_000,
    clientInfo: { name: "mcp-sec-gateway", version: "0.1.0" },
    log: silentLogger(),
    reconnectBackoffMs: { initial: 1, max: 1 },
    ...extra,
  });
}

const json = (value: unknown) =>
  new Response(JSON.stringify(value), { headers: { "Content-Type": "application/json" } });

/** Answers initialize with a session id per initialize (`s1`, `s2`…), tools/list with []. */
function sessionsServer(onGet: (call: RawCall) => Response) {
  let sessions = 0;
  return startRawHttpServer((call) => {
    if (call.httpMethod === "GET") return onGet(call);
    if (call.httpMethod === "DELETE") return new Response(null, { status: 200 });
    if (call.body?.method === "initialize") return basics(call, `s${++sessions}`)!;
    if (call.body !== undefined && !("method" in call.body)) {
      return new Response(null, { status: 202 }); // a client's answer to a server request
    }
    return basics(call) ?? json({ jsonrpc: "2.0", id: call.body?.id, result: { tools: [] } });
  });
}

const getsOf = (calls: RawCall[]) =>
  calls.filter((call) => call.httpMethod === "GET").map((call) =>
    call.headers.get("mcp-session-id")
  );

Deno.test("http upstream: one GET stream per upstream session; a 400 (session gone) ends it, never retried", async () => {
  // server-everything answers 400 to a GET for a session it no longer knows.
  const server = sessionsServer(() =>
    new Response("Bad Request: no valid session", { status: 400 })
  );
  const upstream = client(server.url);
  try {
    await upstream.request("a", "tools/list", undefined, CALL);
    await upstream.request("b", "tools/list", undefined, CALL);
    // Round trips give a retry loop (1 ms backoff) ample time to show itself.
    for (let i = 0; i < 20; i++) await upstream.request("a", "tools/list", undefined, CALL);
    expect(getsOf(server.calls).sort()).toEqual(["s1", "s2"]);
  } finally {
    await upstream.close();
    await server.close();
  }
});

Deno.test("http upstream: a server request on a session's GET stream goes to the handler with that session's key; the answer is POSTed in that session", async () => {
  const ask: JsonRpcRequest = {
    jsonrpc: "2.0",
    id: "srv-1",
    method: "sampling/createMessage",
    params: { messages: [], maxTokens: 5 },
  };
  let askedOnce = false;
  const server = sessionsServer((call) => {
    if (call.headers.get("mcp-session-id") !== "s2" || askedOnce) {
      return sseAnswer(": nothing for this session\n\n");
    }
    askedOnce = true;
    return sseAnswer(sseEvent(ask));
  });
  const asked: [string, JsonRpcRequest][] = [];
  const upstream = client(server.url, {
    onServerRequest: (key, request) => {
      asked.push([key, request]);
      return Promise.resolve({ role: "assistant", content: { type: "text", text: "hi" } });
    },
  });
  try {
    // "a" (session s1) is asked nothing; "b" (session s2) is the session that is asked.
    await upstream.request("a", "tools/list", undefined, CALL);
    await upstream.request("b", "tools/list", undefined, CALL);
    for (let i = 0; i < 500; i++) {
      if (server.calls.some((call) => call.body?.id === "srv-1" && !("method" in call.body))) break;
      await upstream.request("b", "tools/list", undefined, CALL);
    }
    expect(asked).toEqual([["b", ask]]);
    const answer = server.calls.find((call) => call.body?.id === "srv-1")!;
    expect(answer.headers.get("mcp-session-id")).toBe("s2");
    expect(answer.body).toEqual({
      jsonrpc: "2.0",
      id: "srv-1",
      result: { role: "assistant", content: { type: "text", text: "hi" } },
    });
  } finally {
    await upstream.close();
    await server.close();
  }
});
