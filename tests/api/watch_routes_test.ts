/**
 * `GET /v1/watch` in-process on a single node: events as SSE from a
 * revision, `Last-Event-ID` resume, one key, live events, progress while
 * idle, `compacted`, and bad queries.
 */

import assert from "node:assert/strict";
import { eventually } from "../node/helpers.ts";
import {
  assertRaftHeaders,
  errCode,
  errMessage,
  SingleNode,
  withNode,
} from "./single_node.ts";

interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/** An open watch: read its events one by one, then close it. */
class Watch {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  #ended = false;

  constructor(readonly response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  static async open(
    n: SingleNode,
    query: string,
    headers: Record<string, string> = {},
  ): Promise<Watch> {
    const r = await n.app.request(`/v1/watch${query}`, { headers });
    assert.equal(r.status, 200);
    assert.ok(r.headers.get("content-type")?.startsWith("text/event-stream"));
    return new Watch(r);
  }

  /** The next event, or undefined once the stream ended. */
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
        if (f.event === undefined) continue;
        return { id: f.id, event: f.event, data: JSON.parse(f.data) };
      }
      if (this.#ended) return undefined;
      const { value, done } = await this.#reader.read();
      if (done) this.#ended = true;
      else this.#buf += value;
    }
  }

  /** The next `count` events that are not progress events. */
  async take(count: number): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    while (out.length < count) {
      const e = await this.next();
      if (!e) break;
      if (e.event !== "progress") out.push(e);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

async function put(n: SingleNode, key: string, value: string) {
  const r = await n.call("PUT", `/v1/kv/${key}`, { value });
  assert.equal(r.status, 200);
  return r.json.revision as number;
}

Deno.test("watch from a revision: past events in order, then live ones", async () => {
  await withNode(async (n) => {
    const start = await put(n, "w/a", "1");
    await put(n, "w/b", "2");
    await put(n, "x/other", "3");
    await n.call("DELETE", "/v1/kv/w/a");
    const w = await Watch.open(n, `?prefix=w/&fromRevision=${start}`);
    try {
      const past = await w.take(3);
      assert.deepEqual(
        past.map((e) => [e.id, e.event, e.data.key]),
        [
          [String(start), "put", "w/a"],
          [String(start + 1), "put", "w/b"],
          [String(start + 3), "delete", "w/a"],
        ],
      );
      assert.equal(past[0].data.value, "1");
      assert.equal(past[0].data.revision, start);
      assert.equal(n.metrics.watchers.value, 1);

      const live = await put(n, "w/c", "4");
      const [e] = await w.take(1);
      assert.deepEqual([e.id, e.event, e.data.key], [
        String(live),
        "put",
        "w/c",
      ]);
    } finally {
      await w.close();
    }
    await eventually(() => n.metrics.watchers.value === 0, 5000, "watch end");
  });
});

Deno.test("watch: Last-Event-ID resumes after that event; key watches one key", async () => {
  await withNode(async (n) => {
    const start = await put(n, "w/a", "1");
    await put(n, "w/b", "2");
    await put(n, "w/a", "3");
    const resumed = await Watch.open(n, "?prefix=w/", {
      "Last-Event-ID": String(start),
    });
    try {
      const events = await resumed.take(2);
      assert.deepEqual(events.map((e) => Number(e.id)), [start + 1, start + 2]);
    } finally {
      await resumed.close();
    }
    const one = await Watch.open(n, "?key=w/a&fromRevision=1");
    try {
      const events = await one.take(2);
      assert.deepEqual(events.map((e) => [e.data.key, e.data.value]), [
        ["w/a", "1"],
        ["w/a", "3"],
      ]);
    } finally {
      await one.close();
    }
  });
});

Deno.test("watch without fromRevision starts now; idle watches get progress", async () => {
  await withNode(async (n) => {
    await put(n, "w/old", "1");
    const w = await Watch.open(n, "?prefix=w/");
    try {
      const progress = await w.next();
      assert.equal(progress?.event, "progress");
      assert.deepEqual(progress?.data, { revision: 1 });
      const rev = await put(n, "w/new", "2");
      const [e] = await w.take(1);
      assert.deepEqual([Number(e.id), e.data.key], [rev, "w/new"]);
    } finally {
      await w.close();
    }
  }, { watchProgressSeconds: 0.05 });
});

Deno.test("watch from a revision the history dropped: compacted, then the end", async () => {
  await withNode(async (n) => {
    for (let i = 0; i < 8; i++) await put(n, `w/k${i}`, String(i));
    const w = await Watch.open(n, "?prefix=w/&fromRevision=1");
    try {
      const e = await w.next();
      assert.equal(e?.event, "compacted");
      assert.equal(typeof e?.data.compactRevision, "number");
      assert.ok((e?.data.compactRevision as number) > 1);
      assert.equal(await w.next(), undefined, "the stream ends");
    } finally {
      await w.close();
    }
  }, { historySize: 3 });
});

Deno.test("watch: bad queries are 400 before the stream starts", async () => {
  await withNode(async (n) => {
    const cases: [string, Record<string, string>, string | RegExp][] = [
      ["?key=a&prefix=b", {}, "Give key or prefix, not both"],
      ["?fromRevision=abc", {}, /^fromRevision must be a whole number/],
      ["?fromRevision=-1", {}, /^fromRevision must be a whole number/],
      ["", { "Last-Event-ID": "x" }, /^Last-Event-ID must be a whole number/],
      [`?key=${"k".repeat(1025)}`, {}, /^Invalid key: /],
    ];
    for (const [query, headers, message] of cases) {
      const r = await n.app.request(`/v1/watch${query}`, { headers });
      const a = { status: r.status, json: await r.json(), headers: r.headers };
      assert.equal(a.status, 400, query);
      assert.equal(errCode(a), "bad_request");
      if (typeof message === "string") assert.equal(errMessage(a), message);
      else assert.match(errMessage(a), message);
      assertRaftHeaders(a, 0);
    }
    assert.equal(n.metrics.watchers.value, 0);
  });
});

Deno.test("watch streams end when the server shuts down", async () => {
  const n = await SingleNode.start();
  const w = await Watch.open(n, "?prefix=");
  await n.close();
  // Closing aborts the shutdown signal: the stream ends on its own.
  let e;
  while ((e = await w.next()) !== undefined) {
    assert.equal(e.event, "progress");
  }
  assert.equal(n.metrics.watchers.value, 0);
});
