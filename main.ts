/** MCP-Sec Gateway entry point: `serve` (default), `check-policy`, `verify-log`, `hash-key`. */
import { checkPolicyCommand } from "./src/cli/check_policy.ts";
import { hashKeyCommand } from "./src/cli/hash_key.ts";
import { parseCommandLine } from "./src/cli/help.ts";
import { verifyLogCommand } from "./src/cli/verify_log.ts";
import { parseConfig } from "./src/config/config.ts";
import {
  describeConfig,
  type EnvFile,
  envFileWarnings,
  mergeEnvironment,
  readEnvFile,
} from "./src/config/load.ts";
import { createLogger } from "./src/log.ts";
import { watchLauncher } from "./src/parent_watch.ts";
import { type RunningGateway, startGateway } from "./src/server.ts";

/** Parses argv and runs one subcommand; returns the exit code (serve: when stopped). */
export async function main(args: string[]): Promise<number> {
  const io = {
    print: (line: string) => console.log(line),
    printError: (line: string) => console.error(line),
  };
  const parsed = parseCommandLine(args);
  if (parsed.kind === "help" || parsed.kind === "version") {
    io.print(parsed.text);
    return 0;
  }
  if (parsed.kind === "usage") {
    io.printError(parsed.error);
    return 2;
  }
  const { command, args: rest } = parsed;
  let file: EnvFile;
  try {
    file = await readEnvFile();
  } catch (error) {
    io.printError(`Cannot start: ${(error as Error).message}`);
    return 1;
  }
  const processEnv = Deno.env.toObject();
  const env = mergeEnvironment(file, processEnv);
  switch (command) {
    case "serve":
      return await serve(env, { file, processEnv });
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
  }
}

async function serve(
  env: Record<string, string>,
  sources: { file: EnvFile; processEnv: Record<string, string> },
): Promise<number> {
  const parsed = parseConfig(env);
  if (!parsed.ok) {
    for (const error of parsed.errors) console.error(`Cannot start: ${error}`);
    return 1;
  }
  const log = createLogger(parsed.config.logLevel, (line) => console.error(line));
  const policyText = await Deno.readTextFile(parsed.config.policyPath).catch(() => "");
  for (const warning of envFileWarnings(sources.file, { policyText })) log.warn(warning);
  for (const line of describeConfig(parsed.config, sources)) log.debug(`Configuration: ${line}`);
  // Signals and the launcher watch are armed before start-up, so a SIGTERM (or a launcher gone)
  // during start-up stops the gateway cleanly as soon as it exists instead of killing it mid-way.
  const stopped = Promise.withResolvers<void>();
  const running: { gateway?: RunningGateway } = {};
  let stopRequested = false;
  const stop = () => {
    stopRequested = true;
    running.gateway?.shutdown().then(stopped.resolve, stopped.resolve);
  };
  // Shutdown is bounded (connections get a grace, then are closed); a second signal exits at once.
  let signalled = false;
  const onSignal = () => {
    if (signalled) {
      console.error("Second signal: exiting without waiting for the shutdown to finish");
      Deno.exit(130);
    }
    signalled = true;
    stop();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  watchLauncher({
    onWatch: (launchers) =>
      log.debug(`Watching the launcher(s): ${launchers.map((l) => l.pid).join(", ")}`),
    onGone: (launcher) => {
      log.info(`The command that started the gateway (pid ${launcher.pid}) exited: stopping`);
      stop();
    },
  });
  const started = await startGateway({ config: parsed.config, env });
  if (!started.ok) {
    for (const error of started.errors) console.error(error);
    // One problem (e.g. `Cannot listen on 127.0.0.1:8080: address in use`) is its own line.
    if (started.errors.length > 1) {
      console.error(`Cannot start: ${started.errors.length} problem(s) above`);
    }
    return 1;
  }
  running.gateway = started.gateway;
  if (stopRequested) stop();
  await stopped.promise;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
