/**
 * The compatibility matrix (issue 11, docs/COMPATIBILITY.md): real MCP clients — the SDK's
 * `Client` over Streamable HTTP, the MCP Inspector's CLI mode and `mcp-remote` as a stdio bridge,
 * all pinned — each run against real servers directly and through the gateway, operation by
 * operation, results compared after namespacing is undone.
 *
 * ```ts
 * const session = await SDK_CLIENT.open({ url });
 * const tools = await session.run("tools/list");
 * const inspector = inspectorCli(await npxBin(INSPECTOR, "mcp-inspector"));
 * ```
 *
 * `npx` keeps what it downloads in the npm cache (`--prefer-offline`), so after one run nothing is
 * fetched again; the installed executables are then run directly (no `npx` per run).
 */
// @ts-types="@modelcontextprotocol/sdk/client/index.d.ts"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp.d.ts"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio.d.ts"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
// @ts-types="@modelcontextprotocol/sdk/types.d.ts"
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

/** The pinned MCP Inspector (its `--cli` mode). */
export const INSPECTOR = "@modelcontextprotocol/inspector@2.12.0";
/** The pinned `mcp-remote` stdio bridge. */
export const MCP_REMOTE = "mcp-remote@0.15.1";
/** The SDK the project's tests and the SDK client column use. */
export const SDK_VERSION = "1.32.2";

/** The operations of the matrix. */
export const OPERATIONS = [
  "initialize",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/read",
  "sampling",
  "elicitation",
  "roots",
  "logging",
  "resources/updated",
] as const;

/** Operations that wait for notifications the server sends outside any request: `logging`
 * turns a server's simulated logging on (`name`: the toggle tool) until one
 * `notifications/message` arrives; `resources/updated` subscribes to `uri` and turns simulated
 * updates on until one `notifications/resources/updated` for it arrives. */
export const NOTIFYING: readonly Operation[] = ["logging", "resources/updated"];
/** Longest wait for such a notification (server-everything sends the first one at once). */
const NOTIFICATION_WAIT_MS = 15_000;

/** Operations that are a tool call during which the server asks the client something back. */
export const ASKING: readonly Operation[] = ["sampling", "elicitation", "roots"];

/** One operation of the matrix. */
export type Operation = typeof OPERATIONS[number];

/** Where a client connects: a Streamable HTTP URL or a stdio command. */
export type Target =
  | { readonly url: string }
  | { readonly command: readonly string[]; readonly env: Readonly<Record<string, string>> };

/** The parameters of an operation (`tools/call`: name and arguments, …). */
export interface OperationParams {
  /** Tool or prompt name. */
  readonly name?: string;
  /** Tool or prompt arguments (strings only: the Inspector passes `key=value`). */
  readonly arguments?: Readonly<Record<string, string>>;
  /** Resource URI. */
  readonly uri?: string;
}

/** A connected client. */
export interface ClientSession {
  /** Runs one operation; resolves with the JSON-RPC result (`initialize`: the server's info). */
  run(operation: Operation, params?: OperationParams): Promise<Record<string, unknown>>;
  /** Disconnects. */
  close(): Promise<void>;
}

/** A real client, as the matrix drives it. */
export interface ClientDriver {
  /** Column name in the matrix. */
  readonly name: string;
  /** Operations this client can perform. */
  readonly operations: readonly Operation[];
  /** Connects; undefined when the client cannot reach this kind of target. */
  open(target: Target): Promise<ClientSession | undefined>;
}

/** What a full-featured agent declares (server-everything lists some tools only to such). */
const CAPABILITIES = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
};
const NPX = ["npx", "--yes", "--prefer-offline"];
const RUN_TIMEOUT_MS = 120_000;

