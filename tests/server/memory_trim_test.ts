/** The idle trim of the C heap: when it trims, and that it runs here. */
import assert from "node:assert/strict";
import {
  IdleTrimPolicy,
  loadMallocTrim,
  startMemoryTrim,
} from "../../src/server/memory_trim.ts";

Deno.test("a node trims at the first quiet intervals after each busy spell", () => {
  const policy = new IdleTrimPolicy(5_000, 2); // quiet below 500 ms of CPU
  // Start-up counts as busy: the first two quiet intervals trim.
  assert.deepEqual([10, 10, 10].map((c) => policy.tick(c)), [
    true,
    true,
    false,
  ]);
  // A burst: nothing while it lasts, two trims once it ends, none after.
  assert.deepEqual(
    [4_000, 4_900, 600, 100, 20, 20, 20].map((c) => policy.tick(c)),
    [false, false, false, true, true, false, false],
  );
  // A busy interval between quiet ones starts the count again.
  assert.deepEqual([5, 3_000, 5, 5, 5].map((c) => policy.tick(c)), [
    false,
    false,
    true,
    true,
    false,
  ]);
  // The boundary: 500 ms of CPU in 5 s is busy, 499 ms quiet.
  assert.deepEqual([500, 499].map((c) => policy.tick(c)), [false, true]);
});

Deno.test("glibc's malloc_trim loads once and runs on Linux", () => {
  const trim = loadMallocTrim();
  if (Deno.build.os !== "linux") {
    assert.equal(trim, "not Linux");
    return;
  }
  assert.equal(typeof trim, "function", String(trim));
  (trim as () => void)();
  // One library handle per process, however many servers start.
  assert.equal(loadMallocTrim(), trim);
});

Deno.test("without a trim the node says why once and runs no timer", () => {
  const events: [string, Record<string, unknown>][] = [];
  const stop = startMemoryTrim({
    log: (e, f) => events.push([e, f]),
    trim: "no glibc",
  });
  stop();
  assert.deepEqual(events, [["memory.trimOff", {
    level: "debug",
    reason: "no glibc",
  }]]);
});
