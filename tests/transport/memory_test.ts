import assert from "node:assert/strict";
import type { Message } from "../../src/raft/types.ts";
import { mulberry32 } from "../../src/raft/rand.ts";
import {
  FaultyNetwork,
  MemoryHub,
  type NetworkFaults,
} from "../../src/transport/memory.ts";

/** A message whose `term` carries a unique id, so tests can tell them apart. */
function msg(from: string, to: string, id: number): Message {
  return { type: "app", from, to, term: id };
}

function net(seed: number, faults?: Partial<NetworkFaults>): FaultyNetwork {
  return new FaultyNetwork({ random: mulberry32(seed), faults });
}

function ids(ms: Message[]): number[] {
  return ms.map((m) => m.term);
}

/** Checks the bookkeeping identity of the stats. */
function assertBalanced(n: FaultyNetwork): void {
  const s = n.stats();
  assert.equal(
    s.sent + s.duplicated,
    s.delivered + s.dropped + s.partitioned + n.inFlight(),
  );
}

/** Sends `count` messages a->b at times 0..count-1 and drains everything. */
function runSequence(
  n: FaultyNetwork,
  count: number,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    n.send(msg("a", "b", i), i);
    for (const m of n.deliverDue(i)) out.push([i, m.term]);
  }
  for (let t = n.nextDueTime(); t !== undefined; t = n.nextDueTime()) {
    for (const m of n.deliverDue(t)) out.push([t, m.term]);
  }
  return out;
}

Deno.test("defaults: no faults, zero delay, same object delivered", () => {
  const n = net(1);
  assert.deepEqual(n.faults(), {
    dropRate: 0,
    duplicateRate: 0,
    reorderRate: 0,
    minDelay: 0,
    maxDelay: 0,
  });
  const m = msg("a", "b", 7);
  n.send(m, 100);
  assert.equal(n.inFlight(), 1);
  assert.equal(n.nextDueTime(), 100);
  assert.deepEqual(n.deliverDue(99), []);
  const got = n.deliverDue(100);
  assert.equal(got.length, 1);
  assert.equal(got[0], m);
  assert.equal(n.inFlight(), 0);
  assert.equal(n.nextDueTime(), undefined);
  assert.deepEqual(n.stats(), {
    sent: 1,
    delivered: 1,
    dropped: 0,
    duplicated: 0,
    partitioned: 0,
  });
});

Deno.test("delivery is ordered by due time, then by send order", () => {
  const n = net(1, { minDelay: 10, maxDelay: 10 });
  n.send(msg("a", "b", 1), 5); // due 15
  n.send(msg("a", "b", 2), 0); // due 10
  n.send(msg("c", "b", 3), 5); // due 15, sent after 1
  n.send(msg("a", "c", 4), 20); // due 30
  assert.equal(n.nextDueTime(), 10);
  assert.deepEqual(ids(n.deliverDue(9)), []);
  assert.deepEqual(ids(n.deliverDue(15)), [2, 1, 3]);
  assert.equal(n.nextDueTime(), 30);
  assert.deepEqual(ids(n.deliverDue(29.9)), []);
  assert.deepEqual(ids(n.deliverDue(1000)), [4]);
});

Deno.test("jitter stays within [minDelay, maxDelay]", () => {
  const n = net(3, { minDelay: 5, maxDelay: 20 });
  const delays = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    n.send(msg("a", "b", i), 1000);
    const at = n.nextDueTime()!;
    delays.add(at - 1000);
    assert.equal(n.deliverDue(at).length, 1);
  }
  for (const d of delays) assert.ok(d >= 5 && d <= 20, `delay ${d}`);
  const min = Math.min(...delays);
  const max = Math.max(...delays);
  assert.ok(min < 6 && max > 19, `spread ${min}..${max}`);
  assert.ok(delays.size > 1000);
});

Deno.test("dropRate 0.3 drops about 30% of 10000 messages", () => {
  const n = net(42, { dropRate: 0.3 });
  for (let i = 0; i < 10000; i++) n.send(msg("a", "b", i), 0);
  const s = n.stats();
  assert.ok(s.dropped >= 2700 && s.dropped <= 3300, `dropped ${s.dropped}`);
  assert.equal(n.inFlight(), 10000 - s.dropped);
  assert.equal(n.deliverDue(0).length, 10000 - s.dropped);
  assertBalanced(n);
});

