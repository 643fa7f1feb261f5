/**
 * The lease timing check catches a bug nothing else in the chaos run can:
 * the leader expiring leases after half their TTL
 * (`--plant expireLeasesAtHalfTtl`). The lock model lets a lease expire at
 * any instant and fencing tokens still increase, so registers and locks
 * stay linearizable; only the timing check, which holds the service to the
 * TTL the clients were promised, sees a lock granted while the holder it
 * was taken from could still count on its lease. A lock client abandons
 * its lock now and then (no keepalive, no release): the next grant then
 * comes half a TTL too early. No faults, no root, about 25 s.
 */

import assert from "node:assert/strict";

const cli = new URL("../../cli/chaos.ts", import.meta.url).pathname;

Deno.test({
  name:
    "chaos: the lease timing check catches leases expired at half their TTL",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "raftlock-plant-lease-" });
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        cli,
        "--time",
        "14",
        "--seed",
        "5",
        "--nemesis",
        "none",
        "--plant",
        "expireLeasesAtHalfTtl",
        "--base-port",
        "17800",
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
    assert.equal(s.timing.ok, false, why);
    assert.ok(s.timing.anomalies > 0, why);
    // Nothing else can see it.
    assert.equal(s.registers, "ok", why);
    assert.equal(s.locks, "ok", why);
    assert.deepEqual(s.anomalies, [], why);
    assert.match(text, /ILLEGAL: lease timing broken/);
    assert.match(text, /early-grant: lock\d was granted to token \d+/);
    await Deno.remove(out, { recursive: true });
  },
});
