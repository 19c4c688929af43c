/**
 * The compatibility matrix of docs/COMPATIBILITY.md, produced here (issue 11): each real client
 * (SDK `Client`, Inspector CLI, `mcp-remote`) runs each operation against each real server
 * (the SDK-built conformance upstream, server-everything over stdio and Streamable HTTP,
 * server-filesystem, server-memory) directly and through gateways that federate them, and the
 * results are compared once the gateway's namespacing is undone. Every cell must be the same as
 * direct, and the table in the doc must be the one this test measured. SKIPPED with the reason
 * when npx or a package is missing.
 */
import { expect } from "expect";
import { join } from "node:path";
import {
  ASKING,
  CAPABILITY_GATED_TOOLS,
  type Cell,
  type ClientDriver,
  type ClientSession,
  INSPECTOR,
  inspectorCli,
  MCP_REMOTE,
  mcpRemoteClient,
  normalize,
  NOTIFYING,
  npxBin,
  npxUnavailable,
  type Operation,
  type OperationParams,
  OPERATIONS,
  renderMatrix,
  SDK_CLIENT,
  type Target,
} from "./compatibility.ts";
import { startSdkConformanceServer } from "../fixtures/sdk_conformance_server.ts";
import {
  SERVER_EVERYTHING,
  SERVER_FILESYSTEM,
  SERVER_MEMORY,
  startEverythingHttp,
} from "../fixtures/published_servers.ts";
import { startTestGateway, type TestGateway } from "../harness.ts";

const DOC = new URL("../../docs/COMPATIBILITY.md", import.meta.url);
const START = "<!-- matrix:start (tests/peers/compatibility_matrix_test.ts) -->";
const END = "<!-- matrix:end -->";

/** server-everything's tools that ask the client back during the call. */
const EVERYTHING_ASKS: Partial<Record<Operation, OperationParams>> = {
  sampling: { name: "trigger-sampling-request", arguments: { prompt: "matrix" } },
  elicitation: { name: "trigger-elicitation-request" },
  roots: { name: "get-roots-list" },
  logging: { name: "toggle-simulated-logging" },
  "resources/updated": { name: "toggle-subscriber-updates" },
};

/** One server row: how to reach it, its prefix behind its gateway, what to ask it. */
interface ServerRow {
  readonly name: string;
  readonly target: Target;
  readonly prefix: string;
  /** Index of the gateway that federates it (two, so that the two server-everything instances'
   * identical resource URIs do not clash: a clash is refused by design, §12). */
  readonly gateway: 0 | 1;
  readonly tool: OperationParams;
  readonly prompt?: OperationParams;
  /** Tools that ask the client back (sampling, elicitation, roots), when the server has them. */
  readonly asks?: Partial<Record<Operation, OperationParams>>;
}

const upstreamYaml = (row: ServerRow) =>
  "url" in row.target
    ? `  ${row.prefix}:\n    url: "${row.target.url}"`
    : `  ${row.prefix}:\n    command: ${JSON.stringify(row.target.command)}${
      Object.keys(row.target.env).length ? `\n    env: ${JSON.stringify(row.target.env)}` : ""
    }`;

const policy = (rows: readonly ServerRow[]) => `
rules:
  - model: "*"
    allow_tools: ["*"]
    allow_prompts: ["*"]
    allow_resources: ["*"]
upstreams:
${rows.map(upstreamYaml).join("\n")}
`;

/** Runs `tasks` at most `width` at a time. */
async function pool<T>(width: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}

/** Raw results of one client's session, list operations through a gateway asked once. */
function memo(session: ClientSession) {
  const lists = new Map<string, Promise<Record<string, unknown>>>();
  return (op: Operation, params: OperationParams | undefined) => {
    if (!op.endsWith("/list")) return session.run(op, params);
    let found = lists.get(op);
    if (found === undefined) lists.set(op, found = session.run(op, params));
    return found;
  };
}

async function outcome(
  run: (op: Operation, params: OperationParams | undefined) => Promise<Record<string, unknown>>,
  op: Operation,
  params: OperationParams | undefined,
  prefix?: string,
): Promise<string> {
  try {
    return JSON.stringify(normalize(op, await run(op, params), prefix));
  } catch (error) {
    return `error: ${error instanceof Error ? error.message.slice(0, 200) : error}`;
  }
}

/** Where `direct` and `through` (JSON) differ: names missing on either side, else both. */
function describe(direct: string, through: string): string {
  try {
    const [d, g] = [JSON.parse(direct), JSON.parse(through)];
    if (Array.isArray(d) && Array.isArray(g)) {
      const key = (x: unknown) => JSON.stringify((x as { name?: unknown }).name ?? x);
      const only = (a: unknown[], b: unknown[]) =>
        a.filter((x) => !b.some((y) => key(y) === key(x))).map(key);
      const changed = d.filter((x) =>
        g.some((y) => key(y) === key(x) && JSON.stringify(y) !== JSON.stringify(x))
      );
      return `only direct: ${only(d, g).join(", ") || "-"}; only through: ${
        only(g, d).join(", ") || "-"
      }; changed: ${changed.map((x) => JSON.stringify(x).slice(0, 300)).join(" | ") || "-"}`;
    }
  } catch {
    // not JSON (an error): both shown
  }
  return `direct ${direct.slice(0, 300)} / through ${through.slice(0, 300)}`;
}

