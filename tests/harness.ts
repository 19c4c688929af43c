/** Starts a real gateway on a loopback port over temporary files, with a clock the test controls. */
import { join } from "node:path";
import { parseConfig } from "../src/config/config.ts";
import { silentLogger } from "../src/log.ts";
import { type RunningGateway, startGateway } from "../src/server.ts";

/** A clock the test sets; the gateway reads it for hours, windows and timestamps. */
export interface TestClock {
  /** Current epoch milliseconds. */
  now(): number;
  /** Moves the clock forward. */
  advance(ms: number): void;
  /** Sets the clock. */
  set(ms: number): void;
}

/** Creates a clock starting at `start` (epoch ms or ISO text). */
export function testClock(start: number | string): TestClock {
  let now = typeof start === "string" ? Date.parse(start) : start;
  return { now: () => now, advance: (ms) => void (now += ms), set: (ms) => void (now = ms) };
}

/** A gateway under test and handy calls against it. */
export interface TestGateway {
  /** Base URL on 127.0.0.1. */
  readonly url: string;
  /** The admin token. */
  readonly adminToken: string;
  /** Temporary directory holding policy, schemas and audit. */
  readonly dir: string;
  /** Policy file path. */
  readonly policyPath: string;
  /** Audit log path. */
  readonly auditPath: string;
  /** The gateway itself. */
  readonly gateway: RunningGateway;
  /** The test clock. */
  readonly clock: TestClock;
  /** POSTs JSON to `path`; returns status, headers and parsed body. */
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }>;
  /** GETs `/logs` with the admin token. */
  logs(query?: string): Promise<Record<string, unknown>[]>;
  /** Stops the gateway and removes the directory. */
  close(): Promise<void>;
}

/** `HTTP_SERVER` of the test run's environment (if set), for the gateways the tests start. */
export function serverFromEnvironment(): Record<string, string> {
  const chosen = Deno.env.get("HTTP_SERVER");
  return chosen === undefined || chosen === "" ? {} : { HTTP_SERVER: chosen };
}

/** Default admin token of test gateways. */
export const TEST_ADMIN_TOKEN = "test-admin-token-0123456789";

/** Starts a gateway over a policy text and schema files in a fresh temporary directory. */
export async function startTestGateway(options: {
  policy: string;
  schemas?: Record<string, unknown>;
  env?: Record<string, string>;
  clock?: TestClock;
  watch?: boolean;
}): Promise<TestGateway> {
  const dir = await Deno.makeTempDir({ prefix: "mcpsec-test-" });
  const policyPath = join(dir, "policies.yaml");
  const schemaDir = join(dir, "schemas");
  const auditPath = join(dir, "audit", "audit.log");
  await Deno.writeTextFile(policyPath, options.policy);
  await Deno.mkdir(schemaDir);
  for (const [name, schema] of Object.entries(options.schemas ?? {})) {
    await Deno.writeTextFile(join(schemaDir, name), JSON.stringify(schema));
  }
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    POLICY_PATH: policyPath,
    SCHEMA_DIR: schemaDir,
    AUDIT_LOG_PATH: auditPath,
    AUDIT_STDOUT: "false",
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    PINS_PATH: join(dir, "pins.json"),
    // `HTTP_SERVER=builtin deno test …` runs every harness test on the gateway's own server.
    ...serverFromEnvironment(),
    ...options.env,
  };
  const config = parseConfig(env);
  if (!config.ok) throw new Error(config.errors.join("\n"));
  const clock = options.clock ?? testClock("2026-11-25T10:00:00Z");
  const started = await startGateway({
    config: config.config,
    env,
    clock: clock.now,
    log: silentLogger(),
    watch: options.watch ?? false,
    watchDebounceMs: 50,
  });
  if (!started.ok) throw new Error(started.errors.join("\n"));
  const { gateway } = started;
  return {
    url: gateway.url,
    adminToken: gateway.adminToken,
    dir,
    policyPath,
    auditPath,
    gateway,
    clock,
    async post(path, body, headers = {}) {
      const response = await fetch(gateway.url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      return { status: response.status, headers: response.headers, json: await response.json() };
    },
    async logs(query = "") {
      const response = await fetch(`${gateway.url}/logs?limit=1000${query}`, {
        headers: { authorization: `Bearer ${gateway.adminToken}` },
      });
      if (response.status !== 200) throw new Error(`/logs answered ${response.status}`);
      return await response.json();
    },
    async close() {
      await gateway.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes (for effects outside the test's
 * control, such as the file watcher); throws on timeout. */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`Timed out waiting for ${what}`);
}
