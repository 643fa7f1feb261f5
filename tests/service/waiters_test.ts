/**
 * Lock waiters: 50 acquires waiting with `ttl: 1` keep their leases alive
 * with no log entry at all on the leader and one batched entry per
 * interval on a follower (before: one entry per waiter every 333 ms, about
 * 150 entries/s); a waiter never outlives its node; and the per-lock and
 * per-node limits answer `too_many_waiters`.
 *
 * Rates are upper bounds over a measured window (a slower machine sends
 * fewer batches, never more), and the waiters' survival past their TTL
 * shows the keepalives worked.
 */

import assert from "node:assert/strict";
import { ServiceError } from "../../src/service/mod.ts";
import { eventually, type Member, ServiceCluster } from "./cluster.ts";

const WAITERS = 50;
const WINDOW_MS = 2500;

// Holds lock `name` on `m`, then queues WAITERS acquires with ttl 1 there.
async function queueWaiters(m: Member, name: string) {
  await m.service.acquire(name, { ttl: 30, wait: 0 });
  const stop = new AbortController();
  const waits = Array.from(
    { length: WAITERS },
    () =>
      m.service.acquire(name, { ttl: 1, wait: 60_000, signal: stop.signal })
        .then(() => "granted", (e) => (e as Error).message),
  );
  await eventually(
    () => m.state.lock(name).waiters.length === WAITERS,
    10_000,
    "the waiters to queue",
  );
  // Queued everywhere and held here.
  await eventually(() => m.service.waiting === WAITERS, 10_000, "waits");
  return { stop, waits };
}

// Keepalive entries applied on the leader during WINDOW_MS, per second.
async function keepaliveRate(leader: Member): Promise<number> {
  const before = leader.keepaliveEntries;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const seconds = (performance.now() - t0) / 1000;
  return (leader.keepaliveEntries - before) / seconds;
}

Deno.test("50 waiters on the leader with ttl 1: no keepalive entries, and they live on", async () => {
  const c = await ServiceCluster.start(3);
  try {
    const leader = await c.leader();
    const { stop, waits } = await queueWaiters(leader, "L");
    const rate = await keepaliveRate(leader);
    console.log(
      `waiters on the leader: ${rate.toFixed(2)} keepalive entries/s`,
    );
    assert.equal(rate, 0);
    // 2.5 s past a 1 s TTL: the held leases did not expire.
    assert.equal(leader.state.lock("L").waiters.length, WAITERS);
    stop.abort();
    assert.ok((await Promise.all(waits)).every((r) => /not granted/.test(r)));
    // Each wait that ended cancelled its waiter.
    await eventually(() => leader.state.lock("L").waiters.length === 0);
    assert.equal(leader.service.waiting, 0);
  } finally {
    await c.close();
  }
});

Deno.test("50 waiters on a follower with ttl 1: one batched keepalive per interval", async () => {
  const c = await ServiceCluster.start(3);
  try {
    const leader = await c.leader();
    const f = await c.follower();
    const { stop, waits } = await queueWaiters(f, "L");
    const rate = await keepaliveRate(leader);
    console.log(
      `waiters on a follower: ${rate.toFixed(2)} keepalive entries/s`,
    );
    // One batch every ttl/3 = 333 ms covers all 50: at most 3 a second
    // (plus one for a batch that straddles the window's edge).
    assert.ok(rate <= 3 + 1000 / WINDOW_MS, `${rate} entries/s`);
    assert.ok(rate > 0);
    assert.equal(leader.state.lock("L").waiters.length, WAITERS);
    stop.abort();
    await Promise.all(waits);
    await eventually(() => leader.state.lock("L").waiters.length === 0);
  } finally {
    await c.close();
  }
});

Deno.test("a waiter does not outlive its node: the leader's waiters go when it stops", async () => {
  const c = await ServiceCluster.start(3);
  try {
    const old = await c.leader();
    const { waits } = await queueWaiters(old, "L");
    await c.stop(old); // its held leases die with it
    await Promise.all(waits);
    const leader = await c.leader();
    assert.notEqual(leader.id, old.id);
    // TTL plus an election timeout from the new leader's election; the
    // holder's 30 s lease keeps the lock itself.
    await eventually(
      () => leader.state.lock("L").waiters.length === 0,
      10_000,
      "the dead node's waiters to expire",
    );
    assert.ok(leader.state.lock("L").holder);
  } finally {
    await c.close();
  }
});

Deno.test("a waiter does not outlive its node: a follower's waiters go when it stops", async () => {
  const c = await ServiceCluster.start(3);
  try {
    const leader = await c.leader();
    const f = await c.follower();
    const { waits } = await queueWaiters(f, "L");
    await c.stop(f);
    await Promise.all(waits);
    await eventually(
      () => leader.state.lock("L").waiters.length === 0,
      10_000,
      "the dead node's waiters to expire",
    );
  } finally {
    await c.close();
  }
});

Deno.test("too_many_waiters: per lock, then per node", async () => {
  const c = await ServiceCluster.start(1, {
    maxLockWaitersPerLock: 2,
    maxLockWaiters: 3,
  });
  try {
    const m = await c.leader();
    const stop = new AbortController();
    const wait = (name: string) =>
      m.service.acquire(name, { ttl: 5, wait: 60_000, signal: stop.signal })
        .catch(() => undefined);
    await m.service.acquire("A", { ttl: 5, wait: 0 });
    await m.service.acquire("B", { ttl: 5, wait: 0 });
    const waits = [wait("A"), wait("A")];
    await eventually(() => m.state.lock("A").waiters.length === 2);
    await assert.rejects(
      m.service.acquire("A", { ttl: 5, wait: 1000 }),
      (e) =>
        e instanceof ServiceError && e.code === "too_many_waiters" &&
        /Lock 'A' has 2 waiters queued/.test(e.message),
    );
    // A try-lock is not a waiter.
    await assert.rejects(
      m.service.acquire("A", { ttl: 5, wait: 0 }),
      (e) => e instanceof ServiceError && e.code === "lock_held",
    );
    waits.push(wait("B"));
    await eventually(() => m.service.waiting === 3);
    await assert.rejects(
      m.service.acquire("B", { ttl: 5, wait: 1000 }),
      (e) =>
        e instanceof ServiceError && e.code === "too_many_waiters" &&
        /has 3 acquires waiting/.test(e.message),
    );
    assert.equal(m.service.counters.waitersRefused, 2);
    stop.abort();
    await Promise.all(waits);
  } finally {
    await c.close();
  }
});
