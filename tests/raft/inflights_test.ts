/**
 * Unit tests of the Inflights ring buffer: the window of AppendEntries in
 * flight to one follower, bounded by count and by bytes (after
 * etcd-io/raft's tracker/inflights_test.go).
 */

import assert from "node:assert/strict";
import { Inflights } from "../../src/raft/inflights.ts";

Deno.test("the window is full at its count limit and refuses more", () => {
  const ins = new Inflights(10);
  for (let i = 0; i < 9; i++) ins.add(i, 1);
  assert.equal(ins.full(), false);
  ins.add(9, 1);
  assert.equal(ins.count(), 10);
  assert.equal(ins.full(), true);
  assert.throws(() => ins.add(10, 1), /full/);
  assert.equal(ins.count(), 10);
});

Deno.test("freeLE frees every message up to an index", () => {
  const ins = new Inflights(10);
  for (let i = 0; i < 10; i++) ins.add(i, 10);
  ins.freeLE(0);
  assert.equal(ins.count(), 9);
  assert.equal(ins.bytes(), 90);
  ins.freeLE(4);
  assert.equal(ins.count(), 5);
  ins.freeLE(4); // again: nothing more
  assert.equal(ins.count(), 5);
  ins.freeLE(2); // below the oldest: nothing
  assert.equal(ins.count(), 5);
  ins.freeLE(8);
  assert.equal(ins.count(), 1);
  assert.equal(ins.bytes(), 10);

  // Wrap around the ring: 5 more land at the start of the buffer.
  for (let i = 10; i < 15; i++) ins.add(i, 10);
  assert.equal(ins.count(), 6);
  ins.freeLE(12);
  assert.equal(ins.count(), 2);
  assert.equal(ins.bytes(), 20);
  ins.freeLE(14);
  assert.equal(ins.count(), 0);
  assert.equal(ins.bytes(), 0);
  // Beyond everything is fine too.
  ins.add(15, 1);
  ins.freeLE(100);
  assert.equal(ins.count(), 0);
});

Deno.test("the ring keeps order when it fills and wraps repeatedly", () => {
  const ins = new Inflights(5);
  let next = 0;
  let oldest = 0;
  for (let round = 0; round < 20; round++) {
    while (!ins.full()) ins.add(next++, next);
    // Free between one and three of the oldest.
    const k = 1 + (round % 3);
    ins.freeLE(oldest + k - 1);
    oldest += k;
    assert.equal(ins.count(), next - oldest, `round ${round}`);
    // Sizes are index + 1, so the bytes tell exactly which are left.
    let bytes = 0;
    for (let i = oldest; i < next; i++) bytes += i + 1;
    assert.equal(ins.bytes(), bytes, `round ${round}`);
  }
});

Deno.test("the buffer grows while wrapped without losing order", () => {
  // Capacity starts small and doubles; grow while the start is mid-buffer.
  const ins = new Inflights(8);
  for (const i of [1, 2, 3]) ins.add(i, i * 10);
  ins.freeLE(2); // start moves to the third slot
  for (const i of [4, 5, 6]) ins.add(i, i * 10); // wraps in a buffer of 4
  ins.add(7, 70); // the buffer is full: it grows
  assert.equal(ins.count(), 5);
  assert.equal(ins.bytes(), 30 + 40 + 50 + 60 + 70);
  ins.freeLE(5);
  assert.equal(ins.count(), 2);
  assert.equal(ins.bytes(), 60 + 70);
  ins.add(8, 80);
  ins.freeLE(6);
  assert.equal(ins.bytes(), 70 + 80);
  ins.freeLE(8);
  assert.equal(ins.count(), 0);
});

Deno.test("freeFirstOne frees only the oldest message", () => {
  const ins = new Inflights(10);
  for (let i = 0; i < 10; i++) ins.add(i, i);
  ins.freeFirstOne();
  assert.equal(ins.count(), 9);
  assert.equal(ins.bytes(), 45);
  ins.freeLE(0);
  assert.equal(ins.count(), 9, "0 is already gone");
  ins.freeLE(1);
  assert.equal(ins.count(), 8);
  const empty = new Inflights(3);
  empty.freeFirstOne();
  assert.equal(empty.count(), 0);
});

Deno.test("the window is full when its byte limit is reached", () => {
  const ins = new Inflights(10, 100);
  ins.add(1, 40);
  ins.add(2, 40);
  assert.equal(ins.full(), false);
  ins.add(3, 20);
  assert.equal(ins.bytes(), 100);
  assert.equal(ins.full(), true, "at the limit is full");
  ins.freeLE(1);
  assert.equal(ins.full(), false);
  // A single large message may exceed the limit; the window is then full.
  ins.add(4, 500);
  assert.equal(ins.full(), true);
  assert.equal(ins.count(), 3);
  ins.freeLE(4);
  assert.equal(ins.bytes(), 0);
  assert.equal(ins.full(), false);
});

Deno.test("a byte limit of zero means no byte limit", () => {
  const ins = new Inflights(3, 0);
  ins.add(1, 1_000_000_000);
  ins.add(2, 1_000_000_000);
  assert.equal(ins.full(), false);
  ins.add(3, 1);
  assert.equal(ins.full(), true, "the count limit still applies");
});

Deno.test("reset empties the window", () => {
  const ins = new Inflights(4, 100);
  for (let i = 0; i < 4; i++) ins.add(i, 30);
  ins.reset();
  assert.equal(ins.count(), 0);
  assert.equal(ins.bytes(), 0);
  assert.equal(ins.full(), false);
  for (let i = 10; i < 13; i++) ins.add(i, 30);
  ins.freeLE(11);
  assert.equal(ins.count(), 1);
  assert.equal(ins.bytes(), 30);
});
