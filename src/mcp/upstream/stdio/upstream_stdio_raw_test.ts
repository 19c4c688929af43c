import { expect } from "expect";
import { createLogger, silentLogger } from "../../../log.ts";
import { createStdioUpstream, type StdioUpstreamOptions } from "./upstream_stdio.ts";

const CALL = { timeoutMs: 20_000 };
const SCRIPT = new URL("../../../../tests/fixtures/raw_stdio_server.ts", import.meta.url).pathname;

function raw(extra: Partial<StdioUpstreamOptions> = {}) {
  return createStdioUpstream({
    name: "raw",
    command: [Deno.execPath(), "run", "--quiet", "--no-config", SCRIPT],
    env: {},
    startTimeoutMs: 20_000,
    maxLineBytes: 1_000,
    clientInfo: { name: "mcp-sec-gateway", version: "0.1.0" },
    log: silentLogger(),
    ...extra,
  });
}

Deno.test("stdio upstream: bad and overlong lines are skipped and logged, stderr is truncated", async () => {
  const lines: string[] = [];
  const upstream = raw({ log: createLogger("debug", (line) => lines.push(line)) });
  const seen: [string, string | null][] = [];
  upstream.onNotification((n, key) => seen.push([n.method, key]));
  try {
    const result = await upstream.request("a", "tools/list", undefined, CALL);
    expect(result).toEqual({ ok: true, method: "tools/list" });
    expect(seen).toEqual([["notifications/tools/list_changed", null]]);
    expect(lines.some((l) => l.includes("non-JSON line (skipped): this is not json"))).toBe(true);
    expect(lines.some((l) => l.includes("longer than 1000 bytes"))).toBe(true);
    const stderr = lines.find((l) => l.includes("[upstream raw] eee"));
    expect(stderr).toBeDefined();
    expect(stderr!.length).toBeLessThan(2_200);
  } finally {
    await upstream.close();
  }
});

Deno.test("stdio upstream: server requests get -32601, or the onServerRequest answer", async () => {
  const plain = raw();
  try {
    const result = await plain.request("a", "ask", {}, CALL);
    const reply = result.reply as { error?: { code: number } };
    expect(reply.error?.code).toBe(-32601);
  } finally {
    await plain.close();
  }
  const asked: string[] = [];
  const hooked = raw({
    onServerRequest: (request) => {
      asked.push(request.method);
      return Promise.resolve({ roots: [] });
    },
  });
  try {
    const result = await hooked.request("a", "ask", {}, CALL);
    expect((result.reply as { result?: unknown }).result).toEqual({ roots: [] });
    expect(asked).toEqual(["roots/list"]);
  } finally {
    await hooked.close();
  }
});
