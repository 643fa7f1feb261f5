/**
 * A small seeded pseudo-random generator, so that the core and the
 * simulator are reproducible from a seed.
 *
 * @module
 */

/**
 * Returns a mulberry32 generator: a function giving floats in `[0, 1)`.
 * Fast, 32-bit state, good enough for timeouts and fault injection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "./rand.ts";
 *
 * const a = mulberry32(42);
 * const b = mulberry32(42);
 * const x = a();
 * assert.equal(x, b()); // the same seed gives the same sequence
 * assert.ok(x >= 0 && x < 1);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number in `[min, max]` drawn from `random`. */
export function randomInt(
  random: () => number,
  min: number,
  max: number,
): number {
  return min + Math.floor(random() * (max - min + 1));
}
