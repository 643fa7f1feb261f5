/**
 * The pure parts of namespaced chaos: the iptables rules and delayer
 * rules a set of faults becomes, the netfilter queue's netlink messages,
 * the delayer's hold times, partition shapes, WAN sites and the run's
 * figures (latency, failover).
 */

import assert from "node:assert/strict";
import {
  bandwidthCommand,
  chainSetup,
  delayRules,
  faultRules,
} from "../../src/chaos/netem.ts";
import { holdFor } from "../../src/chaos/netem_daemon.ts";
import {
  configMessages,
  parseMessages,
  verdictMessage,
} from "../../src/chaos/nfqueue.ts";
import { cutsBetween, nodeGroups } from "../../src/chaos/net_nemesis.ts";
import { assignSites, wanDelays } from "../../src/chaos/wan.ts";
import { failovers, percentile, writeLatency } from "../../src/chaos/stats.ts";
import type { Operation } from "../../src/check/mod.ts";
import { mulberry32 } from "../../src/raft/rand.ts";

const addr = (m: string) =>
  ({ n1: "10.77.0.11", n2: "10.77.0.12", l0: "10.77.0.100" })[m]!;

Deno.test("netem: cuts, loss and duplication become iptables rules", () => {
  const text = faultRules(
    [
      { from: ["n1"], to: ["n2"], cut: "reject" },
      { from: ["l0"], to: ["n1", "n2"], loss: 0.25 },
      { from: ["n2"], to: ["n1"], duplicate: 0.1, cut: "drop" },
    ],
    [],
    addr,
  );
  assert.equal(
    text,
    [
      "*filter",
      "-F RL-FAULT",
      "-A RL-FAULT -s 10.77.0.11/32 -d 10.77.0.12/32 -p tcp -j REJECT --reject-with tcp-reset",
      "-A RL-FAULT -s 10.77.0.11/32 -d 10.77.0.12/32 -j DROP",
      "-A RL-FAULT -s 10.77.0.100/32 -d 10.77.0.11/32 -m statistic --mode random --probability 0.2500 -j DROP",
      "-A RL-FAULT -s 10.77.0.100/32 -d 10.77.0.12/32 -m statistic --mode random --probability 0.2500 -j DROP",
      "-A RL-FAULT -s 10.77.0.12/32 -d 10.77.0.11/32 -j DROP",
      "COMMIT",
      "*mangle",
      "-F RL-NETEM",
      "-A RL-NETEM -s 10.77.0.12/32 -d 10.77.0.11/32 -m statistic --mode random --probability 0.1000 -j TEE --gateway 10.77.0.11",
      "COMMIT",
      "",
    ].join("\n"),
  );
  // No faults: both chains are emptied.
  assert.equal(
    faultRules([], [], addr),
    "*filter\n-F RL-FAULT\nCOMMIT\n*mangle\n-F RL-NETEM\nCOMMIT\n",
  );
  assert.match(chainSetup(), /-A FORWARD -j RL-FAULT/);
  assert.match(chainSetup(), /-A FORWARD -j RL-NETEM/);
});

