/** A limiter that admits everything: for a call already counted when it was held (§15). */
import type { Limiter, TakeResult } from "./limiter.ts";

const ADMITTED: TakeResult = Object.freeze({ ok: true });

/** Admits every call and counts nothing. */
export const NO_LIMITS: Limiter = Object.freeze({
  take: () => ADMITTED,
  sweep: () => 0,
  size: () => 0,
});
