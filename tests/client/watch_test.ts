import assert from "node:assert/strict";
import {
  Client,
  RaftlockError,
  type WatchEvent,
} from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";
import { delay, ProxiedCluster } from "./helpers.ts";

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("Condition not met in time");
    await delay(10);
  }
}

Deno.test("watch: every event exactly once, in order, across a node failure", async () => {
  const pc = await ProxiedCluster.start(3);
  // The watcher reaches nodes only through the proxies, so cutting a
  // proxy's connections is what a crash of that node looks like to it.
  const watcher = new Client({ endpoints: pc.urls(), discover: false });
  const writer = new Client({ endpoints: pc.cluster.urls() });
  const received: WatchEvent[] = [];
  const w = watcher.watch({ prefix: "w/" });
  const done = (async () => {
    for await (const e of w) received.push(e);
  })();
  try {
    // Wait until the watch is connected.
    await until(() => w.endpoint !== undefined);
    await delay(100);
    const connectedTo = pc.idOf(w.endpoint);
    const revisions: number[] = [];
    let killing: Promise<void> | undefined;
    for (let i = 0; i < 100; i++) {
      if (i === 50) killing = pc.kill(connectedTo);
      const { revision } = await writer.put(`w/${i}`, `v${i}`);
      revisions.push(revision);
    }
    await killing;
    await until(() => received.length >= 100);
    await delay(200); // nothing more may arrive
    assert.notEqual(pc.idOf(w.endpoint), connectedTo);
    const got = received.map((e) => e.revision);
    assert.deepEqual(got, revisions);
    for (let i = 1; i < got.length; i++) assert.ok(got[i] > got[i - 1]);
    assert.deepEqual(
      received.map((e) => e.key),
      revisions.map((_, i) => `w/${i}`),
    );
    assert.ok(received.every((e) => e.type === "put"));
  } finally {
    w.close();
    await done;
    watcher.close();
    writer.close();
    await pc.close();
  }
});

Deno.test("watch: keys, history, deletes, transactions and compaction", async (t) => {
  const c = await TestCluster.start(3);
  const client = new Client({ endpoints: c.urls() });
  try {
    await t.step("replays from a revision and follows one key", async () => {
      const a = await client.put("h/a", "1");
      await client.put("h/b", "1");
      await client.put("h/a", "2");
      await client.delete("h/a");
      const ctl = new AbortController();
      const seen: WatchEvent[] = [];
      for await (
        const e of client.watch({ key: "h/a" }, {
          fromRevision: a.revision,
          signal: ctl.signal,
        })
      ) {
        seen.push(e);
        if (seen.length === 3) ctl.abort();
      }
      assert.deepEqual(seen.map((e) => [e.type, e.value]), [
        ["put", "1"],
        ["put", "2"],
        ["delete", undefined],
      ]);
      assert.equal(seen[0].revision, a.revision);
    });

    await t.step(
      "from now on by default; a txn's events share a revision",
      async () => {
        await client.put("x/before", "1");
        const w = client.watch({ prefix: "x/" });
        const seen: WatchEvent[] = [];
        const done = (async () => {
          for await (const e of w) {
            seen.push(e);
            if (seen.length === 3) break;
          }
        })();
        await until(() => w.endpoint !== undefined);
        const r = await client.txn({
          success: [
            { put: { key: "x/1", value: "a" } },
            { put: { key: "x/2", value: "b" } },
            { delete: { key: "x/before" } },
          ],
        });
        await done;
        assert.deepEqual(seen.map((e) => e.revision), [
          r.revision,
          r.revision,
          r.revision,
        ]);
        assert.deepEqual(seen.map((e) => e.key), ["x/1", "x/2", "x/before"]);
      },
    );

    await t.step("close() ends the iteration", async () => {
      const w = client.watch({ prefix: "never/" });
      const done = (async () => {
        for await (const _ of w) throw new Error("no events expected");
      })();
      await delay(100);
      w.close();
      await done;
    });

    // The history keeps 10 000 events: 80 transactions of 128 puts push
    // the first revisions out.
    const puts = Array.from({ length: 128 }, (_, i) => ({
      put: { key: `c/${i}`, value: "x" },
    }));
    for (let i = 0; i < 80; i++) await client.txn({ success: puts });
    // The node announces compaction with a `compacted` event.
    const probe = await fetch(
      `${c.urls()[0]}/v1/watch?prefix=c/&fromRevision=1`,
    );
    assert.ok((await probe.text()).includes("event: compacted"));
    await t.step({
      name: "a compacted revision throws code compacted",
      fn: async () => {
        const w = client.watch({ prefix: "c/" }, { fromRevision: 1 });
        const e = await (async () => {
          try {
            for await (const _ of w) throw new Error("no events expected");
          } catch (e) {
            return e;
          }
        })();
        assert.ok(e instanceof RaftlockError);
        assert.equal(e.code, "compacted");
        assert.equal(e.status, 410);
        assert.ok((e.compactRevision ?? 0) > 1);
      },
    });
  } finally {
    client.close();
    await c.close();
  }
});

Deno.test("watch: resumes mid-revision without repeating or skipping", async () => {
  // A fake node that breaks the stream after two of revision 5's three
  // events; the retry must ask from revision 5 again and skip those two.
  const ev = (key: string, revision: number) =>
    `id: ${revision}\nevent: put\ndata: ${
      JSON.stringify({
        type: "put",
        key,
        value: key,
        modRevision: revision,
        revision,
      })
    }\n\n`;
  const asked: (string | null)[] = [];
  let calls = 0;
  const fake: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    assert.equal(url.pathname, "/v1/watch");
    asked.push(new Headers(init?.headers).get("last-event-id"));
    calls++;
    const body = calls === 1
      ? ev("a", 4) + ev("b", 5) + ev("c", 5)
      : ev("b", 5) + ev("c", 5) + ev("d", 5) + ev("e", 6) +
        'event: progress\ndata: {"revision":9}\n\n';
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(new TextEncoder().encode(body));
        if (calls === 1) ctl.close();
      },
    });
    return Promise.resolve(
      new Response(stream, {
        headers: { "content-type": "text/event-stream" },
      }),
    );
  };
  const client = new Client({
    endpoints: ["http://fake-a", "http://fake-b"],
    fetch: fake,
    discover: false,
  });
  const w = client.watch({ prefix: "" }, { fromRevision: 3 });
  const keys: string[] = [];
  for await (const e of w) {
    keys.push(`${e.key}@${e.revision}`);
    if (keys.length === 5) break;
  }
  assert.deepEqual(keys, ["a@4", "b@5", "c@5", "d@5", "e@6"]);
  assert.deepEqual(asked, ["2", "4"]);
  client.close();
});

Deno.test("watch: a compacted event throws code compacted", async () => {
  const fake: typeof fetch = () =>
    Promise.resolve(
      new Response('event: compacted\ndata: {"compactRevision":42}\n\n', {
        headers: { "content-type": "text/event-stream" },
      }),
    );
  const client = new Client({
    endpoints: ["http://fake"],
    fetch: fake,
    discover: false,
  });
  await assert.rejects(
    async () => {
      for await (const _ of client.watch({ key: "k" }, { fromRevision: 2 })) {
        throw new Error("no events expected");
      }
    },
    (e: RaftlockError) =>
      e.code === "compacted" && e.compactRevision === 42 &&
      /revision 2 has been compacted/i.test(e.message),
  );
  client.close();
});