Deno.test("netem: delays add to the base, queued after duplication", () => {
  const base = [{ from: "n1", to: "n2", delayMs: 20, jitterMs: 2 }];
  const faults = [
    { from: ["n1"], to: ["n2", "l0"], delayMs: 100, jitterMs: 30 },
    { from: ["n1"], to: ["n2"], reorder: 0.3, delayMs: 40 },
    { from: ["n1"], to: ["n2"], duplicate: 0.05 },
  ];
  const rules = delayRules(faults, base, addr);
  assert.deepEqual(rules, [
    {
      src: "10.77.0.11",
      dst: "10.77.0.12",
      delayMs: 120, // base 20 + the larger fault delay
      jitterMs: 30,
      reorder: 0.3,
    },
    {
      src: "10.77.0.11",
      dst: "10.77.0.100",
      delayMs: 100,
      jitterMs: 30,
      reorder: 0,
    },
  ]);
  const text = faultRules(faults, rules, addr).split("\n");
  const tee = text.findIndex((l) => l.includes("TEE"));
  const queue = text.findIndex((l) => l.includes("NFQUEUE"));
  assert.ok(tee > 0 && queue > tee, "the queue is a final verdict: TEE first");
  assert.equal(
    text[queue],
    "-A RL-NETEM -s 10.77.0.11/32 -d 10.77.0.12/32 -j NFQUEUE --queue-num 0 --queue-bypass",
  );
  // Only base delays: still queued.
  assert.equal(delayRules([], base, addr).length, 1);
  assert.deepEqual(
    delayRules([{ from: ["n1"], to: ["n2"], loss: 0.5 }], [], addr),
    [],
  );
});

Deno.test("netem: bandwidth limits are tbf qdiscs", () => {
  assert.deepEqual(bandwidthCommand("eth0", 256), [
    "tc",
    "qdisc",
    "replace",
    "dev",
    "eth0",
    "root",
    "tbf",
    "rate",
    "256kbit",
    "burst",
    "16kb",
    "latency",
    "400ms",
  ]);
  assert.deepEqual(bandwidthCommand("eth0"), [
    "tc",
    "qdisc",
    "del",
    "dev",
    "eth0",
    "root",
  ]);
});

Deno.test("nfqueue: verdict and config messages, and packets parsed", () => {
  const v = verdictMessage(0, 0x01020304, 1);
  const dv = new DataView(v.buffer);
  assert.equal(v.length, 16 + 4 + 12);
  assert.equal(dv.getUint32(0, true), v.length);
  assert.equal(dv.getUint16(4, true), (3 << 8) | 1); // queue subsystem, verdict
  assert.equal(dv.getUint16(20, true), 12); // attribute length
  assert.equal(dv.getUint16(22, true), 2); // NFQA_VERDICT_HDR
  assert.equal(dv.getUint32(24, false), 1); // NF_ACCEPT, big-endian
  assert.equal(dv.getUint32(28, false), 0x01020304);
  const [bind, params] = configMessages(3, 1000);
  assert.equal(new DataView(bind.buffer).getUint16(18, false), 3); // queue number
  assert.equal(new DataView(bind.buffer).getUint16(6, true), 1 | 4); // request, ack
  assert.equal(params.length % 4, 0);

  // A packet message as the kernel sends it: header attr, then payload.
  const payload = new Uint8Array(20);
  payload[0] = 0x45;
  payload.set([10, 77, 0, 11], 12);
  payload.set([10, 77, 0, 12], 16);
  const msg = new Uint8Array(16 + 4 + 12 + 4 + 20);
  const m = new DataView(msg.buffer);
  m.setUint32(0, msg.length, true);
  m.setUint16(4, 3 << 8, true); // NFQNL_MSG_PACKET
  m.setUint16(20, 4 + 7, true); // NFQA_PACKET_HDR: id, hw proto, hook
  m.setUint16(22, 1, true);
  m.setUint32(24, 77, false);
  m.setUint16(32, 4 + 20, true);
  m.setUint16(34, 10, true); // NFQA_PAYLOAD
  msg.set(payload, 36);
  // An ack after it, in the same read.
  const ack = new Uint8Array(16 + 4);
  new DataView(ack.buffer).setUint32(0, 20, true);
  new DataView(ack.buffer).setUint16(4, 2, true); // NLMSG_ERROR
  const both = new Uint8Array(msg.length + ack.length);
  both.set(msg);
  both.set(ack, msg.length);
  assert.deepEqual(parseMessages(both, both.length), {
    packets: [{ id: 77, src: "10.77.0.11", dst: "10.77.0.12" }],
    acks: [0],
  });
});

