/**
 * Test support: waiting for a condition that another task makes true.
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `cond` every 5 ms until it holds; throws `Timed out waiting: <what>`
 * after `timeoutMs`.
 */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out waiting: ${what}`);
    await sleep(5);
  }
}
