import { expect } from "expect";
import { SCRUBBED } from "../../audit/event/scrub.ts";
import type { UpstreamConfig } from "../../policy/types.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../jsonrpc.ts";
import { type UpstreamClient, UpstreamError } from "./upstream.ts";
import { scrubbingClient, upstreamScrubber } from "./upstream_scrub.ts";

const SECRET = "child-env-secret-0123";
const CONFIG: UpstreamConfig = {
  kind: "stdio",
  prefix: "files",
  command: ["x"],
  env: { API_TOKEN: SECRET },
};

function fakeClient(): UpstreamClient & { listeners: ((n: JsonRpcNotification) => void)[] } {
  const listeners: ((n: JsonRpcNotification) => void)[] = [];
  const echo = { text: `I run with ${SECRET}` };
  const info = {
    protocolVersion: "2025-06-18",
    capabilities: {},
    serverInfo: { name: "files" },
    instructions: `use ${SECRET}`,
  };
  return {
    listeners,
    name: "files",
    status: () => "up",
    async request(_key, method, _params, options) {
      options.onNotification?.({ jsonrpc: "2.0", method: "notifications/message", params: echo });
      await options.onRequest?.({
        jsonrpc: "2.0",
        id: 1,
        method: "sampling/createMessage",
        params: echo,
      });
      if (method === "fail") throw new UpstreamError("rpc", `bad key ${SECRET}`, { code: -1 });
      return { content: [{ type: "text", ...echo }] };
    },
    notify: () => Promise.resolve(),
    info: () => info,
    generation: () => 1,
    onNotification(listener) {
      listeners.push((notification) => listener(notification, null));
      return () => {};
    },
    closeSession: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

Deno.test("scrubbingClient: the upstream's own credential never comes out of any door", async () => {
  const inner = fakeClient();
  const client = scrubbingClient(inner, upstreamScrubber("files", CONFIG));
  const seen: unknown[] = [];
  const result = await client.request("s", "tools/call", {}, {
    timeoutMs: 1000,
    onNotification: (notification) => void seen.push(notification),
    onRequest: (request: JsonRpcRequest) => (seen.push(request), Promise.resolve({})),
  });
  client.onNotification((notification) => void seen.push(notification));
  inner.listeners[0]({ jsonrpc: "2.0", method: "notifications/message", params: { s: SECRET } });
  const failure = await client.request("s", "fail", {}, { timeoutMs: 1000 }).catch((e) => e);
  expect(failure).toBeInstanceOf(UpstreamError);
  const everything = JSON.stringify([result, seen, client.info(), (failure as Error).message]);
  expect(everything).not.toContain(SECRET);
  expect(everything).toContain(SCRUBBED);
  expect(client.info()).toBe(client.info()); // scrubbed once per initialize
});

Deno.test("scrubbingClient: an upstream with no configured credential is not wrapped", () => {
  const inner = fakeClient();
  const none: UpstreamConfig = {
    kind: "http",
    prefix: "a",
    url: "http://127.0.0.1:1/mcp",
    headers: {},
  };
  expect(scrubbingClient(inner, upstreamScrubber("a", none))).toBe(inner);
});
