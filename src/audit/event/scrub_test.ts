import { expect } from "expect";
import fc from "fast-check";
import { redact, REDACTED, secretValues } from "./redact.ts";
import {
  compileScrubber,
  configuredSecrets,
  SCRUBBED,
  scrubberFor,
  SHAPE_SCRUBBER,
} from "./scrub.ts";
import type { Policy } from "../../policy/types.ts";

const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
const PEM =
  "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAxyz\nabc==\n-----END RSA PRIVATE KEY-----";

Deno.test("scrub: credential shapes are removed, their labels kept", () => {
  const cases: [string, string][] = [
    ["Authorization: Bearer abcDEF123456", "Authorization: Bearer [REDACTED]"],
    ["auth basic dXNlcjpwYXNz", "auth basic [REDACTED]"],
    [`token ${JWT} end`, `token [REDACTED] end`],
    ["key AKIAIOSFODNN7EXAMPLE in text", "key [REDACTED] in text"],
    ["ASIAIOSFODNN7EXAMPLE", "[REDACTED]"],
    [`before ${PEM} after`, "before [REDACTED] after"],
    ["-----BEGIN PRIVATE KEY-----\nnever ends", "[REDACTED]"],
    ["db_password=hunter2&x=1", "db_password=[REDACTED]&x=1"],
    ['{"secret": "s3cr3t-value"}', '{"secret": "[REDACTED]"}'],
    ["API-KEY: k-123456", "API-KEY: [REDACTED]"],
    ["Password:hunter2", "Password:[REDACTED]"],
  ];
  for (const [input, output] of cases) expect(SHAPE_SCRUBBER.text(input)).toBe(output);
});

Deno.test("scrub: ordinary text is returned as the same string", () => {
  for (
    const text of [
      'allowed by rule 0 (model "gpt-4*"); input matches its local schema',
      "max_tokens=512 token_count: 3 keyboard layout",
      "the token bucket is empty",
      "eyJ alone is not a JWT",
      "",
    ]
  ) {
    expect(SHAPE_SCRUBBER.text(text)).toBe(text);
    expect(SHAPE_SCRUBBER.test(text)).toBe(false);
  }
});

Deno.test("scrub: hostile texts take linear time (no start rescans another's run)", () => {
  // Each would take minutes if the patterns backtracked or rescanned (1 MiB, quadratic ≈ 10^12
  // steps); linear, each is a few ms to ~100 ms on a busy 2-core machine.
  const N = 1 << 20;
  const hostile = [
    "-eyJ".repeat(N / 4),
    "eyJa.".repeat(N / 5),
    "password" + " ".repeat(N),
    "bearer" + " ".repeat(N),
    "token " + "a".repeat(N),
    "token a" + "-token ".repeat(N / 7),
    "-----BEGIN" + " ".repeat(N),
    "-----BEGIN ".repeat(N / 11),
    "-----BEGIN " + "A".repeat(N) + "-----",
    "bearer x" + "-bearer".repeat(N / 7),
    "password:".repeat(N / 9),
    "AKIA".repeat(N / 4),
  ];
  for (const text of hostile) {
    const started = performance.now();
    SHAPE_SCRUBBER.text(text);
    SHAPE_SCRUBBER.mayHold(text);
    expect([text.slice(0, 12), performance.now() - started < 2000]).toEqual([
      text.slice(0, 12),
      true,
    ]);
  }
});

Deno.test("scrub: configured values, longest first, and valuesDeep keeps untouched objects", () => {
  const scrubber = compileScrubber(["Bearer tok-1234567890", "tok-1234567890", "abc"]);
  expect(scrubber.text("sent Bearer tok-1234567890 and tok-1234567890")).toBe(
    `sent ${SCRUBBED} and ${SCRUBBED}`,
  );
  expect(scrubber.values("abc stays: too short to be a secret")).toBe(
    "abc stays: too short to be a secret",
  );
  const clean = { a: [1, "x", { b: null }] };
  expect(scrubber.valuesDeep(clean)).toBe(clean);
  const dirty = { a: ["x", { b: "has tok-1234567890 inside" }], n: 1 };
  expect(scrubber.valuesDeep(dirty)).toEqual({ a: ["x", { b: `has ${SCRUBBED} inside` }], n: 1 });
  expect(dirty.a[1]).toEqual({ b: "has tok-1234567890 inside" }); // never mutated
  const more = scrubber.with(["hunter2-pass"]);
  expect(more.text("bad hunter2-pass, tok-1234567890")).toBe(`bad ${SCRUBBED}, ${SCRUBBED}`);
  expect(scrubber.with([])).toBe(scrubber);
});

Deno.test("scrub: configuredSecrets takes header and env values (and bearer parts), not plumbing", () => {
  const policy = {
    upstreams: {
      a: {
        kind: "http",
        prefix: "a",
        url: "http://127.0.0.1:1/mcp",
        headers: {
          Authorization: "Bearer upstream-token-123",
          Accept: "application/json",
          "X-Tenant": "tenant-acme-01",
        },
      },
      b: {
        kind: "stdio",
        prefix: "b",
        command: ["x"],
        env: { API_KEY: "env-secret-value", SHORT: "abc" },
      },
    },
  } as unknown as Policy;
  expect(configuredSecrets(policy).sort()).toEqual(
    ["Bearer upstream-token-123", "upstream-token-123", "tenant-acme-01", "env-secret-value"]
      .sort(),
  );
  expect(scrubberFor(policy)).toBe(scrubberFor(policy)); // compiled once per policy
  expect(scrubberFor(policy).text("got upstream-token-123 and env-secret-value")).toBe(
    `got ${SCRUBBED} and ${SCRUBBED}`,
  );
});