/** Runs the operation on an SDK `Client`. */
/** A notification a client received. */
interface Notified {
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

/** What a client received, and who waits for more. */
interface Received {
  readonly items: Notified[];
  readonly listeners: Set<() => void>;
}

function sdkSession(client: Client, seen: Received, close: () => Promise<void>): ClientSession {
  /** Resolves true once a notification `matches` arrived, false after the wait. */
  const arrival = (matches: (n: Notified) => boolean) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        if (!seen.items.some(matches)) return;
        clearTimeout(timer);
        seen.listeners.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        seen.listeners.delete(check);
        resolve(false);
      }, NOTIFICATION_WAIT_MS);
      seen.listeners.add(check);
      check();
    });
  return {
    async run(operation, params = {}) {
      const args = params.arguments ?? {};
      switch (operation) {
        case "initialize":
          return {
            serverInfo: client.getServerVersion(),
            capabilities: client.getServerCapabilities(),
          };
        case "tools/list":
          return await client.listTools();
        case "tools/call":
          return await client.callTool({ name: params.name!, arguments: args });
        case "prompts/list":
          return await client.listPrompts();
        case "prompts/get":
          return await client.getPrompt({ name: params.name!, arguments: args });
        case "resources/list":
          return await client.listResources();
        case "resources/read":
          return await client.readResource({ uri: params.uri! });
        case "sampling":
        case "elicitation":
        case "roots":
          return await client.callTool({ name: params.name!, arguments: args });
        case "logging": {
          await client.callTool({ name: params.name!, arguments: args });
          const arrived = await arrival((n) =>
            n.method === "notifications/message" && typeof n.params?.level === "string"
          );
          await client.callTool({ name: params.name!, arguments: args });
          if (!arrived) throw new Error("no notifications/message arrived");
          return { "notifications/message": arrived };
        }
        case "resources/updated": {
          await client.subscribeResource({ uri: params.uri! });
          await client.callTool({ name: params.name!, arguments: args });
          const arrived = await arrival((n) =>
            n.method === "notifications/resources/updated" && n.params?.uri === params.uri
          );
          await client.callTool({ name: params.name!, arguments: args });
          await client.unsubscribeResource({ uri: params.uri! });
          if (!arrived) throw new Error("no notifications/resources/updated arrived");
          return { "notifications/resources/updated": arrived };
        }
      }
    },
    close,
  };
}

async function connectSdk(
  name: string,
  transport: StreamableHTTPClientTransport | StdioClientTransport,
): Promise<ClientSession> {
  const client = new Client({ name, version: "1.0.0" }, { capabilities: CAPABILITIES });
  // What the server asks back is answered the same way directly and through the gateway.
  client.setRequestHandler(CreateMessageRequestSchema, () => ({
    role: "assistant",
    content: { type: "text", text: "sampled by the matrix client" },
    model: "matrix-model",
    stopReason: "endTurn",
  }));
  client.setRequestHandler(ElicitRequestSchema, () => ({ action: "decline" }));
  client.setRequestHandler(ListRootsRequestSchema, () => ({
    roots: [{ uri: "file:///matrix-root", name: "matrix" }],
  }));
  const seen: Received = { items: [], listeners: new Set() };
  for (const schema of [LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema]) {
    client.setNotificationHandler(schema, (n: { method: string; params?: unknown }) => {
      if (seen.items.length >= 1000) return;
      seen.items.push({ method: n.method, params: n.params as Record<string, unknown> });
      for (const listener of [...seen.listeners]) listener();
    });
  }
  await client.connect(transport);
  return sdkSession(client, seen, async () => {
    if (transport instanceof StreamableHTTPClientTransport) {
      await transport.terminateSession().catch(() => {});
    }
    await client.close();
  });
}

/** The SDK's `Client`: Streamable HTTP for URLs, stdio for commands. */
export const SDK_CLIENT: ClientDriver = {
  name: "SDK Client",
  operations: OPERATIONS,
  open(target) {
    if ("url" in target) {
      return connectSdk("sdk-matrix", new StreamableHTTPClientTransport(new URL(target.url)));
    }
    return connectSdk(
      "sdk-matrix",
      new StdioClientTransport({
        command: target.command[0],
        args: [...target.command.slice(1)],
        env: { ...stringEnv(), ...target.env },
        stderr: "ignore",
      }),
    );
  },
};

/** `mcp-remote` (`bin`: its installed executable) bridging stdio to a URL, driven by the SDK's
 * stdio client; no stdio targets. */
export function mcpRemoteClient(bin: string): ClientDriver {
  return {
    name: "mcp-remote",
    operations: OPERATIONS,
    open(target) {
      if (!("url" in target)) return Promise.resolve(undefined);
      return connectSdk(
        "remote-matrix",
        new StdioClientTransport({
          command: bin,
          args: [target.url, "--transport", "http-only"],
          env: stringEnv(),
          stderr: "ignore",
        }),
      );
    },
  };
}

/** The Inspector's CLI (`bin`: its installed executable): one process per operation, its JSON
 * output parsed. */
