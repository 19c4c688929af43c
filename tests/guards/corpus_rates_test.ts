/**
 * Detection and false-positive rates of the result-scanning detectors (SPEC §15) on the corpus in
 * tests/guards/corpus/: injections in tool results, poisoned and ordinary tool descriptions, secrets of
 * each shape, and benign look-alikes. Prints the table written into docs/SECURITY_MODEL.md
 * (`deno test … tests/guards/corpus_rates_test.ts` shows it) and asserts the thresholds below.
 */
import { expect } from "expect";
import { compileScrubber } from "../../src/audit/event/scrub.ts";
import { DETECTORS, REUSED_SECRET_DETECTORS } from "../../src/scan/detectors.ts";
import { compileResultScanner } from "../../src/scan/scan.ts";

interface Labelled {
  readonly id: string;
  readonly detectors: string[];
  readonly text: string;
}
interface Plain {
  readonly id: string;
  readonly text: string;
}

const read = async <T>(name: string): Promise<T> =>
  JSON.parse(await Deno.readTextFile(new URL(`corpus/${name}`, import.meta.url))) as T;

/** Every detector must find at least this share of the samples labelled with it. */
const MIN_DETECTION = 0.75;
/** No detector may fire on more than this share of the benign samples. */
const MAX_FALSE_POSITIVE = 0.05;
/** Share of malicious samples (injections and poisoned descriptions) at least one detector finds. */
const MIN_OVERALL_DETECTION = 0.9;
/** Share of benign samples on which any detector fires. */
const MAX_OVERALL_FALSE_POSITIVE = 0.05;

Deno.test("corpus: detection and false-positive rates per detector meet the thresholds", async () => {
  const injection = (await read<{ samples: Labelled[] }>("injection.json")).samples;
  const poisoning = await read<{ poisoned: Labelled[]; benign: Plain[] }>("poisoning.json");
  const secrets = (await read<{ samples: Labelled[] }>("secrets.json")).samples;
  const benign = (await read<{ samples: Plain[] }>("benign.json")).samples;
  const scanner = compileResultScanner(compileScrubber(["corpus-upstream-credential-77"]));

  const found = (text: string, mode: "result" | "description" | "secret"): string[] =>
    mode === "secret"
      ? scanner.secretsIn(text).names
      : scanner.injectionIn(text, mode === "description");

  const names = [...REUSED_SECRET_DETECTORS.map((d) => d.name), ...DETECTORS.map((d) => d.name)];
  const labelled = new Map(names.map((n) => [n, { hits: 0, total: 0 }]));
  const falsePositives = new Map(names.map((n) => [n, 0]));
  const misses: string[] = [];
  let maliciousFound = 0;
  let maliciousTotal = 0;

  const malicious: Array<[Labelled, "result" | "description" | "secret"]> = [
    ...injection.map((s) => [s, "result"] as [Labelled, "result"]),
    ...poisoning.poisoned.map((s) => [s, "description"] as [Labelled, "description"]),
    ...secrets.map((s) => [s, "secret"] as [Labelled, "secret"]),
  ];
  for (const [sample, mode] of malicious) {
    const hits = found(sample.text, mode);
    maliciousTotal++;
    if (hits.length > 0) maliciousFound++;
    else misses.push(sample.id);
    for (const name of sample.detectors) {
      const entry = labelled.get(name)!;
      expect({ sample: sample.id, known: entry !== undefined }).toEqual({
        sample: sample.id,
        known: true,
      });
      entry.total++;
      if (hits.includes(name)) entry.hits++;
      else misses.push(`${sample.id} (${name})`);
    }
  }

  // Benign pool: the look-alikes as results (injection and secret detectors), and the ordinary
  // tool descriptions in description mode.
  const pool: Array<[Plain, ("result" | "description" | "secret")[]]> = [
    ...benign.map((s) => [s, ["result", "secret"]] as [Plain, ("result" | "secret")[]]),
    ...poisoning.benign.map((s) =>
      [s, ["description", "secret"]] as [Plain, ("description" | "secret")[]]
    ),
  ];
  const noisy: string[] = [];
  for (const [sample, modes] of pool) {
    const hits = new Set(modes.flatMap((mode) => found(sample.text, mode)));
    if (hits.size > 0) noisy.push(`${sample.id}: ${[...hits].join(", ")}`);
    for (const name of hits) falsePositives.set(name, falsePositives.get(name)! + 1);
  }

  const rows = names.map((name) => {
    const { hits, total } = labelled.get(name)!;
    const fp = falsePositives.get(name)!;
    return {
      name,
      detection: total === 0 ? null : hits / total,
      text: `| \`${name}\` | ${hits}/${total} (${pct(hits, total)}) | ${fp}/${pool.length} (${
        pct(fp, pool.length)
      }) |`,
      fp: fp / pool.length,
    };
  });
  console.log(
    [
      "| detector | detected | false positives |",
      "| --- | --- | --- |",
      ...rows.map((r) => r.text),
      `| **any** (malicious samples found / benign samples flagged) | ${maliciousFound}/${maliciousTotal} (${
        pct(maliciousFound, maliciousTotal)
      }) | ${noisy.length}/${pool.length} (${pct(noisy.length, pool.length)}) |`,
      "",
      `missed: ${misses.join("; ") || "none"}`,
      `false positives: ${noisy.join("; ") || "none"}`,
    ].join("\n"),
  );

  for (const row of rows) {
    expect({ name: row.name, labelled: row.detection !== null }).toEqual({
      name: row.name,
      labelled: true,
    });
    expect({ name: row.name, ok: row.detection! >= MIN_DETECTION }).toEqual({
      name: row.name,
      ok: true,
    });
    expect({ name: row.name, ok: row.fp <= MAX_FALSE_POSITIVE }).toEqual({
      name: row.name,
      ok: true,
    });
  }
  expect(maliciousFound / maliciousTotal).toBeGreaterThanOrEqual(MIN_OVERALL_DETECTION);
  expect(noisy.length / pool.length).toBeLessThanOrEqual(MAX_OVERALL_FALSE_POSITIVE);
});

function pct(part: number, whole: number): string {
  return whole === 0 ? "–" : `${Math.round((part / whole) * 1000) / 10} %`;
}
