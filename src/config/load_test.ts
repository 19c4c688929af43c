import { expect } from "expect";
import { join } from "node:path";
import { CONFIG_KEYS, parseConfig } from "./config.ts";
import {
  describeConfig,
  envFileWarnings,
  mergeEnvironment,
  nearestConfigKey,
  readEnvFile,
} from "./load.ts";

Deno.test("CONFIG_KEYS is exactly what parseConfig reads (one source of truth)", () => {
  const read = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get(_target, key) {
      if (typeof key === "string") read.add(key);
      return undefined;
    },
  });
  expect(parseConfig(env).ok).toBe(true);
  expect([...read].sort()).toEqual(Object.keys(CONFIG_KEYS).sort());
});

Deno.test(".env typos are named with the nearest key; known and policy keys are not", () => {
  const file = {
    path: ".env",
    values: {
      PROT: "18021",
      PORT: "8081",
      loglevel: "debug",
      ADMIN_TOKN: "x",
      CALENDAR_TOKEN: "secret",
      PLANNER_KEY: "k",
      HTTP_PROXY: "http://127.0.0.1:3128",
      SOMETHING_ELSE: "1",
      CALENDAR: "1",
    },
  };
  const policyText = 'headers: { Authorization: "Bearer ${CALENDAR_TOKEN}" }\n' +
    "agents:\n  - { id: p, key_env: PLANNER_KEY, models: [m] }\n";
  expect(envFileWarnings(file, { policyText })).toEqual([
    '.env: unknown key "PROT" is ignored: did you mean PORT?',
    '.env: unknown key "loglevel" is ignored: did you mean LOG_LEVEL?',
    '.env: unknown key "ADMIN_TOKN" is ignored: did you mean ADMIN_TOKEN?',
    '.env: unknown key "SOMETHING_ELSE" is ignored: not a gateway setting and not used by the policy',
    '.env: unknown key "CALENDAR" is ignored: not a gateway setting and not used by the policy',
  ]);
  expect(envFileWarnings({ path: ".env", values: {} }, { policyText })).toEqual([]);
});

Deno.test("nearestConfigKey suggests only close keys", () => {
  expect(nearestConfigKey("PROT")).toBe("PORT");
  expect(nearestConfigKey("AUDIT_LOG")).toBe(null);
  expect(nearestConfigKey("AUDIT_LOG_PAHT")).toBe("AUDIT_LOG_PATH");
  expect(nearestConfigKey("XYZ")).toBe(null);
});

Deno.test("describeConfig lists every key with its source and never the admin token", () => {
  const file = { path: ".env", values: { PORT: "9000", ADMIN_TOKEN: "a-very-secret-admin-token" } };
  const processEnv = { HOST: "0.0.0.0", ALLOWED_HOSTS: "a.example,b.example" };
  const env = mergeEnvironment(file, processEnv);
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new Error(parsed.errors.join());
  const lines = describeConfig(parsed.config, { file, processEnv });
  expect(lines).toHaveLength(Object.keys(CONFIG_KEYS).length);
  expect(lines).toContain("PORT=9000 (.env)");
  expect(lines).toContain("HOST=0.0.0.0 (environment)");
  expect(lines).toContain("ADMIN_TOKEN is set (.env)");
  expect(lines).toContain("ALLOWED_HOSTS=a.example,b.example (environment)");
  expect(lines).toContain("ALLOWED_ORIGINS=(none) (default)");
  expect(lines).toContain("MAX_CONNECTIONS=auto (default)");
  expect(lines.join("\n")).not.toContain("a-very-secret");
  const unset = parseConfig({});
  if (!unset.ok) throw new Error(unset.errors.join());
  expect(describeConfig(unset.config, { file: { path: ".env", values: {} }, processEnv: {} }))
    .toContain("ADMIN_TOKEN is unset (random per run) (default)");
});

Deno.test("readEnvFile: a missing file is empty; the environment wins over the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await readEnvFile(join(dir, ".env"));
    expect(missing.values).toEqual({});
    await Deno.writeTextFile(join(dir, ".env"), "PORT=1\nPROT=2\n# comment\n");
    const file = await readEnvFile(join(dir, ".env"));
    expect(file.values).toEqual({ PORT: "1", PROT: "2" });
    expect(mergeEnvironment(file, { PORT: "3" })).toEqual({ PORT: "3", PROT: "2" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
