import type { Glob } from "./types.ts";

/**
 * A run of the glob between two `*`s: literal characters and `?` (one UTF-16 code unit each).
 * `literal` is set when the run holds no `?`, so the native `indexOf`/`startsWith` can be used.
 */
interface Segment {
  readonly chars: string;
  readonly literal: boolean;
}

/** Compiles a glob once: `*` any run of characters (dots included), `?` one character, rest literal. */
export function compileGlob(source: string): Glob {
  const parts = source.split("*");
  if (parts.length === 1) {
    const only = toSegment(source);
    const test = only.literal
      ? (value: string) => value === source
      : (value: string) => value.length === source.length && matchesAt(only, value, 0);
    return Object.freeze({ source, test });
  }
  const first = toSegment(parts[0]);
  const last = toSegment(parts[parts.length - 1]);
  const middle = parts.slice(1, -1).filter((p) => p.length > 0).map(toSegment);
  const minLength = first.chars.length + last.chars.length +
    middle.reduce((sum, s) => sum + s.chars.length, 0);
  const test = (value: string): boolean => {
    if (value.length < minLength) return false;
    if (!matchesAt(first, value, 0)) return false;
    const tailStart = value.length - last.chars.length;
    if (!matchesAt(last, value, tailStart)) return false;
    // Each middle segment has a fixed length, so taking its earliest occurrence always leaves
    // the most room for the rest: one left-to-right pass, no backtracking.
    let pos = first.chars.length;
    for (const segment of middle) {
      const found = findFrom(segment, value, pos, tailStart);
      if (found < 0) return false;
      pos = found + segment.chars.length;
    }
    return true;
  };
  return Object.freeze({ source, test });
}

function toSegment(chars: string): Segment {
  return { chars, literal: !chars.includes("?") };
}

/** True when `segment` matches `value` starting at `pos` (`?` matching any one code unit). */
function matchesAt(segment: Segment, value: string, pos: number): boolean {
  const { chars } = segment;
  if (pos < 0 || pos + chars.length > value.length) return false;
  if (segment.literal) return value.startsWith(chars, pos);
  for (let i = 0; i < chars.length; i++) {
    const c = chars.charCodeAt(i);
    if (c !== 63 /* ? */ && c !== value.charCodeAt(pos + i)) return false;
  }
  return true;
}

/** Earliest index ≥ `from` where `segment` matches and ends at or before `limit`, else -1. */
function findFrom(segment: Segment, value: string, from: number, limit: number): number {
  const last = limit - segment.chars.length;
  if (segment.literal) {
    const found = value.indexOf(segment.chars, from);
    return found >= 0 && found <= last ? found : -1;
  }
  for (let pos = from; pos <= last; pos++) {
    if (matchesAt(segment, value, pos)) return pos;
  }
  return -1;
}
