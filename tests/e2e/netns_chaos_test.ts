/**
 * The CI version of `deno task chaos --net netns`: every node and every
 * client process in a network namespace of its own, about 50 s under
 * every nemesis at once — network faults (partitions of nodes and
 * clients, a lock holder cut off, loss, delay, duplication, reordering,
 * bandwidth limits) beside kill -9, pauses, a slow disk and torn WAL
 * tails. The histories must be linearizable, lease timing must hold by
 * the clients' clocks, the watches complete, and the namespaces must be
 * gone afterwards. Needs root and working namespaces: without them it is
 * skipped, and says why.
 */

import assert from "node:assert/strict";
import { netnsSupport, sh } from "../../src/chaos/netns.ts";
import { E2E } from "./harness.ts";

const support = await netnsSupport();
if (!support.ok) {
  console.log(`SKIP tests/e2e/netns_chaos_test.ts: ${support.reason}`);
}

const cli = new URL("../../cli/chaos.ts", import.meta.url).pathname;

Deno.test({
  name:
    "e2e: a 50 s chaos run in network namespaces (clients too) under every nemesis stays correct",
  ignore: !support.ok,
  ...E2E,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "raftlock-netns-chaos-" });
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        cli,
        "--net",
        "netns",
        "--time",
        "50",
        "--seed",
        "25",
        "--base-port",
        "7000",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) +
      new TextDecoder().decode(r.stderr);
    const why = `${text.slice(-4000)}\n(history and logs kept in ${out})`;
    assert.equal(r.code, 0, why);
    const s = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
    assert.equal(s.net, "netns");
    assert.equal(s.result, "ok", why);
    assert.equal(s.registers, "ok", why);
    assert.equal(s.locks, "ok", why);
    assert.equal(s.timing.ok, true, why);
    assert.equal(s.watch.ok, true, why);
    assert.deepEqual(s.anomalies, [], why);
    assert.ok(s.timing.grants > 5, `only ${s.timing.grants} lock grants`);
    assert.ok(s.operations.ok > 300, `only ${s.operations.ok} ok operations`);
    const faults = s.faults as Record<string, number>;
    const total = Object.values(faults).reduce((a, b) => a + b, 0);
    assert.ok(total >= 8, `only ${total} faults: ${JSON.stringify(faults)}`);
    const net = [
      "partition",
      "client-partition",
      "loss",
      "delay",
      "duplicate",
      "reorder",
      "bandwidth",
    ]
      .filter((k) => faults[k]);
    assert.ok(net.length >= 3, `network faults: ${JSON.stringify(faults)}`);
    // Nothing of the run is left behind.
    const left = await sh(["ip", "netns", "list"]);
    assert.equal(left.includes(`${s.namespaces}-`), false, left);
    await Deno.remove(out, { recursive: true });
  },
});
