/** Files shipped with the gateway: read the same way under `deno run` and in the compiled binary. */
import type { DashboardAssets } from "./http/deps.ts";

/** The project root as a URL (inside the binary: where `--include`d files live). */
export const ASSET_ROOT: URL = new URL("../", import.meta.url);

/** The URL of a shipped file or directory, e.g. `assetUrl("schemas/")`. */
export function assetUrl(relative: string): URL {
  return new URL(relative, ASSET_ROOT);
}

/** Reads every file of `static/` into memory (the dashboard). */
export async function loadDashboardAssets(): Promise<DashboardAssets> {
  const files = new Map<string, Uint8Array>();
  const dir = assetUrl("static/");
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && !entry.name.startsWith(".")) {
      files.set(entry.name, await Deno.readFile(new URL(entry.name, dir)));
    }
  }
  return { files };
}

/** True when `path` exists on the file system. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
