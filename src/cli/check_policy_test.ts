import { expect } from "expect";
import { checkPolicyCommand, type CheckPolicyIo } from "./check_policy.ts";

const SEED = `rules:
  - model: "gpt-4*"
    allow_tools: ["calendar.*", "search.*"]
    deny_tools: ["db.write*"]
    max_calls_per_session: 5
    active_hours: "08:00-18:00"
`;

function fakeIo(
  files: Record<string, string>,
  env: Record<string, string> = {},
): CheckPolicyIo & { out: string[]; err: string[]; read: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const read: string[] = [];
  return {
    out,
    err,
    read,
    env,
    print: (line) => out.push(line),
    printError: (line) => err.push(line),
    readTextFile: (path) => {
      read.push(path);
      if (path in files) return Promise.resolve(files[path]);
      const error = new Error(`No such file or directory: readfile '${path}'`);
      error.name = "NotFound";
      return Promise.reject(error);
    },
  };
}

Deno.test("check-policy: a valid policy prints its summary and exits 0", async () => {
  const io = fakeIo({ "policies.yaml": SEED });
  expect(await checkPolicyCommand([], io)).toBe(0);
  expect(io.read).toEqual(["policies.yaml"]);
  expect(io.err).toEqual([]);
  expect(io.out).toHaveLength(1);
  expect(io.out[0]).toMatch(
    /^Policy "policies\.yaml" is valid \(version [0-9a-f]{12}, 1 rule, open identity mode, 0 upstreams\)$/,
  );
});

Deno.test("check-policy: path from args, then POLICY_PATH, then policies.yaml", async () => {
  const files = { "a.yaml": SEED, "b.yaml": SEED, "policies.yaml": SEED };
  const fromArgs = fakeIo(files, { POLICY_PATH: "b.yaml" });
  expect(await checkPolicyCommand(["a.yaml"], fromArgs)).toBe(0);
  expect(fromArgs.read).toEqual(["a.yaml"]);
  const fromEnv = fakeIo(files, { POLICY_PATH: "b.yaml" });
  expect(await checkPolicyCommand([], fromEnv)).toBe(0);
  expect(fromEnv.read).toEqual(["b.yaml"]);
});

Deno.test("check-policy: agents and upstreams are counted", async () => {
  const text = `${SEED}agents:
  - { id: a, key_env: A_KEY, models: ["gpt-4o"] }
  - { id: b, key_sha256: "${"c".repeat(64)}", models: ["gpt-4o"] }
upstreams:
  calendar: { url: "http://127.0.0.1:9001/mcp" }
`;
  const io = fakeIo({ "p.yaml": text }, { A_KEY: "0123456789abcdef-key" });
  expect(await checkPolicyCommand(["p.yaml"], io)).toBe(0);
  expect(io.out[0]).toMatch(/, 1 rule, 2 agents, 1 upstream\)$/);
});

Deno.test("check-policy: every problem is printed and the exit code is 1", async () => {
  const text = `rules:
  - model: "gpt-4*"
    alow_tools: ["calendar.*"]
    active_hours: "8-18"
agents:
  - { id: a, key_env: MISSING_KEY, models: ["m"] }
`;
  const io = fakeIo({ "bad.yaml": text });
  expect(await checkPolicyCommand(["bad.yaml"], io)).toBe(1);
  expect(io.out).toEqual([]);
  expect(io.err).toEqual([
    'Cannot load policy "bad.yaml": agents[0].key_env: environment variable "MISSING_KEY" is not set or is empty',
    'Cannot load policy "bad.yaml": rules[0]: unknown key "alow_tools"',
    'Cannot load policy "bad.yaml": rules[0].active_hours: must be "HH:MM-HH:MM" with times 00:00..23:59 (end may be 24:00)',
  ]);
});

Deno.test("check-policy: unreadable and empty files fail", async () => {
  const missing = fakeIo({});
  expect(await checkPolicyCommand(["nope.yaml"], missing)).toBe(1);
  expect(missing.err).toEqual(['Cannot load policy "nope.yaml": file not found']);
  const empty = fakeIo({ "empty.yaml": "" });
  expect(await checkPolicyCommand(["empty.yaml"], empty)).toBe(1);
  expect(empty.err).toHaveLength(1);
  expect(empty.err[0]).toMatch(/^Cannot load policy "empty\.yaml": policy: must be a mapping/);
});

Deno.test("check-policy: reads a real file with Deno.readTextFile", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/policies.yaml`;
    await Deno.writeTextFile(path, SEED);
    const io = { ...fakeIo({}), readTextFile: (p: string) => Deno.readTextFile(p) };
    const out: string[] = [];
    const err: string[] = [];
    const code = await checkPolicyCommand([path], {
      ...io,
      print: (line) => out.push(line),
      printError: (line) => err.push(line),
    });
    expect([code, err]).toEqual([0, []]);
    expect(out[0]).toContain(`Policy "${path}" is valid (version `);
    const missing: string[] = [];
    const code2 = await checkPolicyCommand([`${dir}/absent.yaml`], {
      ...io,
      printError: (line) => missing.push(line),
    });
    expect(code2).toBe(1);
    expect(missing).toEqual([`Cannot load policy "${dir}/absent.yaml": file not found`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
