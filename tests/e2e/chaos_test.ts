/**
 * The CI version of `deno task chaos`: real raftd processes under every
 * nemesis (kill -9, SIGSTOP, partitions, slow disk, torn WAL tails) with
 * register, lock and watch clients; the histories must be linearizable and
 * the watches complete. A second run plants a bug (followers answering
 * linearizable reads without ReadIndex) and must be caught. A failing run
 * keeps its history and node logs and names the directory.
 */

import assert from "node:assert/strict";
import { E2E } from "./harness.ts";

const cli = new URL("../../cli/chaos.ts", import.meta.url).pathname;

async function chaos(args: string[]) {
  const out = await Deno.makeTempDir({ prefix: "raftlock-chaos-test-" });
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args, "--out", out],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(r.stdout) +
    new TextDecoder().decode(r.stderr);
  let summary;
  try {
    summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
  } catch {
    summary = undefined;
  }
  return { code: r.code, text, out, summary };
}

Deno.test({
  name:
    "e2e: a 75 s chaos run under every nemesis keeps registers, locks, elections, semaphores, read-write locks and watches correct",
  ...E2E,
  fn: async () => {
    const r = await chaos([
      "--time",
      "75",
      "--seed",
      "11",
      "--base-port",
      "17600",
    ]);
    const why = `${r.text.slice(-3000)}\n(history and logs kept in ${r.out})`;
    assert.equal(r.code, 0, why);
    const s = r.summary;
    assert.equal(s.result, "ok", why);
    assert.equal(s.registers, "ok", why);
    assert.equal(s.locks, "ok", why);
    assert.equal(s.elections, "ok", why);
    assert.equal(s.semaphores, "ok", why);
    assert.equal(s.rwlocks, "ok", why);
    for (const k of ["election", "semaphore", "rwlock"]) {
      assert.ok(s.recipeOperations[k].ok > 50, `${k}: ${why}`);
    }
    assert.equal(s.watch.ok, true, why);
    assert.deepEqual(s.anomalies, [], why);
    assert.ok(s.operations.ok > 3000, `only ${s.operations.ok} ok operations`);
    assert.ok(s.watch.delivered > 1000, `watchers got ${s.watch.delivered}`);
    const faults = Object.values(s.faults as Record<string, number>)
      .reduce((a, b) => a + b, 0);
    assert.ok(faults >= 10, `only ${faults} faults injected`);
    assert.ok(Object.keys(s.faults).length >= 4, JSON.stringify(s.faults));
    assert.ok((await Deno.stat(`${r.out}/history.jsonl`)).size > 0);
    await Deno.remove(r.out, { recursive: true });
  },
});

Deno.test({
  name:
    "e2e: chaos catches a planted bug (followers read without ReadIndex) and keeps the history",
  ...E2E,
  fn: async () => {
    const r = await chaos([
      "--time",
      "10",
      "--seed",
      "12",
      "--nemesis",
      "partition,pause",
      "--plant",
      "followerReadsWithoutReadIndex",
      "--base-port",
      "17700",
    ]);
    assert.equal(r.code, 1, r.text.slice(-3000));
    assert.equal(r.summary.result, "illegal", r.text.slice(-3000));
    assert.equal(r.summary.registers, "illegal");
    assert.match(r.text, /ILLEGAL: the register history is not linearizable/);
    assert.match(r.text, /Failing sub-history/);
    // The history stays for a post-mortem.
    assert.ok((await Deno.stat(`${r.out}/history.jsonl`)).size > 0);
    await Deno.remove(r.out, { recursive: true });
  },
});
