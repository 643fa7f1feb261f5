/**
 * The event loop's delay, sampled by the node's tick, reaches listeners and
 * `/metrics` as `raftlock_event_loop_delay_seconds`; leader changes count
 * elections, not role changes.
 */

import assert from "node:assert/strict";
import { withNode } from "../api/single_node.ts";
import { eventually } from "./helpers.ts";

// The sample count and the count of samples of at least `le` seconds.
function histogram(text: string, name: string) {
  const count = Number(
    text.match(new RegExp(`^${name}_count (\\S+)$`, "m"))?.[1],
  );
  const bucket = (le: string) =>
    Number(
      text.match(
        new RegExp(
          `^${name}_bucket\\{le="${le.replace("+", "\\+")}"\\} (\\S+)$`,
          "m",
        ),
      )
        ?.[1],
    );
  return { count, bucket };
}

Deno.test("event loop delay: every tick is a sample, and a blocked loop shows as a late one", async () => {
  await withNode(async (n) => {
    const seen: number[] = [];
    const off = n.node.onEventLoopDelay((s) => seen.push(s));
    await eventually(() => seen.length >= 3, 5000, "ticks");
    // Block the loop for 80 ms: the next tick comes at least 70 ms late
    // (a 10 ms tick), whatever the machine's speed.
    const t0 = performance.now();
    while (performance.now() - t0 < 80) { /* busy */ }
    const before = seen.length;
    await eventually(() => seen.length > before, 5000, "a tick after");
    assert.ok(seen[before] >= 0.07, `late by ${seen[before]} s`);
    off();

    const text = await (await n.app.request("/metrics")).text();
    assert.match(text, /^# TYPE raftlock_event_loop_delay_seconds histogram$/m);
    const h = histogram(text, "raftlock_event_loop_delay_seconds");
    assert.ok(h.count >= seen.length, `count ${h.count}`);
    // The late tick is above the 50 ms bucket.
    assert.ok(h.bucket("0.05") < h.count);
    assert.equal(h.bucket("+Inf"), h.count);
    for (const le of ["0.001", "0.005", "0.02", "0.15", "1"]) {
      assert.ok(Number.isFinite(h.bucket(le)), `bucket ${le}`);
    }
  });
});

Deno.test("leader changes: one for the first election, none for later role churn", async () => {
  await withNode(async (n) => {
    const text = await (await n.app.request("/metrics")).text();
    assert.match(text, /^raftlock_leader_changes_total 1$/m);
  });
});
