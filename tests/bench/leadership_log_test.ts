/**
 * The etcd bench quotes what raftlock's nodes logged about leadership when
 * it sees a leader change: only leadership events after the rows started,
 * from every node, merged in time order.
 */

import assert from "node:assert/strict";
import { leadershipLines } from "../../bench/load/clusters.ts";

Deno.test("leadershipLines keeps the leadership events after `since`, merged by time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-leadership-" });
  try {
    const line = (o: Record<string, unknown>) => JSON.stringify(o);
    await Deno.writeTextFile(
      `${dir}/n1.log`,
      [
        line({
          ts: "2026-12-03T10:00:00.000Z",
          node: "n1",
          level: "info",
          id: "n1",
          event: "raft.campaign",
          term: 1,
        }),
        line({
          ts: "2026-12-03T10:05:00.300Z",
          node: "n1",
          level: "info",
          id: "n1",
          event: "raft.campaign",
          term: 2,
        }),
        line({
          ts: "2026-12-03T10:05:00.100Z",
          node: "n1",
          level: "info",
          id: "n1",
          event: "node.snapshot",
          index: 10,
        }),
        "not json",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      `${dir}/n2.log`,
      [
        line({
          ts: "2026-12-03T10:05:00.200Z",
          node: "n2",
          level: "warn",
          id: "n2",
          event: "node.eventLoopStall",
          ms: 412,
        }),
        line({
          ts: "2026-12-03T10:05:00.400Z",
          node: "n2",
          level: "info",
          id: "n2",
          event: "node.leadership",
          leader: "n1",
          role: "follower",
          term: 2,
        }),
      ].join("\n"),
    );
    const lines = await leadershipLines(
      [`${dir}/n1.log`, `${dir}/n2.log`, `${dir}/missing.log`],
      new Date("2026-12-03T10:01:00Z"),
    );
    assert.deepEqual(lines, [
      "2026-12-03T10:05:00.200Z n2 node.eventLoopStall ms=412",
      "2026-12-03T10:05:00.300Z n1 raft.campaign term=2",
      "2026-12-03T10:05:00.400Z n2 node.leadership leader=n1 role=follower term=2",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
