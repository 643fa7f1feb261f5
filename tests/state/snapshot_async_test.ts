import assert from "node:assert/strict";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import { encodeCommand } from "../../src/state/commands.ts";

Deno.test("snapshotAsync captures the state at the call and restores to the same state as snapshot()", async () => {
  const sm = new ServiceStateMachine({ dedupeWindowMs: 5000 });
  let index = 0;
  const apply = (cmd: Parameters<typeof encodeCommand>[0]) =>
    sm.apply(encodeCommand(cmd), { index: ++index, term: 1 });
  for (let i = 0; i < 10_000; i++) {
    apply({
      type: "put",
      key: `k/${i % 7000}`,
      value: `v${i}`,
      requestId: i % 3 === 0 ? { client: `c${i % 11}`, seq: i } : undefined,
    });
    if (i % 1000 === 999) apply({ type: "time", now: i });
  }
  const lease = apply({ type: "leaseGrant", ttl: 30 }) as { id: number };
  apply({ type: "lockAcquire", name: "job", lease: lease.id, owner: "me" });
  apply({ type: "delete", key: "k/1" });
  const expected = sm.snapshot();
  const pending = sm.snapshotAsync(1000);
  // Writes after the call must not leak into the snapshot, nor results
  // forgotten after it go missing from it.
  for (let i = 0; i < 100; i++) {
    apply({
      type: "put",
      key: `late/${i}`,
      value: "x",
      requestId: { client: "late", seq: i },
    });
  }
  apply({ type: "time", now: 7000 });
  const bytes = await pending;
  const restored = new ServiceStateMachine();
  restored.restore(bytes);
  assert.deepEqual(restored.snapshot(), expected);
  assert.equal(restored.dedupeStats().entries, 1667); // i ≥ 5 000, every third
  assert.equal(restored.get("late/0"), null);
  assert.equal(restored.range({ prefix: "k/" }).kvs.length, 6999);
});
