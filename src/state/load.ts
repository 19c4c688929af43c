/** Reads the policy file and schema directory and compiles them into a gateway state (effect). */
import type { GatewayState } from "../pipeline.ts";
import { parsePolicy } from "../policy/parse/parse.ts";
import { readSchemaDir } from "../schema/load.ts";
import { buildSchemaRegistry } from "../schema/registry.ts";

/** Where the policy and schemas come from; a URL points into the embedded assets. */
export interface StateSources {
  /** Policy file path or URL. */
  readonly policyPath: string | URL;
  /** Schema directory path or URL. */
  readonly schemaDir: string | URL;
  /** Environment for `${VAR}` and `key_env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A loaded state, or every problem found. */
export type LoadResult = { ok: true; state: GatewayState } | { ok: false; errors: string[] };

const MAX_POLICY_BYTES = 1_048_576;

/** Loads and checks policy and schemas; reports every problem of both at once. */
export async function loadState(sources: StateSources): Promise<LoadResult> {
  const name = String(sources.policyPath);
  const errors: string[] = [];
  let text: string | undefined;
  try {
    const bytes = await Deno.readFile(sources.policyPath);
    if (bytes.byteLength > MAX_POLICY_BYTES) {
      errors.push(`Cannot load policy "${name}": file is larger than ${MAX_POLICY_BYTES} bytes`);
    } else {
      text = new TextDecoder().decode(bytes);
    }
  } catch (error) {
    errors.push(`Cannot load policy "${name}": ${describeFsError(error)}`);
  }
  const parsed = text === undefined ? undefined : parsePolicy(text, { env: sources.env });
  if (parsed && !parsed.ok) {
    for (const problem of parsed.errors) errors.push(`Cannot load policy "${name}": ${problem}`);
  }
  const read = await readSchemaDir(sources.schemaDir);
  errors.push(...read.errors);
  const built = buildSchemaRegistry(read.files);
  errors.push(...built.errors);
  if (errors.length > 0 || !parsed?.ok) return { ok: false, errors };
  return { ok: true, state: { policy: parsed.policy, schemas: built.registry } };
}

/** A short description of a file-system error, without stack or secrets. */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "file not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return error instanceof Error ? error.message : String(error);
}
