/**
 * Property tests with a fixed seed: every run of a property draws the same
 * cases, so a test passes or fails the same way on every machine, and a
 * failure says exactly how to replay it.
 *
 * The environment can change what runs (all optional):
 *
 * - `RAFTLOCK_FC_SEED=<n>`: use seed n instead of the fixed one (to explore
 *   other cases, or to replay a failure);
 * - `RAFTLOCK_FC_PATH=<path>`: replay the shrunk counterexample at that
 *   path of the seed's run instead of running the property from the start;
 * - `RAFTLOCK_FC_PROPERTY=<k>`: which property of the test (the k-th one it
 *   checks, from 1, default 1) the path belongs to; the others run as usual.
 *
 * A failure message ends with the command that does that, e.g.
 *
 * ```
 * Replay: RAFTLOCK_FC_SEED=24301 RAFTLOCK_FC_PATH=3:1:0 deno test -A tests/check/generated_test.ts --filter '/^generated: one stale read makes it illegal$/'
 * ```
 *
 * @module
 */

import fc from "fast-check";

/** The seed of every property that names none (and no `RAFTLOCK_FC_SEED`). */
export const DEFAULT_SEED = 0x5eed;

/** How many properties each running test has checked so far. */
const checked = new WeakMap<Deno.TestContext, number>();

/**
 * Checks `property` like `fc.assert`, with a fixed seed (`params.seed`, else
 * {@link DEFAULT_SEED}; `RAFTLOCK_FC_SEED` overrides both). `t` is the
 * running test: it names the file and test in the replay command a failure
 * prints. Returns a promise for an async property.
 *
 * @example
 * ```ts
 * Deno.test("sorting is idempotent", (t) => {
 *   assertProperty(
 *     t,
 *     fc.property(fc.array(fc.integer()), (a) => {
 *       const once = a.toSorted((x, y) => x - y);
 *       assert.deepEqual(once.toSorted((x, y) => x - y), once);
 *     }),
 *     { numRuns: 200 },
 *   );
 * });
 * ```
 */
export function assertProperty<Ts>(
  t: Deno.TestContext,
  property: fc.IAsyncProperty<Ts>,
  params?: fc.Parameters<Ts>,
): Promise<void>;
export function assertProperty<Ts>(
  t: Deno.TestContext,
  property: fc.IProperty<Ts>,
  params?: fc.Parameters<Ts>,
): void;
export function assertProperty<Ts>(
  t: Deno.TestContext,
  property: fc.IRawProperty<Ts>,
  params: fc.Parameters<Ts> = {},
): Promise<void> | void {
  const root = rootOf(t);
  const nth = (checked.get(root) ?? 0) + 1;
  checked.set(root, nth);
  const seed = intFromEnv("RAFTLOCK_FC_SEED") ?? params.seed ?? DEFAULT_SEED;
  const path = env("RAFTLOCK_FC_PATH");
  const replaying = path !== undefined &&
    (intFromEnv("RAFTLOCK_FC_PROPERTY") ?? 1) === nth;
  const run: fc.Parameters<Ts> = {
    ...params,
    seed,
    ...(replaying ? { path } : {}),
  };
  const details = fc.check(property, run);
  if (details instanceof Promise) {
    return details.then((d) => report(root, nth, d));
  }
  report(root, nth, details);
}

/** Throws, with the replay command, when the run failed. */
function report<Ts>(
  root: Deno.TestContext,
  nth: number,
  d: fc.RunDetails<Ts>,
): void {
  if (!d.failed) return;
  const vars = [`RAFTLOCK_FC_SEED=${d.seed}`];
  if (d.counterexamplePath !== null) {
    vars.push(`RAFTLOCK_FC_PATH=${d.counterexamplePath}`);
    if (nth > 1) vars.push(`RAFTLOCK_FC_PROPERTY=${nth}`);
  }
  const filter = shellQuote(`/^${escapeRegExp(root.name)}$/`);
  const lines = [
    `Property ${nth} of the test failed (seed ${d.seed}, path ${
      d.counterexamplePath ?? "none"
    })`,
    `Replay: ${vars.join(" ")} deno test -A ${fileOf(root)} --filter ${filter}`,
    "(or add the seed and path below to the property's parameters)",
    "",
    fc.defaultReportMessage(d) ?? "",
  ];
  throw new Error(lines.join("\n"), { cause: d.errorInstance ?? undefined });
}

function rootOf(t: Deno.TestContext): Deno.TestContext {
  let c = t;
  while (c.parent !== undefined) c = c.parent;
  return c;
}

/** The test file, relative to the working directory when inside it. */
function fileOf(t: Deno.TestContext): string {
  let file = t.origin;
  try {
    file = decodeURIComponent(new URL(t.origin).pathname);
    const cwd = Deno.cwd() + "/";
    if (file.startsWith(cwd)) file = file.slice(cwd.length);
  } catch {
    // Not a file URL, or no read permission: the origin as it is.
  }
  return shellQuote(file);
}

function env(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  } catch {
    return undefined; // No env permission: the defaults.
  }
}

function intFromEnv(name: string): number | undefined {
  const v = env(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new TypeError(`${name} must be an integer, got ${JSON.stringify(v)}`);
  }
  return n;
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
