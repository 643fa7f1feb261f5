/**
 * Free loopback ports for clusters of real processes (the chaos runs and
 * the benches). Other programs on a shared
 * machine may hold the default ports (or another run of ours); a member that
 * cannot bind exits at once, so look for a base where every port is free.
 *
 * @module
 */

function isFree(port: number): boolean {
  try {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    l.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * The first base from `start` (in steps of `step`) where `base + offset`
 * is free for every offset. There is a window
 * between this check and the members binding; the cluster starters notice
 * a member that exits and say why.
 *
 * @example
 * ```ts
 * import { freeBase } from "./ports.ts";
 *
 * // Three peers from base, three HTTP listeners from base + 50.
 * const base = freeBase(17100, [0, 1, 2, 50, 51, 52]);
 * ```
 */
export function freeBase(
  start: number,
  offsets: readonly number[],
  options: { step?: number; tries?: number } = {},
): number {
  const step = options.step ?? 100;
  const tries = options.tries ?? 100;
  for (let i = 0; i < tries; i++) {
    const base = start + i * step;
    if (offsets.every((o) => isFree(base + o))) return base;
  }
  throw new Error(
    `No free ports from ${start} in ${tries} steps of ${step}`,
  );
}

/**
 * The offsets from a base that a local cluster of `n` nodes binds: peers
 * from the base, HTTP listeners from the base + 50.
 *
 * @example
 * ```ts
 * import { clusterPorts, freeBase } from "./ports.ts";
 *
 * const base = freeBase(17400, clusterPorts(3)); // 0, 1, 2, 50, 51, 52 free
 * ```
 */
export function clusterPorts(n: number): number[] {
  const ids = [...Array(n).keys()];
  return [...ids, ...ids.map((i) => i + 50)];
}
