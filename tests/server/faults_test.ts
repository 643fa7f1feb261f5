import assert from "node:assert/strict";
import { KNOBS, parseFaults } from "../../src/server/faults.ts";
import { FaultInjectingFs } from "../../src/storage/fault_fs.ts";

/** Asserts that `spec` is rejected with a message naming `part`. */
function assertRejected(spec: string, part: string, accepted: RegExp): void {
  assert.throws(
    () => parseFaults(spec),
    (e: unknown) => {
      assert.ok(e instanceof Error, `not an Error: ${e}`);
      assert.ok(
        e.message.includes(part),
        `"${e.message}" does not name "${part}"`,
      );
      assert.match(e.message, accepted);
      return true;
    },
    spec,
  );
}

Deno.test("parseFaults: no spec means no faults", () => {
  for (const spec of [undefined, "", " , ,"]) {
    const f = parseFaults(spec);
    assert.equal(f.fs, undefined, String(spec));
    assert.equal(f.knobs, undefined, String(spec));
    assert.equal(f.slowSyncSignals, false, String(spec));
  }
});

Deno.test("parseFaults: slow-sync, sync-record and a knob together", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock_faults_" });
  try {
    const record = `${dir}/n1.synced`;
    const f = parseFaults(
      `slow-sync=200,sync-record=${record},knob=skipReadIndexQuorum`,
    );
    assert.ok(f.fs instanceof FaultInjectingFs);
    assert.equal(f.slowSyncSignals, true);
    assert.deepEqual(f.knobs, { skipReadIndexQuorum: true });
    assert.equal(f.fs.slow, false, "slow syncs start switched off");

    // The parsed file system writes its record where the spec said.
    const path = `${dir}/data`;
    const h = await f.fs.open(path, { write: true, create: true });
    await h.write(new Uint8Array(5));
    await h.syncData();
    h.close();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(record)), {
      [path]: 5,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseFaults: the slow-sync value is the delay of a slow sync", async () => {
  const f = parseFaults("slow-sync=60");
  assert.ok(f.fs);
  assert.equal(f.slowSyncSignals, true);
  assert.equal(f.knobs, undefined);
  const dir = await Deno.makeTempDir({ prefix: "raftlock_faults_" });
  try {
    const h = await f.fs.open(`${dir}/x`, { write: true, create: true });
    f.fs.slow = true;
    const t0 = performance.now();
    await h.syncData();
    const took = performance.now() - t0;
    h.close();
    assert.ok(took >= 55, `a slow sync took only ${took} ms`);
    // No record file was asked for, so none is written.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["x"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseFaults: sync-record alone gives a file system without slow-sync signals", () => {
  const f = parseFaults(" sync-record=/x ");
  assert.ok(f.fs instanceof FaultInjectingFs);
  assert.equal(f.slowSyncSignals, false);
  assert.equal(f.knobs, undefined);
});

Deno.test("parseFaults: knobs alone plant bugs without a fault file system", () => {
  const f = parseFaults(
    "knob=voteTwice,knob=followerReadsWithoutReadIndex,knob=voteTwice",
  );
  assert.equal(f.fs, undefined);
  assert.equal(f.slowSyncSignals, false);
  assert.deepEqual(f.knobs, {
    voteTwice: true,
    followerReadsWithoutReadIndex: true,
  });
  const all = parseFaults(KNOBS.map((k) => `knob=${k}`).join(","));
  assert.deepEqual(
    Object.keys(all.knobs ?? {}).sort(),
    [...KNOBS].sort(),
  );
  for (const v of Object.values(all.knobs ?? {})) assert.equal(v, true);
});

Deno.test("parseFaults: a bad slow-sync value names the part and the range", () => {
  for (const v of ["", "0", "-5", "1.5", "abc", "60001", "Infinity"]) {
    assertRejected(`slow-sync=${v}`, "slow-sync", /1-60000/);
  }
  // A bad value is rejected even next to good parts.
  assertRejected("knob=voteTwice,slow-sync=0", "slow-sync", /1-60000/);
  // The bounds themselves are accepted.
  assert.equal(parseFaults("slow-sync=1").slowSyncSignals, true);
  assert.equal(parseFaults("slow-sync=60000").slowSyncSignals, true);
});

Deno.test("parseFaults: an unknown knob or part names it and lists what is accepted", () => {
  const accepted = new RegExp(
    `slow-sync=MS.*sync-record=PATH.*knob=.*${KNOBS.join(".*")}`,
  );
  for (
    const part of [
      "knob=noSuchKnob",
      "knob=",
      "knob",
      "sync-record=",
      "sync-record",
      "bogus=1",
      "slowsync=200",
      "frobnicate",
    ]
  ) {
    assertRejected(`sync-record=/x,${part}`, `"${part}"`, accepted);
  }
});
