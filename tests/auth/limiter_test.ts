/** The password-check limiter: bounded slots, bounded queue, refusal beyond. */

import assert from "node:assert/strict";
import { AuthError, ConcurrencyLimiter } from "../../src/auth/mod.ts";

function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

Deno.test("at most maxActive run, maxQueued wait, the rest are refused at once", async () => {
  const l = new ConcurrencyLimiter({ maxActive: 2, maxQueued: 1 });
  const gates = [gate(), gate(), gate()];
  const started: number[] = [];
  const runs = gates.map((g, i) =>
    l.run(async () => {
      started.push(i);
      await g.wait;
      return i;
    })
  );
  await Promise.resolve();
  assert.deepEqual([l.active, l.queued], [2, 1]);
  assert.deepEqual(started, [0, 1]);
  await assert.rejects(
    l.run(() => Promise.resolve(9)),
    (e: AuthError) => e instanceof AuthError && e.code === "too_many_requests",
  );
  assert.equal(l.refused, 1);
  // A finished task hands its slot to the waiter.
  gates[0].open();
  assert.equal(await runs[0], 0);
  await Promise.resolve();
  assert.deepEqual(started, [0, 1, 2]);
  assert.deepEqual([l.active, l.queued], [2, 0]);
  gates[1].open();
  gates[2].open();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2]);
  assert.deepEqual([l.active, l.queued], [0, 0]);
});

Deno.test("a failing task frees its slot", async () => {
  const l = new ConcurrencyLimiter({ maxActive: 1, maxQueued: 0 });
  await assert.rejects(l.run(() => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(l.active, 0);
  assert.equal(await l.run(() => Promise.resolve(1)), 1);
});