export function inspectorCli(bin: string): ClientDriver {
  return {
    name: "Inspector CLI",
    operations: ["tools/list", "tools/call", "prompts/list", "resources/list"],
    open(target) {
      const where = "url" in target ? [target.url, "--transport", "http"] : [
        ...Object.entries(target.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
        ...target.command,
      ];
      return Promise.resolve({
        async run(operation, params = {}) {
          const args = ["--cli", ...where, "--method", operation];
          args.push("--connect-timeout", String(RUN_TIMEOUT_MS / 2));
          if (operation === "tools/call") args.push("--tool-name", params.name!);
          if (operation === "prompts/get") args.push("--prompt-name", params.name!);
          const pairs = Object.entries(params.arguments ?? {}).map(([k, v]) => `${k}=${v}`);
          if (pairs.length > 0) {
            args.push(operation === "tools/call" ? "--tool-arg" : "--prompt-args", ...pairs);
          }
          if (params.uri !== undefined) args.push("--uri", params.uri);
          const output = await new Deno.Command(bin, {
            args,
            env: { ...stringEnv(), ...("url" in target ? {} : target.env) },
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
            signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
          }).output();
          const stdout = new TextDecoder().decode(output.stdout);
          const start = stdout.search(/^\{/m);
          if (!output.success || start === -1) {
            const stderr = new TextDecoder().decode(output.stderr).trim().slice(-300);
            throw new Error(`Inspector ${operation} failed (exit ${output.code}): ${stderr}`);
          }
          return JSON.parse(stdout.slice(start));
        },
        close: () => Promise.resolve(),
      });
    },
  };
}

/** Why `pkg` cannot be run through npx here, or undefined when it can (downloads it once). */
export async function npxUnavailable(pkg: string): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(NPX[0], {
      args: [...NPX.slice(1), `--package=${pkg}`, "--", "node", "-e", "0"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(180_000),
    }).output();
    if (output.success) return undefined;
    const text = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1) ?? "";
    return `npm cannot fetch ${pkg}: ${text.slice(0, 300)}`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "npx (Node.js) is not installed";
    return `cannot run npx for ${pkg}: ${error instanceof Error ? error.message : error}`;
  }
}

/** The installed path of `bin` of `pkg` in the npx cache (so a child is not wrapped by npx). */
export async function npxBin(pkg: string, bin: string): Promise<string> {
  const output = await new Deno.Command(NPX[0], {
    args: [...NPX.slice(1), `--package=${pkg}`, "--", "which", bin],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(180_000),
  }).output();
  const path = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || path === "") throw new Error(`Cannot find ${bin} of ${pkg}`);
  return path;
}

function stringEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  return { PATH: env.PATH ?? "", HOME: env.HOME ?? "" };
}

/** A result with the gateway's namespacing undone: `prefix.` stripped, other upstreams' items
 * dropped (lists), ready to compare with the same operation run directly. */
export function normalize(
  operation: Operation,
  result: Record<string, unknown>,
  prefix?: string,
): unknown {
  const items = (key: string) => {
    const list = (result[key] ?? []) as Record<string, unknown>[];
    const own = prefix === undefined
      ? list
      : list.filter((item) => String(item.name).startsWith(`${prefix}.`))
        .map((item) => ({ ...item, name: String(item.name).slice(prefix.length + 1) }));
    return own.sort((a, b) => String(a.name).localeCompare(String(b.name)));
  };
  switch (operation) {
    case "initialize":
      return null;
    case "tools/list":
      return items("tools");
    case "prompts/list":
      return items("prompts");
    case "resources/list":
      return ((result.resources ?? []) as Record<string, unknown>[]).map((r) => r.uri).sort();
    case "tools/call":
    case "sampling":
    case "elicitation":
    case "roots":
      return { content: result.content, isError: result.isError ?? false };
    case "logging":
    case "resources/updated":
      return result;
    case "prompts/get":
      return result.messages;
    case "resources/read":
      return result.contents;
  }
}

/** One cell of the matrix: `gated` = the same but for tools the server lists only to clients
 * that declared sampling, elicitation or roots (the gateway's catalog declares them all). */
export type Cell = "same" | "gated" | "differs" | "n/a" | "untested";

/** server-everything's tools listed only to clients that declared a capability. */
export const CAPABILITY_GATED_TOOLS: readonly string[] = [
  "get-roots-list",
  "trigger-elicitation-request",
  "trigger-sampling-request",
  "trigger-url-elicitation",
];

/** Renders the matrix as a Markdown table: one row per client × server, one column per op. */
export function renderMatrix(
  rows: readonly { client: string; server: string; cells: Readonly<Record<Operation, Cell>> }[],
): string {
  const mark: Record<Cell, string> = {
    same: "✓",
    gated: "✓ (1)",
    differs: "✗",
    "n/a": "n/a",
    untested: "—",
  };
  const header = ["client", "server", ...OPERATIONS];
  const body = rows.map((row) => [
    row.client,
    row.server,
    ...OPERATIONS.map((op) => mark[row.cells[op]]),
  ]);
  const table = [header, ...body];
  const widths = header.map((_, i) => Math.max(...table.map((r) => [...r[i]].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join(" | ")} |`;
  return [
    line(header),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...body.map(line),
  ].join("\n");
}
