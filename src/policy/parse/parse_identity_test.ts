import { createHash } from "node:crypto";
import { expect } from "expect";
import { parsePolicy } from "./parse.ts";
import type { Policy } from "../types.ts";

const RULES = `rules:\n  - model: "gpt-4*"\n    allow_tools: ["*"]\n`;
const KEY = "planner-secret-key-0123456789";
const KEY_HASH = createHash("sha256").update(KEY).digest("hex");
const OTHER_HASH = "A".repeat(64);

function load(text: string, env: Record<string, string> = {}): Policy {
  const result = parsePolicy(text, { env });
  if (!result.ok) throw new Error(`expected a valid policy, got:\n${result.errors.join("\n")}`);
  return result.policy;
}

function errorsOf(text: string, env: Record<string, string> = {}): string[] {
  const result = parsePolicy(text, { env });
  if (result.ok) throw new Error("expected the policy to be rejected");
  return result.errors;
}

Deno.test("agents: key_env is hashed at load, key_sha256 is lowercased, plaintext never kept", () => {
  const policy = load(
    `${RULES}agents:
  - id: planner
    key_env: PLANNER_KEY
    models: ["gpt-4o", "gpt-4o-mini"]
  - id: other
    key_sha256: "${OTHER_HASH}"
    models: ["gpt-4*"]
`,
    { PLANNER_KEY: KEY },
  );
  expect(policy.agents?.map((a) => a.id)).toEqual(["planner", "other"]);
  expect(policy.agents?.[0].keySha256).toBe(KEY_HASH);
  expect(policy.agents?.[1].keySha256).toBe("a".repeat(64));
  expect(policy.agents?.[0].models.map((g) => g.source)).toEqual(["gpt-4o", "gpt-4o-mini"]);
  expect(policy.agents?.[1].models[0].test("gpt-4-turbo")).toBe(true);
  expect(JSON.stringify(policy)).not.toContain(KEY);
});

Deno.test("agents: every identity problem is reported without secrets", () => {
  const errors = errorsOf(
    `${RULES}agents:
  - id: a
    key_env: MISSING_KEY
    models: ["m"]
  - id: a
    key_sha256: "${KEY_HASH.toUpperCase()}"
    key_env: PLANNER_KEY
    models: ["m"]
  - id: b
    key_sha256: "abc"
    models: []
  - id: c
    key_env: SHORT_KEY
    models: ["m"]
    role: admin
  - models: ["m"]
    key_env: "bad name"
  - id: d
    key_sha256: "${KEY_HASH}"
    models: ["m"]
  - id: e
    key_sha256: "${KEY_HASH.toUpperCase()}"
  - id: f
    key_env: PLANNER_KEY
    models: ["x"]
`,
    { PLANNER_KEY: KEY, SHORT_KEY: "tiny" },
  );
  expect(errors).toEqual([
    'agents[0].key_env: environment variable "MISSING_KEY" is not set or is empty',
    'agents[1]: must have exactly one of "key_sha256", "key_env" and "oauth_client_id"',
    "agents[2].key_sha256: must be 64 hexadecimal characters (a sha256 digest)",
    "agents[2].models: must not be empty",
    'agents[3]: unknown key "role"',
    'agents[3].key_env: environment variable "SHORT_KEY" holds a key shorter than 16 characters',
    'agents[4]: missing required key "id"',
    "agents[4].key_env: must be an environment variable name",
    'agents[6]: missing required key "models"',
    "agents[7]: has the same key as agents[5]",
  ]);
  for (const error of errors) {
    expect(error).not.toContain(KEY);
    expect(error).not.toContain(KEY_HASH);
    expect(error).not.toContain("tiny");
  }
});

Deno.test("agents: duplicate ids and empty or ill-typed lists are errors", () => {
  const twice = `  - { id: a, key_sha256: "${"1".repeat(64)}", models: [m] }
  - { id: a, key_sha256: "${"2".repeat(64)}", models: [m] }`;
  expect(errorsOf(`${RULES}agents:\n${twice}\n`)).toEqual([
    "agents[1].id: repeats the id of agents[0]",
  ]);
  expect(errorsOf(`${RULES}agents: []\n`)[0]).toMatch(/^agents: must contain at least one agent/);
  expect(errorsOf(`${RULES}agents: { a: 1 }\n`)).toEqual([
    "agents: must be a list of agents, got a mapping",
  ]);
  expect(errorsOf(`${RULES}agents:\n`)).toEqual(["agents: must be a list of agents, got nothing"]);
});

Deno.test("upstreams: http and stdio, ${VAR} expanded, prefix defaults to the name", () => {
  const policy = load(
    `${RULES}upstreams:
  calendar:
    url: "http://127.0.0.1:9001/mcp"
    headers: { Authorization: "Bearer \${CALENDAR_TOKEN}", X-Fixed: "1" }
  files:
    command: ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"]
    env: { ROOT: "/srv/\${SUB}/x", EMPTY_OK: "" }
    prefix: "fs.local"
  conformance:
    url: "https://example.test/mcp"
    prefix: ""
`,
    { CALENDAR_TOKEN: "tok-123", SUB: "shared" },
  );
  expect(policy.upstreams).toEqual({
    calendar: {
      kind: "http",
      url: "http://127.0.0.1:9001/mcp",
      headers: { Authorization: "Bearer tok-123", "X-Fixed": "1" },
      prefix: "calendar",
    },
    files: {
      kind: "stdio",
      command: ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"],
      env: { ROOT: "/srv/shared/x", EMPTY_OK: "" },
      prefix: "fs.local",
    },
    conformance: { kind: "http", url: "https://example.test/mcp", headers: {}, prefix: "" },
  });
});

