/** A bounded in-memory buffer that drops its oldest item when full. */
export interface Ring<T> {
  /** Adds `item` as the newest, dropping the oldest when at capacity. */
  push(item: T): void;
  /** A copy of the items, oldest first. */
  items(): T[];
  /** Number of items held. */
  readonly size: number;
}

/** Creates an empty ring holding at most `capacity` (≥ 1) items. */
export function createRing<T>(capacity: number): Ring<T> {
  const cap = Math.max(1, Math.floor(capacity));
  const slots: T[] = [];
  let next = 0;
  return {
    push(item: T): void {
      if (slots.length < cap) {
        slots.push(item);
        return;
      }
      slots[next] = item;
      next = (next + 1) % cap;
    },
    items(): T[] {
      return slots.length < cap ? slots.slice() : [...slots.slice(next), ...slots.slice(0, next)];
    },
    get size(): number {
      return slots.length;
    },
  };
}