Deno.test("secretValues: the values under secret keys, at any depth", () => {
  expect(secretValues({ a: 1, password: "p1", nested: [{ apiKey: 42 }, { x: { token: ["t1"] } }] }))
    .toEqual(["p1", "42", "t1"]);
});

// ---- property: planted secrets never come out; plain keys are untouched ----

const SECRET_KEY_NAMES = [
  "password",
  "aws_secret_access_key",
  "SecretAccessKey",
  "client_secret",
  "passphrase",
  "private_key_pem",
  "ssh_key",
  "x-api-key",
  "auth_header",
  "access_token",
];
const PLAIN_KEY_NAMES = ["max_tokens", "token_count", "keyboard", "title", "count", "author"];

// Secrets that look like nothing in particular (letters and digits, a marker so that they cannot
// occur by chance in generated plain text).
const secretArb = fc.stringMatching(/^[A-Za-z0-9]{10,24}$/).map((s) => `Zq${s}`);
const plainArb = fc.oneof(
  fc.stringMatching(/^[a-y0-9 ]{0,20}$/),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);

type Json = unknown;

function plant(
  tree: Json,
  secret: string,
  path: number[],
  mode: "key" | "configured",
  keyName: string,
): Json {
  // Walk down by the path (modulo the children there), plant at the node reached.
  let node = tree;
  for (const step of path) {
    if (Array.isArray(node) && node.length > 0) node = node[step % node.length];
    else if (typeof node === "object" && node !== null) {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const child = (node as Record<string, Json>)[keys[step % keys.length]];
      if (typeof child !== "object" || child === null) break;
      node = child;
    } else break;
  }
  const value = mode === "key" ? secret : `text with ${secret} inside`;
  const key = mode === "key" ? keyName : "note";
  if (Array.isArray(node)) node.push({ [key]: value });
  else if (typeof node === "object" && node !== null) (node as Record<string, Json>)[key] = value;
  else return { [key]: value, wrapped: tree };
  return tree;
}

const treeArb: fc.Arbitrary<Json> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    plainArb,
    fc.array(tie("node"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...PLAIN_KEY_NAMES), tie("node"), { maxKeys: 4 }),
  ),
})).node.map((tree) => typeof tree === "object" && tree !== null ? tree : { root: tree });

Deno.test("property: secrets planted under secret keys or as configured values never appear", () => {
  fc.assert(
    fc.property(
      treeArb,
      secretArb,
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.constantFrom<"key" | "configured">("key", "configured"),
      fc.constantFrom(...SECRET_KEY_NAMES),
      (tree, secret, path, mode, keyName) => {
        const planted = plant(structuredClone(tree), secret, path, mode, keyName);
        const before = JSON.stringify(planted);
        expect(before).toContain(secret);
        // The audit's way: redaction by key name plus the policy's configured values.
        const scrubber = compileScrubber(mode === "configured" ? [secret] : []);
        const out = JSON.stringify(redact(planted, scrubber));
        expect(out).not.toContain(secret);
        // The result's way: exact values (configured + the call's secret arguments).
        const withArgs = compileScrubber(mode === "configured" ? [secret] : [])
          .with(secretValues(planted));
        expect(JSON.stringify(withArgs.valuesDeep(planted))).not.toContain(secret);
        expect(JSON.stringify(planted)).toBe(before); // inputs never mutated
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("property: values under non-secret keys are untouched", () => {
  fc.assert(
    fc.property(treeArb, (tree) => {
      expect(redact(tree, SHAPE_SCRUBBER)).toEqual(tree);
      expect(compileScrubber(["Zq-not-present-anywhere"]).valuesDeep(tree)).toBe(tree);
    }),
    { numRuns: 300 },
  );
});

Deno.test("redact with a scrubber replaces shapes inside strings under plain keys", () => {
  expect(redact({ note: "use Bearer abcdef123456 please", n: 1 }, SHAPE_SCRUBBER)).toEqual({
    note: `use Bearer ${REDACTED} please`,
    n: 1,
  });
});

Deno.test("mayHold: a cheap pre-check that also sees secrets as JSON text escapes them", () => {
  const scrubber = compileScrubber(['quote"in-secret\\x']);
  expect(scrubber.mayHold(JSON.stringify({ a: 'has quote"in-secret\\x' }))).toBe(true);
  expect(scrubber.mayHold(JSON.stringify({ a: "nothing here", n: 3 }))).toBe(false);
  expect(SHAPE_SCRUBBER.mayHold(JSON.stringify({ note: "Bearer abcdef123456" }))).toBe(true);
  expect(SHAPE_SCRUBBER.text("token ghp_1a2b3c4d5e and the token bucket")).toBe(
    "token [REDACTED] and the token bucket",
  );
});
