/** A real `redis-server` for tests (SPEC §13): a free loopback port, a temporary directory, no
 * persistence; can be SIGKILLed and started again on the same port. */

/** Where Debian installs it (`.ci/run` installs the package). */
export const REDIS_SERVER = "/usr/bin/redis-server";

/** A running redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  /** Its port. */
  readonly port: number;
  /** SIGKILLs it (no clean shutdown: what a crash looks like) and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing was persisted). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisSkipReason(): string | undefined {
  try {
    Deno.statSync(REDIS_SERVER);
    return undefined;
  } catch {
    return `${REDIS_SERVER} is absent (apt-get install redis-server; .ci/run does): skipped`;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function ping(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(16);
      const n = await conn.read(buffer);
      return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/** Starts a redis-server; resolves once it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-redis-" });
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  const launch = async () => {
    child = new Deno.Command(REDIS_SERVER, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const exited = child.status.then(() => true);
    // Polls the port: the server has no readiness signal but its answer (bounded: 10 s).
    for (let i = 0; i < 400; i++) {
      if (await ping(port)) return;
      if (await Promise.race([exited, new Promise((r) => setTimeout(() => r(false), 25))])) {
        throw new Error(`redis-server exited at start on port ${port}`);
      }
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  await launch();
  const kill = async () => {
    if (child === undefined) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    child = undefined;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    restart: launch,
    async stop() {
      await kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