Deno.test("duplicateRate delivers some messages twice", () => {
  const n = net(7, { duplicateRate: 0.2, minDelay: 1, maxDelay: 50 });
  for (let i = 0; i < 5000; i++) n.send(msg("a", "b", i), 0);
  const got = n.deliverDue(Infinity);
  const s = n.stats();
  assert.ok(
    s.duplicated >= 850 && s.duplicated <= 1150,
    `duplicated ${s.duplicated}`,
  );
  assert.equal(got.length, 5000 + s.duplicated);
  const counts = new Map<number, number>();
  for (const m of got) counts.set(m.term, (counts.get(m.term) ?? 0) + 1);
  assert.equal(counts.size, 5000);
  let twice = 0;
  for (const c of counts.values()) {
    assert.ok(c === 1 || c === 2);
    if (c === 2) twice++;
  }
  assert.equal(twice, s.duplicated);
  assertBalanced(n);
});

Deno.test("duplicate copies get their own delay", () => {
  const n = net(11, { duplicateRate: 1, minDelay: 0, maxDelay: 100 });
  let differing = 0;
  for (let i = 0; i < 100; i++) {
    n.send(msg("a", "b", i), 0);
    const first = n.nextDueTime()!;
    const one = n.deliverDue(first);
    const second = n.nextDueTime()!;
    const two = n.deliverDue(Infinity);
    assert.equal(one.length + two.length, 2);
    if (second !== first) differing++;
  }
  assert.ok(differing > 90, `differing ${differing}`);
});

Deno.test("no reordering with reorderRate 0 and a fixed delay", () => {
  const n = net(5, { minDelay: 10, maxDelay: 10, dropRate: 0.1 });
  const order = runSequence(n, 2000).map(([, id]) => id);
  assert.ok(order.length > 1500);
  for (let i = 1; i < order.length; i++) assert.ok(order[i - 1] < order[i]);
});

Deno.test("reorderRate > 0 reorders some messages", () => {
  const n = net(5, { minDelay: 10, maxDelay: 10, reorderRate: 0.2 });
  const order = runSequence(n, 2000).map(([, id]) => id);
  assert.equal(order.length, 2000);
  let inversions = 0;
  for (let i = 1; i < order.length; i++) {
    if (order[i - 1] > order[i]) inversions++;
  }
  assert.ok(inversions > 50, `inversions ${inversions}`);
  assert.deepEqual([...order].sort((x, y) => x - y), [...Array(2000).keys()]);
});

Deno.test("symmetric partition blocks both ways; heal restores", () => {
  const n = net(1);
  n.partition([["a", "b"], ["c"]]);
  assert.ok(n.canDeliver("a", "b") && n.canDeliver("b", "a"));
  assert.ok(!n.canDeliver("a", "c") && !n.canDeliver("c", "a"));
  assert.ok(!n.canDeliver("b", "c") && !n.canDeliver("c", "b"));
  // A node listed in no group is cut off from everyone.
  assert.ok(!n.canDeliver("d", "a") && !n.canDeliver("a", "d"));
  n.send(msg("a", "c", 1), 0);
  n.send(msg("c", "a", 2), 0);
  n.send(msg("a", "b", 3), 0);
  n.send(msg("d", "a", 4), 0);
  assert.deepEqual(ids(n.deliverDue(0)), [3]);
  assert.equal(n.stats().partitioned, 3);

  n.heal();
  assert.ok(n.canDeliver("a", "c") && n.canDeliver("c", "a"));
  assert.ok(n.canDeliver("d", "a"));
  n.send(msg("a", "c", 5), 1);
  n.send(msg("c", "a", 6), 1);
  assert.deepEqual(ids(n.deliverDue(1)), [5, 6]);
  assertBalanced(n);
});

Deno.test("a new partition replaces the old one", () => {
  const n = net(1);
  n.partition([["a"], ["b", "c"]]);
  assert.ok(!n.canDeliver("a", "b"));
  n.partition([["a", "b"], ["c"]]);
  assert.ok(n.canDeliver("a", "b"));
  assert.ok(!n.canDeliver("b", "c"));
});

