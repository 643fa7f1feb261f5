/**
 * The semaphore model catches a broken recipe against real processes:
 * with `--plant semaphoreExtraPermit` every node's state machine grants one
 * permit more than the semaphore has free, and the semaphore clients'
 * fenced writes then show more holders alive at once than the limit
 * allows. Only the semaphore workload runs, with no faults; about 20 s.
 */

import assert from "node:assert/strict";

const cli = new URL("../../cli/chaos.ts", import.meta.url).pathname;

Deno.test({
  name:
    "chaos: the semaphore model catches a semaphore that grants a permit too many",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "raftlock-plant-sem-" });
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        cli,
        "--time",
        "10",
        "--seed",
        "3",
        "--nemesis",
        "none",
        "--workloads",
        "semaphore",
        "--recipe-clients",
        "5",
        "--watchers",
        "0",
        "--plant",
        "semaphoreExtraPermit",
        "--base-port",
        "17860",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) +
      new TextDecoder().decode(r.stderr);
    const why = `${text.slice(-3000)}\n(kept in ${out})`;
    assert.equal(r.code, 1, why);
    const s = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
    assert.equal(s.result, "illegal", why);
    assert.equal(s.semaphores, "illegal", why);
    assert.ok(s.recipeOperations.semaphore.ok > 0, why);
    // The other histories are empty here and fine.
    assert.equal(s.registers, "ok", why);
    assert.equal(s.locks, "ok", why);
    assert.equal(s.elections, "ok", why);
    assert.match(text, /ILLEGAL: the semaphore history is not linearizable/);
    assert.match(text, /semAcquire\(s0, \d of 3\) → \d+/);
    await Deno.remove(out, { recursive: true });
  },
});