/** True when `through` is `direct` plus capability-gated tools only (see `Cell`). */
function onlyGatedExtra(direct: string, through: string): boolean {
  const [d, g] = [JSON.parse(direct), JSON.parse(through)] as { name: string }[][];
  const extra = g.filter((tool) => !d.some((other) => other.name === tool.name));
  const rest = g.filter((tool) => !extra.includes(tool));
  return extra.every((tool) => CAPABILITY_GATED_TOOLS.includes(tool.name)) &&
    JSON.stringify(rest) === direct;
}

/** The table in the doc between the markers, as trimmed cells. */
function tableOf(text: string): string[][] {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start === -1 || end === -1) return [];
  return text.slice(start + START.length, end).trim().split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) => line.slice(1, -1).split("|").map((cell) => cell.trim()));
}

Deno.test({
  name:
    "compatibility matrix: SDK Client, Inspector CLI and mcp-remote against five real servers, " +
    "through the gateway as directly; the doc's table is the one measured",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Each package's executable, installed once into the npm cache; none → SKIPPED with why.
    const bins: Record<string, string> = {};
    for (
      const [pkg, bin] of [
        [SERVER_EVERYTHING, "mcp-server-everything"],
        [SERVER_FILESYSTEM, "mcp-server-filesystem"],
        [SERVER_MEMORY, "mcp-server-memory"],
        [INSPECTOR, "mcp-inspector"],
        [MCP_REMOTE, "mcp-remote"],
      ]
    ) {
      try {
        bins[pkg] = await npxBin(pkg, bin);
      } catch (error) {
        const why = await npxUnavailable(pkg) ?? (error as Error).message;
        console.log(`SKIPPED compatibility matrix: ${why}`);
        return;
      }
    }
    const everythingBin = bins[SERVER_EVERYTHING];
    const fsDir = await Deno.realPath(await Deno.makeTempDir({ prefix: "mcpsec-matrix-fs-" }));
    await Deno.writeTextFile(join(fsDir, "hello.txt"), "hello from the filesystem server\n");
    const memoryFile = join(fsDir, "memory.jsonl");
    const sdk = await startSdkConformanceServer();
    const web = await startEverythingHttp();
    const rows: ServerRow[] = [
      {
        name: "SDK McpServer (HTTP)",
        target: { url: sdk.url },
        prefix: "sdk",
        gateway: 0,
        tool: { name: "test_simple_text" },
        prompt: { name: "test_simple_prompt" },
      },
      {
        name: "server-everything (HTTP)",
        target: { url: web.url },
        prefix: "web",
        gateway: 0,
        tool: { name: "echo", arguments: { message: "matrix" } },
        prompt: { name: "simple-prompt" },
        asks: EVERYTHING_ASKS,
      },
      {
        name: "server-everything (stdio)",
        target: { command: [everythingBin, "stdio"], env: {} },
        prefix: "local",
        gateway: 1,
        tool: { name: "echo", arguments: { message: "matrix" } },
        prompt: { name: "simple-prompt" },
        asks: EVERYTHING_ASKS,
      },
      {
        name: "server-filesystem (stdio)",
        target: {
          command: [bins[SERVER_FILESYSTEM], fsDir],
          env: {},
        },
        prefix: "fs",
        gateway: 0,
        tool: { name: "read_text_file", arguments: { path: join(fsDir, "hello.txt") } },
      },
      {
        name: "server-memory (stdio)",
        target: {
          command: [bins[SERVER_MEMORY]],
          env: { MEMORY_FILE_PATH: memoryFile },
        },
        prefix: "memory",
        gateway: 0,
        tool: { name: "read_graph" },
      },
    ];
    const gateways: TestGateway[] = [];
    try {
      for (const index of [0, 1]) {
        gateways.push(
          await startTestGateway({
            policy: policy(rows.filter((row) => row.gateway === index)),
            env: { UPSTREAM_START_TIMEOUT_MS: "180000" },
          }),
        );
      }
      // What each server offers, and the resource each is asked for, from the SDK client direct.
      const offers = new Map<string, { prompts: boolean; resources: string | undefined }>();
      for (const row of rows) {
        const direct = (await SDK_CLIENT.open(row.target))!;
        try {
          const caps = (await direct.run("initialize")).capabilities as Record<string, unknown>;
          const resources = caps.resources
            ? ((await direct.run("resources/list")).resources as { uri: string }[])
            : [];
          offers.set(row.name, {
            prompts: caps.prompts !== undefined,
            resources: caps.resources ? resources[0]?.uri ?? "" : undefined,
          });
        } finally {
          await direct.close();
        }
      }
      const matrix: { client: string; server: string; cells: Record<Operation, Cell> }[] = [];
      const differences: string[] = [];
      const drivers: ClientDriver[] = [
        SDK_CLIENT,
        inspectorCli(bins[INSPECTOR]),
        mcpRemoteClient(bins[MCP_REMOTE]),
      ];
      for (const driver of drivers) {
        const through = await Promise.all(
          gateways.map((gw) => driver.open({ url: gw.url + "/mcp" })),
        );
        const viaGateway = through.map((session) => memo(session!));
        try {
          for (const row of rows) {
            const offered = offers.get(row.name)!;
            // mcp-remote bridges to URLs only: against a stdio server, the SDK client direct.
            const direct = await driver.open(row.target) ?? await SDK_CLIENT.open(row.target);
            const cells = {} as Record<Operation, Cell>;
            try {
              const params: Partial<Record<Operation, OperationParams>> = {
                ...row.asks,
                "resources/updated": row.asks?.["resources/updated"] && offered.resources
                  ? { ...row.asks["resources/updated"], uri: offered.resources }
                  : undefined,
                "tools/call": row.tool,
                "prompts/get": row.prompt,
                "resources/read": offered.resources ? { uri: offered.resources } : undefined,
              };
              const tasks = OPERATIONS.map((op) => async (): Promise<[Operation, Cell]> => {
                if (!driver.operations.includes(op)) return [op, "untested"];
                if (op.startsWith("prompts/") && (!offered.prompts || !row.prompt)) {
                  return [op, "n/a"];
                }
                if (op.startsWith("resources/") && !offered.resources) return [op, "n/a"];
                if (
                  (ASKING.includes(op) || NOTIFYING.includes(op)) && !row.asks?.[op]
                ) return [op, "n/a"];
                const p = params[op];
                const mine = { ...p, name: p?.name && `${row.prefix}.${p.name}` };
                const via = viaGateway[row.gateway];
                const [d, g] = await Promise.all([
                  outcome((o, q) => direct!.run(o, q), op, p, undefined),
                  outcome(
                    via,
                    op,
                    op.endsWith("/list") || op === "resources/read" ? p : mine,
                    row.prefix,
                  ),
                ]);
                // A federated resources/list holds the other upstreams' resources too.
                const failed = d.startsWith("error:") || g.startsWith("error:");
                if (!failed && op === "tools/list" && d !== g && onlyGatedExtra(d, g)) {
                  return [op, "gated"];
                }
                const same = !failed &&
                  (op === "resources/list"
                    ? (JSON.parse(d) as string[]).every((uri) =>
                      (JSON.parse(g) as string[]).includes(uri)
                    )
                    : d === g);
                if (same) return [op, "same"];
                differences.push(`${driver.name} × ${row.name} × ${op}: ${describe(d, g)}`);
                return [op, "differs"];
              });
              // Calls that ask the client back run one at a time: a stdio server shared by every
              // session that asks without naming its request is answered only while one call is
              // in progress on it (fail closed, see docs/COMPATIBILITY.md).
              const asking = OPERATIONS
                .map((op, i) => ASKING.includes(op) || NOTIFYING.includes(op) ? i : -1)
                .filter((i) => i >= 0);
              const rest = tasks.filter((_, i) => !asking.includes(i));
              const results = await pool(3, rest);
              for (const i of asking) results.push(await tasks[i]());
              for (const [op, cell] of results) cells[op] = cell;
            } finally {
              await direct?.close();
            }
            matrix.push({ client: driver.name, server: row.name, cells });
          }
        } finally {
          for (const session of through) await session?.close();
        }
      }
      // The protocol version each client negotiated with the gateway, from the audit.
      const versions = new Set<string>();
      for (const gw of gateways) {
        for (const event of await gw.logs("&event=mcp_session")) {
          const payload = event.payload as {
            clientInfo?: { name?: string; version?: string };
            protocolVersion?: string;
          } | null;
          if (payload?.protocolVersion === undefined) continue;
          const info = payload.clientInfo ?? {};
          versions.add(`| ${info.name} ${info.version} | ${payload.protocolVersion} |`);
        }
      }
      const table = [
        renderMatrix(matrix),
        "",
        "| clientInfo (as the gateway saw it) | protocol version negotiated with the gateway |",
        "| --- | --- |",
        ...[...versions].sort(),
      ].join("\n");
      console.log(`measured matrix:\n${table}`);
      if (differences.length > 0) console.log(`differences:\n${differences.join("\n")}`);
      expect(differences).toEqual([]);
      expect(tableOf(await Deno.readTextFile(DOC))).toEqual(tableOf(`${START}\n${table}\n${END}`));
    } finally {
      for (const gw of gateways) await gw.close();
      await web.close();
      await sdk.close();
      await Deno.remove(fsDir, { recursive: true }).catch(() => {});
    }
  },
});