Deno.test("one-way cut blocks only one direction", () => {
  const n = net(1);
  n.cut("a", "b");
  assert.ok(!n.canDeliver("a", "b"));
  assert.ok(n.canDeliver("b", "a"));
  assert.ok(n.canDeliver("a", "c"));
  n.send(msg("a", "b", 1), 0);
  n.send(msg("b", "a", 2), 0);
  n.send(msg("a", "c", 3), 0);
  assert.deepEqual(ids(n.deliverDue(0)), [2, 3]);
  n.heal();
  n.send(msg("a", "b", 4), 0);
  assert.deepEqual(ids(n.deliverDue(0)), [4]);
});

Deno.test("isolate cuts a node off in both directions", () => {
  const n = net(1);
  n.isolate("b");
  for (const other of ["a", "c", "later"]) {
    assert.ok(!n.canDeliver("b", other));
    assert.ok(!n.canDeliver(other, "b"));
  }
  assert.ok(n.canDeliver("a", "c"));
  n.heal();
  assert.ok(n.canDeliver("a", "b") && n.canDeliver("b", "a"));
});

Deno.test("a partition made after send blocks at delivery", () => {
  const n = net(1, { minDelay: 10, maxDelay: 10 });
  n.send(msg("a", "b", 1), 0);
  n.send(msg("b", "a", 2), 0);
  n.send(msg("a", "c", 3), 0);
  n.cut("b", "a");
  n.partition([["a", "b"], ["c"]]);
  assert.equal(n.inFlight(), 3);
  assert.deepEqual(ids(n.deliverDue(10)), [1]);
  assert.equal(n.inFlight(), 0);
  assert.equal(n.stats().partitioned, 2);
  assertBalanced(n);
});

Deno.test("dropTo discards in-flight messages to and from a node", () => {
  const n = net(1, { minDelay: 0, maxDelay: 100 });
  for (let i = 0; i < 300; i++) {
    const from = ["a", "b", "c"][i % 3];
    const to = ["b", "c", "a"][Math.floor(i / 3) % 3];
    n.send(msg(from, to, i), 0);
  }
  const before = n.inFlight();
  n.dropTo("c");
  assert.ok(n.inFlight() < before);
  assert.equal(n.stats().dropped, before - n.inFlight());
  // The heap stays valid after the rebuild: still ordered, none for c.
  let last = -Infinity;
  const got: Message[] = [];
  for (let t = n.nextDueTime(); t !== undefined; t = n.nextDueTime()) {
    assert.ok(t >= last);
    last = t;
    got.push(...n.deliverDue(t));
  }
  assert.ok(got.length > 0);
  for (const m of got) assert.ok(m.from !== "c" && m.to !== "c");
  // New messages to the node flow again.
  n.send(msg("a", "c", 999), 1000);
  assert.deepEqual(ids(n.deliverDue(Infinity)), [999]);
  assertBalanced(n);
});

