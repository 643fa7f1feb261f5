import assert from "node:assert/strict";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import { encodeCommand } from "../../src/state/commands.ts";

Deno.test("snapshotAsync captures the state at the call and restores to the same state as snapshot()", async () => {
  const sm = new ServiceStateMachine();
  let index = 0;
  const apply = (cmd: Parameters<typeof encodeCommand>[0]) =>
    sm.apply(encodeCommand(cmd), { index: ++index, term: 1 });
  for (let i = 0; i < 10_000; i++) {
    apply({ type: "put", key: `k/${i % 7000}`, value: `v${i}` });
  }
  const lease = apply({ type: "leaseGrant", ttl: 30 }) as { id: number };
  apply({ type: "lockAcquire", name: "job", lease: lease.id, owner: "me" });
  apply({ type: "delete", key: "k/1" });
  const expected = sm.snapshot();
  const pending = sm.snapshotAsync(1000);
  // Writes after the call must not leak into the snapshot.
  for (let i = 0; i < 100; i++) {
    apply({ type: "put", key: `late/${i}`, value: "x" });
  }
  const bytes = await pending;
  const restored = new ServiceStateMachine();
  restored.restore(bytes);
  assert.deepEqual(restored.snapshot(), expected);
  assert.equal(restored.get("late/0"), null);
  assert.equal(restored.range({ prefix: "k/" }).kvs.length, 6999);
});
