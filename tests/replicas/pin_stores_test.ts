// The same pin behaviour from both stores (SPEC §5.6, §13): the pin file (one replica, the default)
// and Redis (several replicas, on a real redis-server); what is Redis's own (one namespaced hash,
// never expired, changes announced to the other replicas, malformed or unreachable = refused);
// and what the federation does with it (a catalog that cannot be checked is `state_unavailable`,
// a pin changed elsewhere makes the catalog be read again).
import { expect } from "expect";
import { join } from "node:path";
import { silentLogger } from "../../src/log.ts";
import { parsePolicy } from "../../src/policy/parse/parse.ts";
import { createUpstreamSchemaCache } from "../../src/schema/registry.ts";
import { createFederation } from "../../src/mcp/federation/federation.ts";
import {
  type FilePinStore,
  legacyToolDefinitionHash,
  openPinStore,
  PIN_RECIPE,
  type PinRecord,
  type PinStore,
  toolDefinitionHash,
} from "../../src/mcp/federation/pins.ts";
import type { UpstreamClient } from "../../src/mcp/upstream/upstream.ts";
import { connectRedis, type RedisConnection } from "../../src/shared_state/redis_client.ts";
import {
  openRedisPinStore,
  parsePinRecord,
  StateUnavailableError,
} from "../../src/shared_state/pin_records.ts";
import { redisSkipReason, startRedis } from "../redis_server.ts";

const skip = redisSkipReason();
if (skip) console.log(`pin_stores_test (redis part): ${skip}`);

const ECHO = { name: "echo", description: "Echoes", inputSchema: { type: "object" } };
const T0 = Date.UTC(2026, 0, 1);
const iso = (t: number) => new Date(t).toISOString();

/** Opens a store holding `seed` (the pins an older file or replica left). */
type OpenStore = (seed?: Map<string, PinRecord>) => Promise<PinStore>;

/** The behaviour both stores share. */
async function pinContract(open: OpenStore): Promise<void> {
  const store = await open();
  expect(await store.get("up", "echo")).toBeUndefined();
  const first = await store.observe("up", ECHO, T0);
  expect(first).toEqual({ state: "new", hash: toolDefinitionHash(ECHO) });
  expect(await store.observe("up", ECHO, T0 + 1)).toEqual({ state: "pinned", hash: first.hash });
  const changed = { ...ECHO, description: "Echoes, and mails your files away" };
  const seen = await store.observe("up", changed, T0 + 2);
  expect(seen).toEqual({ state: "changed", hash: toolDefinitionHash(changed) });
  // Nothing moves until an admin approves; the old definition is still the pinned one.
  expect((await store.observe("up", ECHO, T0 + 3)).state).toBe("pinned");
  await store.approve("up", "echo", seen.hash, T0 + 4);
  expect((await store.observe("up", changed, T0 + 5)).state).toBe("pinned");
  expect((await store.observe("up", ECHO, T0 + 6)).state).toBe("changed");
  expect(await store.get("up", "echo")).toEqual({
    hash: seen.hash,
    recipe: PIN_RECIPE,
    pinned_at: iso(T0),
    approved_at: iso(T0 + 4),
  });
  // Another upstream's tool of the same name is its own pin.
  expect((await store.observe("other", changed, T0 + 7)).state).toBe("new");

  // A recipe-1 pin is upgraded when its old hash still matches, else the tool changed.
  const legacy = new Map([["up/echo", {
    hash: legacyToolDefinitionHash(ECHO),
    pinned_at: iso(T0),
  }]]);
  const old = await open(legacy);
  expect(await old.observe("up", ECHO, T0 + 8)).toEqual({
    state: "pinned",
    hash: toolDefinitionHash(ECHO),
    upgraded: true,
  });
  expect((await old.get("up", "echo"))?.recipe).toBe(PIN_RECIPE);
  expect((await old.observe("up", { ...ECHO, title: "Echo" }, T0 + 9)).state).toBe("changed");
  await store.flush();
  await old.flush();
}

