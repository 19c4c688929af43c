/**
 * The 2025-11-25 SSE polling pattern relayed end to end (issue 11, SPEC §5.5), against the SDK-built
 * upstream (tests/fixtures/sdk_conformance_server.ts): the upstream closes a call's stream after
 * its priming event and is resumed by the gateway; the client's stream is paused the same way and
 * resumed from the gateway with `Last-Event-ID`; a client that drops its stream by itself resumes
 * too. Nothing is lost or delivered twice.
 */
import { expect } from "expect";
// @ts-types="@modelcontextprotocol/sdk/client/index.d.ts"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp.d.ts"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startSdkConformanceServer } from "../fixtures/sdk_conformance_server.ts";
import { startTestGateway } from "../harness.ts";

const POLICY = (upstreamUrl: string) => `
rules:
  - model: "*"
    allow_tools: ["*"]
upstreams:
  sdk:
    url: "${upstreamUrl}"
    prefix: ""
`;

const VERSION = "2025-11-25";
const HEADERS = {
  "content-type": "application/json",
  accept: "text/event-stream, application/json",
};

interface Event {
  readonly id?: string;
  readonly retry?: number;
  readonly data: string;
}

/** Reads SSE events from `body` until `stop` says so or the stream ends (bounded by 10 s). */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  stop: (events: Event[]) => boolean = () => false,
): Promise<{ events: Event[]; ended: boolean }> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const events: Event[] = [];
  let buffer = "";
  const timer = setTimeout(() => reader.cancel(), 10_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return { events, ended: true };
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const field = (name: string) =>
          block.split("\n").find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
        const retry = field("retry");
        events.push({
          id: field("id"),
          retry: retry === undefined ? undefined : Number(retry),
          data: field("data") ?? "",
        });
        if (stop(events)) {
          await reader.cancel();
          return { events, ended: false };
        }
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

async function session(url: string): Promise<string> {
  const init = await fetch(url, {
    method: "POST",
    headers: HEADERS,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: VERSION,
        capabilities: {},
        clientInfo: { name: "sse-probe", version: "1" },
      },
    }),
  });
  await init.body?.cancel();
  const id = init.headers.get("mcp-session-id")!;
  const done = await fetch(url, {
    method: "POST",
    headers: { ...HEADERS, "mcp-session-id": id, "mcp-protocol-version": VERSION },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await done.body?.cancel();
  return id;
}

const call = (url: string, id: string, name: string) =>
  fetch(url, {
    method: "POST",
    headers: { ...HEADERS, "mcp-session-id": id, "mcp-protocol-version": VERSION },
    body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name } }),
  });

const resume = (url: string, id: string, lastEventId: string) =>
  fetch(url, {
    headers: {
      accept: "text/event-stream",
      "mcp-session-id": id,
      "mcp-protocol-version": VERSION,
      "last-event-id": lastEventId,
    },
  });

const messages = (events: Event[]) =>
  events.filter((e) => e.data !== "").map((e) => JSON.parse(e.data) as Record<string, unknown>);

Deno.test("SSE polling: the upstream pauses a call; the client's stream pauses the same way and resumes from the gateway", async () => {
  const upstream = await startSdkConformanceServer();
  const gw = await startTestGateway({ policy: POLICY(upstream.url) });
  const url = gw.url + "/mcp";
  try {
    const id = await session(url);
    const answer = await call(url, id, "test_reconnection");
    expect(answer.headers.get("content-type")).toBe("text/event-stream");
    const first = await readEvents(answer.body!);
    // Priming event first, then the pause: the upstream's retry (250 ms), no answer yet.
    expect(first.ended).toBe(true);
    expect(first.events[0].data).toBe("");
    expect(first.events[0].id).toMatch(/^s\d+\.0$/);
    expect(first.events.at(-1)!.retry).toBe(250);
    expect(messages(first.events)).toEqual([]);
    const last = first.events.filter((e) => e.id !== undefined).at(-1)!.id!;
    const resumed = await resume(url, id, last);
    expect(resumed.status).toBe(200);
    const rest = await readEvents(resumed.body!);
    const answers = messages(rest.events);
    expect(answers).toHaveLength(1);
    expect(answers[0].id).toBe(7);
    expect(JSON.stringify(answers[0].result)).toContain("Reconnection test completed");
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("SSE polling: a client that drops its stream mid-call resumes with Last-Event-ID, nothing lost or twice", async () => {
  const upstream = await startSdkConformanceServer();
  const gw = await startTestGateway({ policy: POLICY(upstream.url) });
  const url = gw.url + "/mcp";
  try {
    const id = await session(url);
    const answer = await call(url, id, "test_tool_with_logging");
    // Gone after the first log line.
    const first = await readEvents(answer.body!, (events) => messages(events).length === 1);
    expect(first.ended).toBe(false);
    const last = first.events.filter((e) => e.id !== undefined).at(-1)!.id!;
    const rest = await readEvents((await resume(url, id, last)).body!);
    const all = [...messages(first.events), ...messages(rest.events)];
    expect(all.map((m) => m.method ?? "answer")).toEqual([
      "notifications/message",
      "notifications/message",
      "notifications/message",
      "answer",
    ]);
    expect(all.slice(0, 3).map((m) => (m.params as { data: string }).data)).toEqual([
      "Tool execution started",
      "Tool processing data",
      "Tool execution completed",
    ]);
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("SSE polling: the SDK client gets the answer of a paused call through the gateway, as directly", async () => {
  const upstream = await startSdkConformanceServer();
  const gw = await startTestGateway({ policy: POLICY(upstream.url) });
  try {
    for (const url of [upstream.url, gw.url + "/mcp"]) {
      const client = new Client({ name: "sdk-probe", version: "1.0.0" });
      const transport = new StreamableHTTPClientTransport(new URL(url));
      await client.connect(transport);
      try {
        const result = await client.callTool(
          { name: "test_reconnection", arguments: {} },
          undefined,
          {
            timeout: 15_000,
          },
        );
        expect(JSON.stringify(result.content)).toContain("Reconnection test completed");
      } finally {
        await transport.terminateSession().catch(() => {});
        await client.close();
      }
    }
  } finally {
    await gw.close();
    await upstream.close();
  }
});
