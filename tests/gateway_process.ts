/** The real gateway as a child process (`main.ts serve`), for tests through the process itself. */

/** `main.ts` of this checkout. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The permissions and V8 flags `deno task start` gives (deno.json). */
export const FLAGS = [
  "--v8-flags=--enable-experimental-regexp-engine,--no-memory-reducer",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
];

/** A running gateway process. */
export interface GatewayProcess {
  /** The child (the gateway itself, or `bash` exec'ing it when a ulimit was asked for). */
  readonly child: Deno.ChildProcess;
  /** Its base URL on 127.0.0.1. */
  readonly url: string;
  /** What it printed on stderr so far. */
  stderr(): string;
  /** Resolves with its whole stderr once the process closed it (it exited). */
  readonly drained: Promise<string>;
}

/**
 * Starts `main.ts serve` in `cwd` (PORT=0, no audit copy on stdout, plus `env`), optionally under
 * `ulimit -n`, and resolves once it prints its listening URL.
 */
export async function serveGateway(
  cwd: string,
  env: Record<string, string> = {},
  options: { ulimit?: number } = {},
): Promise<GatewayProcess> {
  const args = ["run", ...FLAGS, MAIN, "serve"];
  const command = options.ulimit === undefined ? { program: Deno.execPath(), args } : {
    program: "bash",
    args: [
      "-c",
      `ulimit -n ${options.ulimit}; exec ${
        [Deno.execPath(), ...args].map((arg) => `'${arg}'`).join(" ")
      }`,
    ],
  };
  const child = new Deno.Command(command.program, {
    args: command.args,
    cwd,
    env: { NO_COLOR: "1", PORT: "0", AUDIT_STDOUT: "false", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (true) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`gateway exited before listening:\n${seen}`);
    seen += value;
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
    if (match) {
      const drained = (async () => {
        while (true) {
          const next = await reader.read();
          if (next.done) return seen;
          seen += next.value;
        }
      })();
      return { child, url: match[1], stderr: () => seen, drained };
    }
  }
}