Deno.test("pin behaviour: the pin file (one replica)", async () => {
  const dir = await Deno.makeTempDir();
  let n = 0;
  try {
    await pinContract(async (seed) => {
      const path = join(dir, `pins-${n++}.json`);
      if (seed) {
        await Deno.writeTextFile(
          path,
          JSON.stringify({ version: 1, tools: Object.fromEntries(seed) }),
        );
      }
      return await openPinStore({ path, onError: () => {} });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const LOG = { info: () => {}, warn: () => {} };

Deno.test({
  name: "pin behaviour: Redis (several replicas, real redis-server)",
  ignore: skip !== undefined,
  async fn(t) {
    const redis = await startRedis();
    const connections: RedisConnection[] = [];
    const connect = async () => {
      const connection = await connectRedis({ url: redis.url, timeoutMs: 2_000 });
      connections.push(connection);
      return connection;
    };
    try {
      const main = await connect();
      let n = 0;
      await t.step(
        "the shared behaviour",
        () =>
          pinContract(async (seed) =>
            await openRedisPinStore({
              redis: main,
              prefix: `c${n++}:`,
              gatewayId: "a",
              timeoutMs: 2_000,
              seed,
              log: LOG,
            })
          ),
      );

      await t.step(
        "one hash under the prefix, never expired; the first definition wins",
        async () => {
          const a = await openRedisPinStore({
            redis: main,
            prefix: "ns:",
            gatewayId: "a",
            timeoutMs: 2_000,
            log: LOG,
          });
          const b = await openRedisPinStore({
            redis: await connect(),
            prefix: "ns:",
            gatewayId: "b",
            timeoutMs: 2_000,
            log: LOG,
          });
          const other = { ...ECHO, description: "other" };
          const both = await Promise.all([a.observe("up", ECHO, T0), b.observe("up", other, T0)]);
          // Exactly one replica pinned; the other sees its definition as changed.
          expect(both.map((o) => o.state).sort()).toEqual(["changed", "new"]);
          expect(await main.client.keys("ns:*")).toEqual(["ns:pins"]);
          expect(await main.client.pttl("ns:pins")).toBe(-1);
        },
      );

      await t.step("an approval is announced to the other replicas, not to itself", async () => {
        const a = await openRedisPinStore({
          redis: main,
          prefix: "ch:",
          gatewayId: "a",
          timeoutMs: 2_000,
          log: LOG,
        });
        const b = await openRedisPinStore({
          redis: await connect(),
          prefix: "ch:",
          gatewayId: "b",
          timeoutMs: 2_000,
          log: LOG,
        });
        const heardA: (string | null)[] = [];
        const heard = new Promise<string | null>((resolve) => b.onChange!(resolve));
        a.onChange!((upstream) => heardA.push(upstream));
        await a.observe("up", ECHO, T0);
        await a.approve("up", "echo", "f".repeat(64), T0 + 1);
        expect(await heard).toBe("up");
        expect((await b.get("up", "echo"))?.hash).toBe("f".repeat(64));
        expect(heardA).toEqual([]);
      });

      await t.step("a malformed stored pin is refused, never trusted", async () => {
        const store = await openRedisPinStore({
          redis: main,
          prefix: "bad:",
          gatewayId: "a",
          timeoutMs: 2_000,
          log: LOG,
        });
        await main.client.hset("bad:pins", "up/echo", '{"hash":"not a hash","pinned_at":"x"}');
        await expect(store.observe("up", ECHO, T0)).rejects.toThrow(StateUnavailableError);
        await expect(store.get("up", "echo")).rejects.toThrow("malformed");
      });

      await t.step("Redis down: every call rejects with state_unavailable", async () => {
        const store = await openRedisPinStore({
          redis: main,
          prefix: "down:",
          gatewayId: "a",
          timeoutMs: 2_000,
          log: LOG,
        });
        await redis.kill();
        for (
          const attempt of [
            () => store.observe("up", ECHO, T0),
            () => store.approve("up", "echo", "f".repeat(64), T0),
            () => store.get("up", "echo"),
          ]
        ) {
          const error = await attempt().then(() => undefined, (e: StateUnavailableError) => e);
          expect(error).toBeInstanceOf(StateUnavailableError);
          expect(error?.reasonCode).toBe("state_unavailable");
        }
      });
    } finally {
      for (const connection of connections) await connection.close().catch(() => {});
      await redis.stop();
    }
  },
});

Deno.test("parsePinRecord accepts only a pin record", () => {
  const hash = "a".repeat(64);
  expect(parsePinRecord(JSON.stringify({ hash, pinned_at: "t" }))).toEqual({
    hash,
    pinned_at: "t",
  });
  for (
    const bad of [
      "nope",
      "[]",
      JSON.stringify({ hash: "A".repeat(64), pinned_at: "t" }),
      JSON.stringify({ hash, pinned_at: 1 }),
      JSON.stringify({ hash, pinned_at: "t", recipe: 9 }),
      JSON.stringify({ hash, pinned_at: "t", approved_at: {} }),
      JSON.stringify({ hash, pinned_at: "t".repeat(5000) }),
    ]
  ) expect(parsePinRecord(bad)).toBeUndefined();
});

/** A pin store whose shared part can be made to fail, and that can announce a change. */
function switchablePins(inner: FilePinStore) {
  const listeners = new Set<(upstream: string | null) => void>();
  const control = { down: false };
  const guard = <T>(run: () => T): Promise<T> =>
    control.down
      ? Promise.reject(new StateUnavailableError("the shared pin store (Redis) cannot be reached"))
      : Promise.resolve(run());
  const pins: PinStore = {
    observe: (u, tool, now) => guard(() => inner.observe(u, tool, now)),
    approve: (u, tool, hash, now) => guard(() => inner.approve(u, tool, hash, now)),
    get: (u, tool) => guard(() => inner.get(u, tool)),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush: () => inner.flush(),
  };
  return { pins, control, announce: (u: string | null) => listeners.forEach((l) => l(u)) };
}

Deno.test("federation: a catalog that cannot be checked against shared pins is state_unavailable; a change elsewhere re-reads it", async () => {
  const dir = await Deno.makeTempDir();
  let lists = 0;
  const client: UpstreamClient = {
    name: "up",
    status: () => "up",
    request: (_key, method) => {
      if (method === "tools/list") lists++;
      return Promise.resolve(method === "tools/list" ? { tools: [ECHO] } : { content: [] });
    },
    notify: () => Promise.resolve(),
    info: () => undefined,
    generation: () => 1,
    onNotification: () => () => {},
    closeSession: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const shared = switchablePins(
    await openPinStore({ path: join(dir, "p.json"), onError: () => {} }),
  );
  const federation = createFederation({
    createClient: () => client,
    pins: shared.pins,
    schemaCache: createUpstreamSchemaCache(),
    startTimeoutMs: 1000,
    clock: () => T0,
    log: silentLogger(),
    onPinEvent: () => {},
  });
  const parsed = parsePolicy(
    `rules:\n  - model: "*"\n    allow_tools: ["*"]\nupstreams:\n  up:\n    url: "http://127.0.0.1:9/mcp"\n`,
    { env: {} },
  );
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  try {
    await federation.apply(parsed.policy);
    shared.control.down = true;
    const refused = await federation.resolve("up.echo");
    expect(refused).toMatchObject({ kind: "unavailable", reasonCode: "state_unavailable" });
    await expect(federation.approve("up.echo")).rejects.toThrow(StateUnavailableError);
    shared.control.down = false;
    expect((await federation.resolve("up.echo")).kind).toBe("tool");
    const before = lists;
    await federation.resolve("up.echo");
    expect(lists).toBe(before); // cached
    shared.announce("up");
    await federation.resolve("up.echo");
    expect(lists).toBe(before + 1); // read again after a change on another replica
    shared.announce("elsewhere");
    await federation.resolve("up.echo");
    expect(lists).toBe(before + 1);
  } finally {
    await federation.close();
    await shared.pins.flush().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
