import { expect } from "expect";
import { createLogger } from "../../../log.ts";
import { createStdioUpstream } from "./upstream_stdio.ts";

const PACKAGE = "@modelcontextprotocol/server-everything@2026.8.31";

async function hasNpx(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("npx", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}

const npx = await hasNpx();
if (!npx) console.log(`skipping ${PACKAGE} test: npx (Node.js) is not installed`);

Deno.test({
  name: "stdio upstream: the real server-everything over npx lists tools and echoes",
  ignore: !npx,
  async fn() {
    const lines: string[] = [];
    const upstream = createStdioUpstream({
      name: "everything",
      command: ["npx", "-y", PACKAGE, "stdio"],
      env: {},
      startTimeoutMs: 120_000,
      clientInfo: { name: "mcp-sec-gateway", version: "0.1.0" },
      log: createLogger("info", (line) => lines.push(line)),
    });
    const changes: (string | null)[] = [];
    upstream.onNotification((n, key) => {
      if (n.method === "notifications/tools/list_changed") changes.push(key);
    });
    try {
      const listed = await upstream.request("a", "tools/list", undefined, { timeoutMs: 120_000 });
      const names = (listed.tools as { name: string }[]).map((tool) => tool.name);
      expect(names).toContain("echo");
      expect(upstream.info()?.serverInfo.name).toBe("mcp-servers/everything");
      expect(changes).toContain(null);
      const echoed = await upstream.request("b", "tools/call", {
        name: "echo",
        arguments: { message: "hello gateway" },
      }, { timeoutMs: 30_000 });
      expect(echoed.content).toEqual([{ type: "text", text: "Echo: hello gateway" }]);
    } finally {
      await upstream.close();
    }
    expect(upstream.status()).toBe("down");
  },
});
