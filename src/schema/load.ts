/** Reads the local schema directory (§8). Effect: file I/O only, no parsing or compiling. */

import { join } from "node:path";
import { concatBytes, decodeUtf8Strict } from "../bytes.ts";
import type { SchemaFile } from "./registry.ts";

/** Largest schema file read, in bytes (1 MiB). */
export const MAX_SCHEMA_FILE_BYTES = 1024 * 1024;

/** Options for `readSchemaDir`. */
export interface ReadSchemaDirOptions {
  /** Largest file read, in bytes; default `MAX_SCHEMA_FILE_BYTES`. */
  readonly maxBytes?: number;
}

/** Reads every `*.json` regular file directly in `dir` (a path or `file:` URL), sorted by name. */
export async function readSchemaDir(
  dir: string | URL,
  options: ReadSchemaDirOptions = {},
): Promise<{ files: SchemaFile[]; errors: string[] }> {
  const maxBytes = options.maxBytes ?? MAX_SCHEMA_FILE_BYTES;
  const shown = dir instanceof URL ? dir.href : dir;
  const files: SchemaFile[] = [];
  const errors: string[] = [];
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.startsWith(".") || !entry.name.endsWith(".json")) continue;
      if (entry.isDirectory) continue;
      names.push(entry.name);
    }
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "directory not found"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : "not a readable directory";
    return { files: [], errors: [`Cannot load schemas ${JSON.stringify(shown)}: ${reason}`] };
  }
  names.sort();
  for (const name of names) {
    const path = entryPath(dir, name);
    try {
      // stat follows symlinks (e.g. Kubernetes ConfigMap mounts); only regular files are read.
      const info = await Deno.stat(path);
      if (!info.isFile) continue;
      if (info.size > maxBytes) throw new TooLarge();
      files.push({ fileName: name, text: await readBounded(path, maxBytes) });
    } catch (error) {
      const reason = error instanceof TooLarge
        ? `larger than ${maxBytes} bytes`
        : error instanceof TypeError
        ? "not valid UTF-8"
        : error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : error instanceof Deno.errors.NotFound
        ? "file not found"
        : "cannot be read";
      errors.push(`Cannot load schema ${JSON.stringify(name)}: ${reason}`);
    }
  }
  return { files, errors };
}

class TooLarge extends Error {}

function entryPath(dir: string | URL, name: string): string | URL {
  if (!(dir instanceof URL)) return join(dir, name);
  const base = dir.href.endsWith("/") ? dir : new URL(`${dir.href}/`);
  return new URL(encodeURIComponent(name), base);
}

/** Reads at most `maxBytes` (the file may grow after stat) and decodes strict UTF-8. */
async function readBounded(path: string | URL, maxBytes: number): Promise<string> {
  using file = await Deno.open(path, { read: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const read = await file.read(buffer);
    if (read === null) break;
    total += read;
    if (total > maxBytes) throw new TooLarge();
    chunks.push(buffer.slice(0, read));
  }
  return decodeUtf8Strict(concatBytes(chunks, total));
}