Deno.test("upstreams: every problem reported, never a variable's value", () => {
  const errors = errorsOf(
    `${RULES}upstreams:
  "bad name": { url: "http://x" }
  both: { url: "http://x", command: ["a"] }
  neither: { prefix: "n" }
  ftp: { url: "ftp://x/y" }
  creds: { url: "http://user:pw@x/" }
  junk: { url: "not a url" }
  hdr:
    url: "http://x"
    headers: { Authorization: "Bearer \${NOPE}", "Bad Header": "v", X-N: 3, X-Crlf: "\${EVIL}" }
    env: { A: "1" }
  cmd: { command: ["", 1], headers: {} }
  noargs: { command: [] }
  envs: { command: ["x"], env: { "1BAD": "v", B: "\${NOPE", C: "\${SECRET}" } }
  pfx: { url: "http://x", prefix: "a..b" }
`,
    { EVIL: "v1\r\nX-Injected: 1", SECRET: "" },
  );
  expect(errors).toEqual([
    'upstreams: name "bad name" must be 1-64 of A-Z a-z 0-9 _ -',
    'upstreams.both: must have exactly one of "url" (HTTP) and "command" (stdio)',
    'upstreams.neither: must have exactly one of "url" (HTTP) and "command" (stdio)',
    "upstreams.ftp.url: must be an http: or https: URL",
    "upstreams.creds.url: must not contain credentials (put them in headers with ${VAR})",
    "upstreams.junk.url: is not a valid URL",
    'upstreams.hdr: unknown key "env"',
    'upstreams.hdr.headers.Authorization: environment variable "NOPE" is not set or is empty',
    'upstreams.hdr.headers: key "Bad Header" is not a valid HTTP header name',
    "upstreams.hdr.headers.X-N: must be a string, got an integer",
    "upstreams.hdr.headers.X-Crlf: must not contain NUL, CR or LF (after ${VAR} expansion)",
    'upstreams.cmd: unknown key "headers"',
    "upstreams.cmd.command[0]: must not be empty (it is the program to run)",
    "upstreams.cmd.command[1]: must be a string, got an integer",
    "upstreams.noargs.command: must not be empty",
    'upstreams.envs.env: key "1BAD" is not an environment variable name',
    "upstreams.envs.env.B: has a malformed ${...} reference (expected ${NAME})",
    'upstreams.envs.env.C: environment variable "SECRET" is not set or is empty',
    'upstreams.pfx.prefix: must be "" or dot-separated parts of A-Z a-z 0-9 _ - (at most 120)',
  ]);
  expect(errors.join("\n")).not.toContain("X-Injected");
});

Deno.test("upstreams: overlapping prefixes are a load error", () => {
  const table: Array<[string, string, boolean]> = [
    ["calendar", "calendar", true],
    ["", "", true],
    ["cal", "cal.v2", true],
    ["a.b", "a.b.c", true],
    ["cal", "calendar", false],
    ["", "calendar", false],
    ["a.b", "a.c", false],
  ];
  for (const [first, second, overlapping] of table) {
    const text = `${RULES}upstreams:
  one: { url: "http://127.0.0.1:1/mcp", prefix: "${first}" }
  two: { command: ["server"], prefix: "${second}" }
`;
    const result = parsePolicy(text, { env: {} });
    const errors = result.ok ? [] : result.errors;
    const expected = overlapping
      ? [`upstreams.two.prefix: overlapping prefixes: "${second}" and "${first}" (upstream "one")`]
      : [];
    expect([first, second, errors]).toEqual([first, second, expected]);
  }
  expect(
    errorsOf(
      `${RULES}upstreams:\n  cal: { url: "http://x" }\n  b: { url: "http://y", prefix: cal }\n`,
    ),
  )
    .toHaveLength(1);
});

Deno.test("upstreams and pinning: shape errors", () => {
  expect(errorsOf(`${RULES}upstreams: ["a"]\n`)).toEqual([
    "upstreams: must be a mapping, got a list",
  ]);
  expect(errorsOf(`${RULES}upstreams:\n  a: "http://x"\n`)).toEqual([
    "upstreams.a: must be a mapping, got a string",
  ]);
  expect(errorsOf(`${RULES}pinning: block\n`)).toEqual([
    "pinning: must be a mapping, got a string",
  ]);
  expect(errorsOf(`${RULES}pinning: { mode: }\n`)).toEqual([
    'pinning.mode: must be "off", "warn" or "block"',
  ]);
  expect(load(`${RULES}pinning: {}\n`).pinning).toEqual({ mode: "block" });
  expect(load(`${RULES}pinning: { mode: "off" }\n`).pinning).toEqual({ mode: "off" });
});

Deno.test("upstreams: lookups never reach inherited properties", () => {
  const policy = load(`${RULES}upstreams:\n  __proto__: { url: "http://127.0.0.1:1/mcp" }\n`);
  expect(Object.keys(policy.upstreams)).toEqual(["__proto__"]);
  expect(policy.upstreams["__proto__"].kind).toBe("http");
  const empty = load(RULES);
  expect(empty.upstreams["constructor"]).toBeUndefined();
  expect(empty.upstreams["toString"]).toBeUndefined();
});

Deno.test("upstreams: header and env maps have no inherited properties either", () => {
  const policy = load(`${RULES}upstreams:
  a: { url: "http://127.0.0.1:1/mcp" }
  b: { command: ["x"], env: { K: "v" } }
`);
  const a = policy.upstreams.a;
  const b = policy.upstreams.b;
  expect(a.kind === "http" && a.headers["constructor"]).toBeUndefined();
  expect(b.kind === "stdio" && b.env["toString"]).toBeUndefined();
  expect(b.kind === "stdio" && b.env.K).toBe("v");
});