Deno.test("netem daemon: hold times within delay ± jitter, reorder goes at once", () => {
  const rnd = mulberry32(1);
  const rule = {
    src: "a",
    dst: "b",
    delayMs: 100,
    jitterMs: 20,
    reorder: 0.25,
  };
  let now = 0;
  for (let i = 0; i < 1000; i++) {
    const ms = holdFor(rule, rnd);
    if (ms === 0) now++;
    else assert.ok(ms >= 80 && ms <= 120, String(ms));
  }
  assert.ok(now > 150 && now < 350, `${now} of 1000 went at once`);
  assert.equal(holdFor({ ...rule, reorder: 0, jitterMs: 0 }, rnd), 100);
});

Deno.test("net nemesis: partition shapes cover every node once", () => {
  const rnd = mulberry32(5);
  const ids = ["n1", "n2", "n3", "n4", "n5"];
  const shapes = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const g = nodeGroups(ids, "n2", rnd);
    const flat = g.flat();
    assert.equal(new Set(flat).size, flat.length);
    assert.ok(flat.length >= ids.length - 1); // a bridge leaves one out
    if (g[0].length === 1 && g[0][0] === "n2") shapes.add("leader alone");
    else if (flat.length === ids.length - 1) shapes.add("bridge");
    else shapes.add("minority");
  }
  assert.deepEqual([...shapes].sort(), ["bridge", "leader alone", "minority"]);
  assert.deepEqual(cutsBetween([["n1"], ["n2", "l0"]], "drop"), [
    { from: ["n1"], to: ["n2", "l0"], cut: "drop" },
    { from: ["n2", "l0"], to: ["n1"], cut: "drop" },
  ]);
});

Deno.test("wan: five nodes on three sites, delays between sites only", () => {
  const sites = assignSites(["n1", "n2", "n3", "n4", "n5"], ["l0", "l1", "r0"]);
  assert.deepEqual(Object.fromEntries(sites), {
    n1: "A",
    n2: "A",
    n3: "B",
    n4: "B",
    n5: "C",
    l0: "A",
    l1: "B",
    r0: "C",
  });
  const d = wanDelays(sites);
  const of = (a: string, b: string) =>
    d.find((x) => x.from === a && x.to === b)?.delayMs;
  assert.equal(of("n1", "n2"), undefined);
  assert.equal(of("n1", "n3"), 20);
  assert.equal(of("n3", "n1"), 20);
  assert.equal(of("n1", "n5"), 50);
  assert.equal(of("n4", "n5"), 80);
  assert.equal(of("l1", "n5"), 80);
  assert.ok(d.every((x) => x.jitterMs === x.delayMs / 10));
});

Deno.test("stats: put latency and failover times from a history", () => {
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 99), 4);
  const op = (
    f: string,
    start: number,
    end: number,
    status: Operation["status"] = "ok",
  ): Operation => ({
    id: start,
    client: "c",
    op: { f, key: "k", value: "v" },
    status,
    start,
    end,
  });
  const ops = [
    op("write", 0, 10),
    op("write", 100, 130),
    op("write", 1000, 1400), // during the fault
    op("read", 0, 1),
    op("write", 5000, 5020),
    op("write", 5100, 5200, "info"),
    op("cas", 6100, 6900),
    op("write", 6200, 7500),
  ];
  const l = writeLatency(ops, [{ kind: "kill", start: 1200, end: 1300 }], 500);
  assert.deepEqual(l.all, { n: 5, p50: 30, p99: 1300, max: 1300 });
  assert.deepEqual(l.quiet, { n: 4, p50: 20, p99: 1300, max: 1300 });
  // Killed at 6000: the first acknowledged write invoked after it ends at 6900.
  assert.deepEqual(
    failovers(ops, [{ node: "n1", at: 6000 }, { node: "n2", at: 8000 }]),
    [
      { node: "n1", at: 6000, ms: 900 },
      { node: "n2", at: 8000, ms: null },
    ],
  );
});
