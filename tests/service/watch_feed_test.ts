/**
 * WatchFeed: catching up from the history a slice at a time (whole
 * revisions), then live through a bounded queue that ends the feed as
 * `lagging` when it overflows; `compacted`; a restore makes a live feed
 * read the history again; progress only when nothing is pending.
 */

import assert from "node:assert/strict";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import type { Command } from "../../src/state/commands.ts";
import type { WatchEvent } from "../../src/state/history.ts";
import { type FeedItem, WatchFeed } from "../../src/service/watch_feed.ts";

class State {
  readonly sm: ServiceStateMachine;
  #index = 0;
  constructor(historySize = 10_000) {
    this.sm = new ServiceStateMachine({ historySize });
  }
  apply(cmd: Command): void {
    this.sm.applyCommand(cmd, { index: ++this.#index, term: 1 });
  }
  put(key: string, value = "v"): number {
    this.apply({ type: "put", key, value });
    return this.sm.revision;
  }
}

function events(item: FeedItem | undefined): WatchEvent[] {
  assert.equal(item?.kind, "events");
  return (item as { events: WatchEvent[] }).events;
}

Deno.test("catching up reads the history a slice at a time, never splitting a revision", () => {
  const s = new State();
  const kb = "x".repeat(1000);
  const revisions: number[] = [];
  for (let i = 0; i < 50; i++) revisions.push(s.put(`a/${i}`, kb));
  // A transaction: three events of one revision.
  s.apply({
    type: "txn",
    compare: [],
    success: [
      { type: "put", key: "a/t1", value: kb },
      { type: "put", key: "a/t2", value: kb },
      { type: "put", key: "a/t3", value: kb },
    ],
    failure: [],
  });
  const txnRev = s.sm.revision;
  for (let i = 0; i < 10; i++) revisions.push(s.put(`a/z${i}`, kb));
  const feed = new WatchFeed(s.sm, { prefix: "a/" }, 0);
  const slices: WatchEvent[][] = [];
  for (let item; (item = feed.take(3500)) !== undefined;) {
    slices.push(events(item));
  }
  for (const slice of slices) {
    // About 3 500 bytes: three events of ~1 064, or a whole transaction more.
    assert.ok(slice.length <= 6, `${slice.length} events in a slice`);
    const last = slice.at(-1)!.revision;
    if (slice.some((e) => e.revision === txnRev)) {
      assert.equal(slice.filter((e) => e.revision === txnRev).length, 3);
    }
    assert.ok(last > 0);
  }
  const all = slices.flat();
  assert.equal(all.length, 63);
  for (let i = 1; i < all.length; i++) {
    assert.ok(all[i].revision >= all[i - 1].revision);
  }
  assert.equal(feed.revision, s.sm.revision);
  // Caught up: live now, nothing pending, progress may be sent.
  assert.equal(feed.progress(), s.sm.revision);
  const rev = s.put("a/new");
  assert.equal(feed.progress(), undefined, "an event is pending");
  assert.deepEqual(events(feed.take(3500)).map((e) => e.revision), [rev]);
  assert.equal(feed.progress(), rev);
  feed.close();
});

Deno.test("a live queue past its bound ends the feed as lagging at the revision it handed out", () => {
  const s = new State();
  let ready = 0;
  let overflows = 0;
  let bytes = 0;
  const feed = new WatchFeed(s.sm, { prefix: "q/" }, 0, {
    queue: { maxEvents: 3, maxBytes: 1 << 20 },
    onReady: () => ready++,
    onOverflow: () => overflows++,
    onQueueBytes: (d) => (bytes += d),
  });
  assert.equal(feed.take(1000), undefined); // caught up
  const r1 = s.put("q/1");
  // Not watched: does not count, but was passed over with nothing pending.
  const other = s.put("other/x");
  assert.deepEqual(events(feed.take(1000)).map((e) => e.revision), [r1]);
  s.put("q/2");
  s.put("q/3");
  s.put("q/4");
  assert.ok(bytes > 0);
  assert.equal(overflows, 0, "three queued is the bound, not past it");
  s.put("q/5");
  assert.equal(overflows, 1);
  assert.equal(bytes, 0, "the queue is dropped");
  assert.ok(feed.ended);
  assert.ok(ready >= 4);
  assert.deepEqual(feed.take(1000), { kind: "lagging", revision: other });
  assert.equal(feed.take(1000), undefined);
});

Deno.test("one event larger than the byte bound is still queued alone", () => {
  const s = new State();
  const feed = new WatchFeed(s.sm, { key: "big" }, 0, {
    queue: { maxEvents: 100, maxBytes: 100 },
  });
  assert.equal(feed.take(1000), undefined);
  const r = s.put("big", "b".repeat(1000));
  assert.ok(!feed.ended);
  assert.deepEqual(events(feed.take(10)).map((e) => e.revision), [r]);
  s.put("big", "b".repeat(1000));
  s.put("big", "b".repeat(1000));
  assert.ok(feed.ended, "two past the bound overflow");
});

Deno.test("a feed behind the history answers compacted, then ends", () => {
  const s = new State(5);
  for (let i = 0; i < 10; i++) s.put(`k/${i}`);
  let ended = 0;
  const feed = new WatchFeed(s.sm, { prefix: "" }, 1, {
    onEnd: () => ended++,
  });
  const item = feed.take(1000);
  assert.equal(item?.kind, "compacted");
  assert.ok((item as { compactRevision: number }).compactRevision > 2);
  assert.equal(feed.take(1000), undefined);
  assert.equal(ended, 1);
  feed.close();
  assert.equal(ended, 1, "onEnd runs once");
});

Deno.test("after a restore a live feed reads the new history from where it was", () => {
  const s = new State();
  const r1 = s.put("k/1");
  const feed = new WatchFeed(s.sm, { prefix: "k/" }, 0);
  assert.deepEqual(events(feed.take(1000)).map((e) => e.revision), [r1]);
  assert.equal(feed.take(1000), undefined);
  // Another machine went further; this one restores its snapshot (no
  // live events for what it skipped).
  const other = new State();
  other.sm.restore(s.sm.snapshot());
  const r2 = other.put("k/2");
  const r3 = other.put("k/3");
  s.sm.restore(other.sm.snapshot());
  feed.resync();
  assert.deepEqual(events(feed.take(1000)).map((e) => e.revision), [r2, r3]);
  feed.close();
});

Deno.test("events of a revision arrive together in the live queue", () => {
  const s = new State();
  const feed = new WatchFeed(s.sm, { prefix: "t/" }, 0);
  assert.equal(feed.take(1000), undefined);
  s.apply({
    type: "txn",
    compare: [],
    success: [
      { type: "put", key: "t/1", value: "a" },
      { type: "put", key: "t/2", value: "b" },
      { type: "delete", key: "t/1" },
    ],
    failure: [],
  });
  // A budget of one byte still takes the whole revision.
  const got = events(feed.take(1));
  assert.deepEqual(got.map((e) => [e.type, e.key]), [
    ["put", "t/1"],
    ["put", "t/2"],
    ["delete", "t/1"],
  ]);
  feed.close();
});