Deno.test("same seed gives the same delivery sequence; different seed differs", () => {
  const faults: Partial<NetworkFaults> = {
    dropRate: 0.1,
    duplicateRate: 0.1,
    reorderRate: 0.2,
    minDelay: 1,
    maxDelay: 30,
  };
  const a = runSequence(net(1234, faults), 3000);
  const b = runSequence(net(1234, faults), 3000);
  const c = runSequence(net(4321, faults), 3000);
  assert.ok(a.length > 2500);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("setFaults merges and validates", () => {
  const n = net(1, { dropRate: 0.5 });
  n.setFaults({ maxDelay: 10 });
  n.setFaults({ minDelay: 3 });
  assert.deepEqual(n.faults(), {
    dropRate: 0.5,
    duplicateRate: 0,
    reorderRate: 0,
    minDelay: 3,
    maxDelay: 10,
  });
  assert.throws(() => n.setFaults({ dropRate: 1.5 }), RangeError);
  assert.throws(() => n.setFaults({ minDelay: 20 }), RangeError);
  assert.throws(() => n.setFaults({ maxDelay: -1 }), RangeError);
  assert.equal(n.faults().minDelay, 3);
  assert.throws(() => net(1, { reorderRate: -0.1 }), RangeError);
  // Faults survive heal.
  n.heal();
  assert.equal(n.faults().dropRate, 0.5);
});

Deno.test("heap handles many interleaved sends and deliveries in order", () => {
  const n = net(99, { minDelay: 0, maxDelay: 1000, duplicateRate: 0.05 });
  const rnd = mulberry32(5);
  let last = -Infinity;
  let delivered = 0;
  for (let now = 0; now < 20000; now++) {
    const k = Math.floor(rnd() * 20);
    for (let j = 0; j < k; j++) n.send(msg("a", "b", now), now);
    const t = n.nextDueTime();
    if (t !== undefined && t <= now) {
      assert.ok(t >= last);
      last = t;
    }
    delivered += n.deliverDue(now).length;
  }
  delivered += n.deliverDue(Infinity).length;
  assert.equal(delivered, n.stats().delivered);
  assert.equal(n.inFlight(), 0);
  assertBalanced(n);
});

function nextMessage(t: { onMessage(h: (m: Message) => void): void }) {
  return new Promise<Message>((resolve) => t.onMessage(resolve));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("MemoryTransport delivers between connected nodes in real time", async () => {
  const hub = new MemoryHub({
    seed: 1,
    faults: { minDelay: 30, maxDelay: 30 },
  });
  try {
    const a = hub.connect("a");
    const b = hub.connect("b");
    assert.deepEqual(a.peers(), ["b"]);
    const got = nextMessage(b);
    const m = msg("a", "b", 1);
    const start = performance.now();
    a.send(m);
    const received = await got;
    const elapsed = performance.now() - start;
    assert.equal(received, m);
    assert.ok(elapsed >= 25, `elapsed ${elapsed}`);

    // Replies flow back, and a handler may send from inside delivery.
    hub.network.setFaults({ minDelay: 0, maxDelay: 0 });
    const pong = nextMessage(a);
    b.onMessage((x) => b.send(msg("b", "a", x.term + 100)));
    a.send(msg("a", "b", 2));
    assert.equal((await pong).term, 102);
  } finally {
    hub.close();
  }
});

Deno.test("MemoryTransport delivery is asynchronous and keeps send order", async () => {
  const hub = new MemoryHub();
  try {
    const a = hub.connect("a");
    const b = hub.connect("b");
    const seen: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => done = r);
    b.onMessage((m) => {
      seen.push(m.term);
      if (seen.length === 5) done();
    });
    for (let i = 0; i < 5; i++) a.send(msg("a", "b", i));
    assert.deepEqual(seen, []);
    await all;
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  } finally {
    hub.close();
  }
});

Deno.test("MemoryTransport honours partitions from hub.network", async () => {
  const hub = new MemoryHub({ seed: 3 });
  try {
    const a = hub.connect("a");
    const b = hub.connect("b");
    const seen: number[] = [];
    b.onMessage((m) => seen.push(m.term));
    hub.network.partition([["a"], ["b"]]);
    a.send(msg("a", "b", 1));
    await sleep(20);
    assert.deepEqual(seen, []);
    hub.network.heal();
    const got = nextMessage(b);
    a.send(msg("a", "b", 2));
    assert.equal((await got).term, 2);
  } finally {
    hub.close();
  }
});

Deno.test("MemoryTransport stops delivering after close; no leaked timers", async () => {
  const hub = new MemoryHub({ faults: { minDelay: 10, maxDelay: 10 } });
  const a = hub.connect("a");
  const b = hub.connect("b");
  const seen: number[] = [];
  b.onMessage((m) => seen.push(m.term));
  a.send(msg("a", "b", 1));
  b.close(); // drops the in-flight message
  assert.equal(hub.network.inFlight(), 0);
  a.send(msg("a", "b", 2)); // to a closed node
  b.send(msg("b", "a", 3)); // from a closed transport: ignored
  await sleep(40);
  assert.deepEqual(seen, []);
  assert.deepEqual(a.peers(), []);
  assert.throws(() => hub.connect("a"));

  // The node may reconnect (a restart) and receive again.
  const b2 = hub.connect("b");
  const got = nextMessage(b2);
  a.send(msg("a", "b", 4));
  assert.equal((await got).term, 4);

  // Messages still in flight when the hub closes leave no timer behind.
  hub.network.setFaults({ maxDelay: 10_000, minDelay: 10_000 });
  a.send(msg("a", "b", 5));
  assert.equal(hub.network.inFlight(), 1);
  hub.close();
  assert.throws(() => hub.connect("c"));
  a.send(msg("a", "b", 6)); // no-op after close
});
