/** MCP-Sec Gateway entry point: `serve` (default), `check-policy`, `verify-log`, `hash-key`. */
import { checkPolicyCommand } from "./src/cli/check_policy.ts";
import { hashKeyCommand } from "./src/cli/hash_key.ts";
import { verifyLogCommand } from "./src/cli/verify_log.ts";
import { parseConfig } from "./src/config/config.ts";
import { readEnvironment } from "./src/config/load.ts";
import { startGateway } from "./src/server.ts";

const USAGE =
  `usage: mcp-sec-gateway [serve | check-policy [path] | verify-log [--from HASH] [FILE…] | hash-key <key>]`;

/** Parses argv and runs one subcommand; returns the exit code (serve: when stopped). */
export async function main(args: string[]): Promise<number> {
  const [command = "serve", ...rest] = args;
  const io = {
    print: (line: string) => console.log(line),
    printError: (line: string) => console.error(line),
  };
  const env = await readEnvironment();
  switch (command) {
    case "serve":
      return await serve(env);
    case "check-policy":
      return await checkPolicyCommand(rest, {
        ...io,
        env,
        readTextFile: (path) => Deno.readTextFile(path),
      });
    case "verify-log":
      return await verifyLogCommand(rest, { ...io, env });
    case "hash-key":
      return hashKeyCommand(rest, io);
    case "help":
    case "--help":
    case "-h":
      io.print(USAGE);
      return 0;
    default:
      io.printError(`Unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

async function serve(env: Record<string, string>): Promise<number> {
  const parsed = parseConfig(env);
  if (!parsed.ok) {
    for (const error of parsed.errors) console.error(`Cannot start: ${error}`);
    return 1;
  }
  const started = await startGateway({ config: parsed.config, env });
  if (!started.ok) {
    for (const error of started.errors) console.error(error);
    console.error(`Cannot start: ${started.errors.length} problem(s) above`);
    return 1;
  }
  const { gateway } = started;
  const stopped = Promise.withResolvers<void>();
  const stop = () => {
    gateway.shutdown().then(stopped.resolve, stopped.resolve);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await stopped.promise;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
