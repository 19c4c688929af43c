/** Reads the environment, with `.env` in the working directory as a fallback (effect). */
import { parseEnv } from "node:util";

/**
 * The process environment over the values of `.env` (if the file exists): a variable set in
 * the environment always wins over the file.
 */
export async function readEnvironment(envFile = ".env"): Promise<Record<string, string>> {
  let fromFile: Record<string, string> = {};
  try {
    const text = await Deno.readTextFile(envFile);
    fromFile = parseEnv(text) as Record<string, string>;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot load env file "${envFile}": ${(error as Error).message}`);
    }
  }
  return { ...fromFile, ...Deno.env.toObject() };
}
