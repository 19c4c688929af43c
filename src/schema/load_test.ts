import { expect } from "expect";
import { join } from "node:path";
import { readSchemaDir } from "./load.ts";
import { buildSchemaRegistry } from "./registry.ts";

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "schema_load_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readSchemaDir: reads *.json files, sorted; skips others, dot-files and subdirs", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "b.tool.json"), '{"type":"object"}');
    await Deno.writeTextFile(join(dir, "a.tool.output.json"), "{}");
    await Deno.writeTextFile(join(dir, "notes.txt"), "ignored");
    await Deno.writeTextFile(join(dir, ".hidden.json"), "{}");
    await Deno.writeTextFile(join(dir, "broken.json"), "{ not json");
    await Deno.mkdir(join(dir, "sub.json"));
    await Deno.writeTextFile(join(dir, "sub.json", "inner.json"), "{}");
    const { files, errors } = await readSchemaDir(dir);
    expect(errors).toEqual([]);
    expect(files).toEqual([
      { fileName: "a.tool.output.json", text: "{}" },
      { fileName: "b.tool.json", text: '{"type":"object"}' },
      { fileName: "broken.json", text: "{ not json" },
    ]);
  });
});

Deno.test("readSchemaDir: accepts a file: URL, with or without a trailing slash", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "x y.json"), "{}");
    const url = new URL(`file://${dir}/`);
    expect(await readSchemaDir(url)).toEqual({
      files: [{ fileName: "x y.json", text: "{}" }],
      errors: [],
    });
    expect((await readSchemaDir(new URL(`file://${dir}`))).files.length).toBe(1);
  });
});

Deno.test("readSchemaDir: symlinks to regular files are read, dangling ones reported", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "..data"));
    await Deno.writeTextFile(join(dir, "..data", "t.json"), '{"type":"string"}');
    await Deno.symlink(join(dir, "..data", "t.json"), join(dir, "t.json"));
    await Deno.symlink(join(dir, "..data"), join(dir, "dir.json"));
    await Deno.symlink(join(dir, "missing"), join(dir, "gone.json"));
    const { files, errors } = await readSchemaDir(dir);
    expect(files).toEqual([{ fileName: "t.json", text: '{"type":"string"}' }]);
    expect(errors).toEqual(['Cannot load schema "gone.json": file not found']);
  });
});

Deno.test("readSchemaDir: a missing directory is one error", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "nope");
    expect(await readSchemaDir(missing)).toEqual({
      files: [],
      errors: [`Cannot load schemas "${missing}": directory not found`],
    });
    const file = join(dir, "plain.json");
    await Deno.writeTextFile(file, "{}");
    const notDir = await readSchemaDir(file);
    expect(notDir.files).toEqual([]);
    expect(notDir.errors).toEqual([`Cannot load schemas "${file}": not a readable directory`]);
  });
});

Deno.test("readSchemaDir: oversize and non-UTF-8 files are errors; the rest still load", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "big.json"), `"${"x".repeat(200)}"`);
    await Deno.writeFile(join(dir, "latin1.json"), new Uint8Array([0x22, 0xe9, 0x22]));
    await Deno.writeTextFile(join(dir, "ok.json"), "{}");
    const { files, errors } = await readSchemaDir(dir, { maxBytes: 100 });
    expect(files).toEqual([{ fileName: "ok.json", text: "{}" }]);
    expect(errors).toEqual([
      'Cannot load schema "big.json": larger than 100 bytes',
      'Cannot load schema "latin1.json": not valid UTF-8',
    ]);
  });
});

Deno.test("readSchemaDir: the shipped schemas/ directory loads and compiles cleanly", async () => {
  const { files, errors } = await readSchemaDir(new URL("../../schemas", import.meta.url));
  expect(errors).toEqual([]);
  expect(files.map((file) => file.fileName)).toContain("calendar.create_event.json");
  const built = buildSchemaRegistry(files);
  expect(built.errors).toEqual([]);
  const input = built.registry.input("calendar.create_event");
  expect(input?.validate({ title: "Standup", start_time: "2024-05-01T09:30:00Z" })).toEqual({
    ok: true,
  });
  expect(input?.validate({ start_time: "2024-13-45T99:00:00Z" })).toEqual({
    ok: false,
    errors: [
      "/ must have required property 'title'",
      '/start_time must match format "date-time"',
    ],
  });
});
