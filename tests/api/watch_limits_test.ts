/**
 * Watch limits in-process on a single node: a watcher that stops reading
 * is dropped with a `lagging` event once its send queue fills while one
 * that reads keeps up; a dropped watcher resumes from the history with no
 * gap and no repeat (by hand and with the client); `--max-watchers`
 * answers 429 `too_many_requests`.
 */

import assert from "node:assert/strict";
import { Client, type WatchEvent } from "../../src/client/mod.ts";
import { eventually } from "../node/helpers.ts";
import { errCode, type SingleNode, withNode } from "./single_node.ts";

interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/** Reads a watch stream's events (progress events left out). */
class Reader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  #ended = false;
  constructor(readonly response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  /** The next non-progress event, or undefined at the end. */
  async next(): Promise<SseEvent | undefined> {
    for (;;) {
      const i = this.#buf.indexOf("\n\n");
      if (i >= 0) {
        const block = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        const f: Record<string, string> = {};
        for (const line of block.split("\n")) {
          const m = line.match(/^(\w+): ?(.*)$/);
          if (m) f[m[1]] = m[2];
        }
        if (f.event === undefined || f.event === "progress") continue;
        return { id: f.id, event: f.event, data: JSON.parse(f.data) };
      }
      if (this.#ended) return undefined;
      const { value, done } = await this.#reader.read();
      if (done) this.#ended = true;
      else this.#buf += value;
    }
  }

  /** Every event until the stream ends. */
  async rest(): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (let e; (e = await this.next()) !== undefined;) out.push(e);
    return out;
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

async function open(n: SingleNode, query: string, lastId?: string) {
  const r = await n.app.request(`/v1/watch${query}`, {
    headers: lastId === undefined ? {} : { "Last-Event-ID": lastId },
  });
  assert.equal(r.status, 200);
  return r;
}

async function put(n: SingleNode, key: string, value: string) {
  const r = await n.call("PUT", `/v1/kv/${key}`, { value });
  assert.equal(r.status, 200);
  return r.json.revision as number;
}

// 4 KiB values: a few fill the stream's 16 KiB of read-ahead, so the
// queue behind it fills after a few more.
const VALUE = "v".repeat(4096);

Deno.test("a watcher that stops reading is dropped with lagging; a reading one keeps up; resuming has no gap", async () => {
  await withNode(async (n) => {
    const stalled = await open(n, "?prefix=w/");
    const live = new Reader(await open(n, "?prefix=w/"));
    const seen: number[] = [];
    const reading = (async () => {
      for (let e; (e = await live.next()) !== undefined;) {
        seen.push(Number(e.id));
        if (seen.length === 40) return;
      }
    })();
    const revisions: number[] = [];
    for (let i = 0; i < 40; i++) revisions.push(await put(n, `w/${i}`, VALUE));
    await reading;
    assert.deepEqual(seen, revisions, "the reading watcher saw every event");
    assert.equal(n.metrics.watchOverflows.get(), 1);
    // The stalled one is gone from the queue gauge; the reader's is empty.
    assert.equal(n.metrics.watchQueueBytes.value, 0);

    // Reading it now: the events it had taken, then lagging, then the end.
    const events = await new Reader(stalled).rest();
    const last = events.at(-1)!;
    assert.equal(last.event, "lagging");
    const got = events.slice(0, -1).map((e) => Number(e.id));
    assert.ok(got.length >= 1 && got.length < 40, `${got.length} events`);
    assert.deepEqual(got, revisions.slice(0, got.length));
    assert.equal(last.data.revision, got.at(-1));
    await eventually(() => n.metrics.watchers.value === 1, 5000, "drop");

    // Resuming after the lagging revision: the rest, from the history.
    const resumed = new Reader(
      await open(n, "?prefix=w/", String(last.data.revision)),
    );
    const rest: number[] = [];
    while (got.length + rest.length < 40) {
      rest.push(Number((await resumed.next())!.id));
    }
    assert.deepEqual([...got, ...rest], revisions);
    await resumed.close();
    await live.close();
    await eventually(() => n.metrics.watchers.value === 0, 5000, "closed");
    assert.equal(n.metrics.watchQueueBytes.value, 0);
  }, { watch: { watchQueue: { maxEvents: 4 } } });
});

Deno.test("a watcher dropped as lagging is cut off if it does not read on within the grace period", async () => {
  await withNode(async (n) => {
    const stalled = await open(n, "?prefix=w/");
    for (let i = 0; i < 20; i++) await put(n, `w/${i}`, VALUE);
    await eventually(() => n.metrics.watchers.value === 0, 5000, "cut off");
    assert.equal(n.metrics.watchOverflows.get(), 1);
    await assert.rejects(new Reader(stalled).rest());
  }, { watch: { watchQueue: { maxEvents: 4 }, watchEndGraceMs: 50 } });
});

Deno.test("the client resumes after a lagging close and sees every event once, in order", async () => {
  await withNode(async (n) => {
    let opened = 0;
    const client = new Client({
      endpoints: ["http://n1"],
      discover: false,
      fetch: (input, init) => {
        if (String(input).includes("/v1/watch")) opened++;
        return Promise.resolve(n.app.request(String(input), init));
      },
    });
    const from = await put(n, "c/start", "x");
    const w = client.watch({ prefix: "c/" }, { fromRevision: from + 1 });
    let resume!: () => void;
    const paused = new Promise<void>((r) => (resume = r));
    const seen: WatchEvent[] = [];
    const reading = (async () => {
      for await (const e of w) {
        seen.push(e);
        // Stop reading after the first event until the writes are done.
        if (seen.length === 1) await paused;
        if (seen.length === 60) break;
      }
    })();
    const revisions: number[] = [];
    for (let i = 0; i < 60; i++) {
      revisions.push(await put(n, `c/${i}`, VALUE));
      // Once the first event is in, the watcher stops reading.
      if (i === 0) await eventually(() => seen.length === 1, 5000, "first");
    }
    await eventually(() => n.metrics.watchOverflows.get() === 1, 5000, "lag");
    resume();
    await reading;
    client.close();
    assert.deepEqual(seen.map((e) => e.revision), revisions);
    assert.deepEqual(
      seen.map((e) => e.key),
      revisions.map((_, i) => `c/${i}`),
    );
    assert.equal(n.metrics.watchOverflows.get(), 1);
    assert.equal(opened, 2, "one resume after the lagging event");
  }, { watch: { watchQueue: { maxEvents: 4 } } });
});

Deno.test("--max-watchers: one more watch is refused with 429 too_many_requests", async () => {
  await withNode(async (n) => {
    const a = await open(n, "?prefix=a/");
    const b = await open(n, "?key=b");
    const r = await n.app.request("/v1/watch?prefix=c/");
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), "1");
    const body = await r.json();
    assert.equal(
      errCode({ status: 429, json: body, headers: r.headers }),
      "too_many_requests",
    );
    assert.equal(body.limit, "watchers");
    assert.match(body.error.message, /--max-watchers/);
    assert.equal(n.metrics.watchRefused.get(), 1);
    assert.equal(n.metrics.watchers.value, 2);
    await a.body!.cancel();
    await eventually(() => n.metrics.watchers.value === 1, 5000, "closed");
    const c = await open(n, "?prefix=c/");
    await b.body!.cancel();
    await c.body!.cancel();
    await eventually(() => n.metrics.watchers.value === 0, 5000, "closed");
    const text = await (await n.app.request("/metrics")).text();
    assert.match(text, /^raftlock_watch_refused_total 1$/m);
    assert.match(text, /^raftlock_watch_overflows_total 0$/m);
    assert.match(text, /^raftlock_watch_queue_bytes 0$/m);
  }, { watch: { maxWatchers: 2 } });
});
