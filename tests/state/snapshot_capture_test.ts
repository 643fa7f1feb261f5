/**
 * A snapshot is captured when it is asked for, however the state changes
 * while it is encoded a chunk at a time: the key store's capture keeps the
 * old record of every key written meanwhile.
 */

import assert from "node:assert/strict";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import { encodeCommand } from "../../src/state/commands.ts";
import { KvStore } from "../../src/state/kv.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("snapshotAsync: puts, deletes and new keys between its chunks do not show", async () => {
  const sm = new ServiceStateMachine();
  let index = 0;
  const apply = (cmd: Parameters<typeof encodeCommand>[0]) =>
    sm.apply(encodeCommand(cmd), { index: ++index, term: 1 });
  for (let i = 0; i < 5_000; i++) {
    apply({
      type: "put",
      key: `k/${String(i).padStart(5, "0")}`,
      value: `v${i}`,
    });
  }
  const expected = sm.snapshot();
  // Chunks of about 1 000 bytes: dozens of yields to write between.
  const pending = sm.snapshotAsync(1000);
  let done = false;
  pending.finally(() => (done = true));
  let round = 0;
  while (!done) {
    // Early keys (already encoded), late keys (not yet), and new ones.
    apply({
      type: "put",
      key: `k/${String(round).padStart(5, "0")}`,
      value: "new",
    });
    apply({
      type: "put",
      key: `k/${String(4999 - round).padStart(5, "0")}`,
      value: "new",
    });
    apply({
      type: "delete",
      key: `k/${String(2500 + round).padStart(5, "0")}`,
    });
    apply({
      type: "put",
      key: `k/${String(round).padStart(5, "0")}x`,
      value: "added",
    });
    round++;
    await tick();
  }
  assert.ok(round > 5, `only ${round} rounds of writes during the encoding`);
  const restored = new ServiceStateMachine();
  restored.restore(await pending);
  assert.deepEqual(restored.snapshot(), expected);
  assert.equal(restored.get("k/00000")?.value, "v0");
  assert.equal(restored.get("k/00000x"), null);
});

Deno.test("KvStore.capture: the records at the call, in key order, until closed", () => {
  const kv = new KvStore();
  const meta = { createRevision: 1, modRevision: 1, version: 1 };
  for (const k of ["b", "d", "a", "c"]) kv.set({ key: k, value: k, ...meta });
  const c = kv.capture();
  kv.set({ key: "a", value: "A", ...meta });
  kv.set({ key: "a", value: "AA", ...meta }); // the first old record stays
  kv.delete("c");
  kv.set({ key: "e", value: "e", ...meta });
  kv.set({ key: "c", value: "C", ...meta }); // deleted then made again
  const seen = Array.from({ length: c.length }, (_, i) => c.at(i).value);
  assert.deepEqual(seen, ["a", "b", "c", "d"]);
  c.close();
  // Closed: writes are no longer followed.
  kv.set({ key: "b", value: "B", ...meta });
  assert.deepEqual([...kv.entries()].map((r) => r.value), [
    "AA",
    "B",
    "C",
    "d",
    "e",
  ]);
});

Deno.test("KvStore.capture survives clear()", () => {
  const kv = new KvStore();
  const meta = { createRevision: 1, modRevision: 1, version: 1 };
  kv.set({ key: "x", value: "1", ...meta });
  const c = kv.capture();
  kv.clear();
  assert.equal(c.at(0).value, "1");
  c.close();
});
