import assert from "node:assert/strict";
import { HandshakeSlots } from "../../src/transport/tcp/handshake_slots.ts";

Deno.test("handshake slots: a host at its cap evicts its own oldest", () => {
  const slots = new HandshakeSlots(10, 2);
  const evicted: string[] = [];
  const a1 = slots.take("a", () => evicted.push("a1"));
  slots.take("b", () => evicted.push("b1"));
  slots.take("a", () => evicted.push("a2"));
  slots.take("a", () => evicted.push("a3"));
  assert.deepEqual(evicted, ["a1"]);
  assert.equal(a1.evicted, true);
  assert.equal(slots.pendingFrom("a"), 2);
  assert.equal(slots.size, 3);
  assert.equal(slots.evictions, 1);
});

Deno.test("handshake slots: when full, the busiest host's oldest makes room", () => {
  const slots = new HandshakeSlots(4, 4);
  const evicted: string[] = [];
  const take = (host: string, name: string) =>
    slots.take(host, () => evicted.push(name));
  take("x", "x1");
  take("x", "x2");
  take("y", "y1");
  const member = take("member", "m1");
  take("new", "n1");
  assert.deepEqual(evicted, ["x1"]);
  // Every host has one now: the one waiting longest goes first.
  take("z", "z1");
  take("w", "w1");
  assert.deepEqual(evicted, ["x1", "x2", "y1"]);
  assert.equal(member.evicted, false);
  assert.equal(slots.size, 4);
});

Deno.test("handshake slots: a released slot is never evicted, release is idempotent", () => {
  const slots = new HandshakeSlots(1, 1);
  let evictions = 0;
  const proven = slots.take("m", () => evictions++);
  proven.release();
  proven.release();
  assert.equal(slots.size, 0);
  const next = slots.take("m", () => evictions++);
  assert.equal(evictions, 0);
  assert.equal(proven.evicted, false);
  slots.take("s", () => {});
  assert.equal(next.evicted, true);
  assert.equal(slots.size, 1);
  assert.throws(() => new HandshakeSlots(0, 1), RangeError);
});
