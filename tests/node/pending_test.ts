/**
 * PendingProposals: proposals settle once, time out in deadline order
 * whatever their timeout length, and share one timer that stops when
 * nothing is left. The deadlines run on a clock the test moves, so the
 * order asserted does not depend on how fast the machine is.
 */

import assert from "node:assert/strict";
import { TimeoutError } from "../../src/node/errors.ts";
import { PendingProposals } from "../../src/node/pending.ts";

// Settles with what the promise did: "applied@<index>" or the error's class.
function outcome(p: Promise<{ index: number }>): Promise<string> {
  return p.then((a) => `applied@${a.index}`, (e: Error) => e.constructor.name);
}

Deno.test("a proposal settles once, with its applied result or an error", async () => {
  const pending = new PendingProposals();
  const a = outcome(pending.add(1, 60_000));
  const b = outcome(pending.add(2, 60_000));
  assert.equal(pending.size, 2);
  assert.equal(pending.resolve(1, { index: 7, result: "ok" }), true);
  assert.equal(pending.resolve(1, { index: 8, result: "again" }), false);
  assert.equal(pending.reject(2, new RangeError("lost")), true);
  assert.equal(pending.reject(2, new RangeError("again")), false);
  assert.deepEqual([await a, await b], ["applied@7", "RangeError"]);
  assert.equal(pending.size, 0);
  pending.close();
});

Deno.test("timeouts fire in deadline order across timeout lengths, never for a settled proposal", async () => {
  let now = 0;
  const pending = new PendingProposals(() => now);
  const order: string[] = [];
  const track = (name: string, p: Promise<{ index: number }>) =>
    outcome(p).then((o) => order.push(`${name}:${o}`));
  const long = track("long", pending.add(1, 100));
  const short = track("short", pending.add(2, 10));
  const settled = track("settled", pending.add(3, 10));
  pending.resolve(3, { index: 3, result: null });
  await settled;

  now = 20; // past the short deadlines only
  await short;
  assert.equal(pending.get(1)?.timeoutMs, 100, "the long one still waits");
  now = 2_000;
  await long;
  assert.deepEqual(order, [
    "settled:applied@3",
    "short:TimeoutError",
    "long:TimeoutError",
  ]);
  assert.equal(pending.size, 0);
});

Deno.test("a timeout says how long it waited and that a retry is safe", async () => {
  let now = 0;
  const pending = new PendingProposals(() => now);
  const p = pending.add(1, 25);
  now = 30;
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof TimeoutError);
    assert.match(e.message, /not applied within 25 ms/);
    assert.match(e.message, /retry with the same request id/);
    return true;
  });
});

Deno.test("rejectAll settles everything and stops the timer", async () => {
  const pending = new PendingProposals();
  const all = [1, 2, 3].map((seq) => outcome(pending.add(seq, 60_000 + seq)));
  pending.rejectAll(new RangeError("stopped"));
  assert.deepEqual(await Promise.all(all), [
    "RangeError",
    "RangeError",
    "RangeError",
  ]);
  assert.equal(pending.size, 0);
  // Deno's sanitizer fails this test if a timer were still armed.
});

Deno.test("many proposals settled in order leave nothing behind", async () => {
  let now = 0;
  const pending = new PendingProposals(() => now);
  const settled: Promise<string>[] = [];
  for (let seq = 1; seq <= 5_000; seq++) {
    settled.push(outcome(pending.add(seq, 50)));
    if (seq > 64) pending.resolve(seq - 64, { index: seq - 64, result: null });
  }
  now = 100; // the last 64 time out
  const results = await Promise.all(settled);
  assert.equal(results.filter((r) => r === "TimeoutError").length, 64);
  assert.equal(results[0], "applied@1");
  assert.equal(results[4_999], "TimeoutError");
  assert.equal(pending.size, 0);
});
