/**
 * Election, semaphore and read-write lock routes, and puts with a ttl,
 * in-process on a single node: grants, queues served in FIFO order,
 * waiting requests that leave the queue when they end, token checks,
 * fenced writes with stale tokens, the observe stream and its resume, and
 * bad input.
 */

import assert from "node:assert/strict";
import { eventually } from "../node/helpers.ts";
import {
  assertRaftHeaders,
  errCode,
  errMessage,
  type SingleNode,
  withNode,
} from "./single_node.ts";

interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/** An open observe stream: read its events one by one, then close it. */
class Stream {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  #ended = false;

  private constructor(response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  static async open(
    n: SingleNode,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<Stream> {
    const r = await n.app.request(path, { headers });
    assert.equal(r.status, 200);
    assert.ok(r.headers.get("content-type")?.startsWith("text/event-stream"));
    return new Stream(r);
  }

  /** The next event that is not progress, or undefined once it ended. */
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

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

Deno.test("elections: campaign, FIFO candidates, proclaim, resign, leader, fencing", async () => {
  await withNode(async (n) => {
    const a = await n.call("POST", "/v1/elections/sched/campaign", {
      value: "a:1",
      ttl: 30,
    });
    assert.equal(a.status, 200);
    assertRaftHeaders(a);
    assert.deepEqual(Object.keys(a.json).sort(), [
      "lease",
      "name",
      "token",
      "value",
    ]);
    const token = a.json.token as number;
    const leader = await n.call("GET", "/v1/elections/sched");
    assert.deepEqual(leader.json, { ...a.json, revision: token });

    // A try fails with the error shape of a held lock.
    const busy = await n.call("POST", "/v1/elections/sched/campaign", {
      value: "b",
      ttl: 30,
    });
    assert.equal(busy.status, 409);
    assert.equal(errCode(busy), "lock_held");
    assert.match(errMessage(busy), /has a leader/);

    // Two waiting candidates: served in the order they came.
    const b = n.call("POST", "/v1/elections/sched/campaign", {
      value: "b:1",
      ttl: 30,
      wait: 10_000,
    });
    await eventually(
      () => n.service.state.election("sched").candidates.length === 1,
    );
    const c = n.call("POST", "/v1/elections/sched/campaign", {
      value: "c:1",
      ttl: 30,
      wait: 10_000,
    });
    await eventually(
      () => n.service.state.election("sched").candidates.length === 2,
    );
    const listed = await n.call("GET", "/v1/elections");
    assert.deepEqual(listed.json, {
      elections: [{ name: "sched", leader: leader.json, candidates: 2 }],
    });

    const p = await n.call("POST", "/v1/elections/sched/proclaim", {
      token,
      value: "a:2",
    });
    assert.equal(p.status, 200);
    assert.equal(p.json.value, "a:2");
    assert.equal(p.json.token, token);
    assert.ok((p.json.revision as number) > token);
    const fenced = await n.call("PUT", "/v1/kv/sched/epoch", {
      value: "1",
      fence: { election: "sched", token },
    });
    assert.equal(fenced.status, 200);

    const r = await n.call("POST", "/v1/elections/sched/resign", { token });
    assert.equal(r.status, 200);
    assert.equal(r.json.resigned, true);
    const bWon = await b;
    assert.equal(bWon.status, 200);
    assert.equal(bWon.json.value, "b:1");
    assert.ok((bWon.json.token as number) > token);

    const stale = await n.call("PUT", "/v1/kv/sched/epoch", {
      value: "2",
      fence: { election: "sched", token },
    });
    assert.equal(stale.status, 409);
    assert.equal(errCode(stale), "stale_token");
    assert.deepEqual(
      (await n.call("GET", `/v1/elections/sched?token=${token}`)).json,
      { valid: false },
    );
    assert.deepEqual(
      (await n.call("GET", `/v1/elections/sched?token=${bWon.json.token}`))
        .json,
      { valid: true },
    );
    const again = await n.call("POST", "/v1/elections/sched/resign", {
      token,
    });
    assert.equal(errCode(again), "stale_token");
    await n.call("POST", "/v1/elections/sched/resign", {
      token: bWon.json.token,
    });
    assert.equal((await c).json.value, "c:1");
    await n.call("POST", "/v1/elections/sched/resign", {
      token: (await c).json.token,
    });
    const none = await n.call("GET", "/v1/elections/sched");
    assert.equal(none.status, 404);
    assert.equal(errCode(none), "not_found");
  });
});

Deno.test("elections: a waiting campaign that ends leaves the line", async () => {
  await withNode(async (n) => {
    await n.call("POST", "/v1/elections/e/campaign", { value: "a", ttl: 30 });
    const timedOut = await n.call("POST", "/v1/elections/e/campaign", {
      value: "b",
      ttl: 30,
      wait: 50,
    });
    assert.equal(timedOut.status, 409);
    assert.equal(errCode(timedOut), "lock_held");
    assert.equal(
      errMessage(timedOut),
      "Election e has a leader; it was not won within 50 ms",
    );
    // The request disconnects: its candidacy and its lease go.
    const ctl = new AbortController();
    const gone = Promise.resolve(n.app.request("/v1/elections/e/campaign", {
      method: "POST",
      body: JSON.stringify({ value: "c", ttl: 30, wait: 10_000 }),
      signal: ctl.signal,
    }));
    await eventually(
      () => n.service.state.election("e").candidates.length === 1,
    );
    ctl.abort();
    await gone.catch(() => undefined);
    await eventually(
      () => n.service.state.election("e").candidates.length === 0,
    );
    assert.equal(n.service.state.leases().length, 1);
  });
});

Deno.test("semaphores: a waiter's own lease lives while its request waits, past its ttl", async () => {
  await withNode(async (n) => {
    const a = await n.call("POST", "/v1/semaphores/slow/acquire", {
      limit: 1,
      ttl: 30,
    });
    const waiting = n.call("POST", "/v1/semaphores/slow/acquire", {
      limit: 1,
      ttl: 1,
      wait: 20_000,
    });
    await eventually(
      () => n.service.state.semaphore("slow").waiters.length === 1,
    );
    const lease = n.service.state.semaphore("slow").waiters[0].lease;
    // Three TTLs: only the node's keepalives keep the waiter's lease.
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(n.service.state.lease(lease), "the waiter's lease expired");
    await n.call("POST", "/v1/semaphores/slow/release", {
      token: a.json.token,
    });
    const got = await waiting;
    assert.equal(got.status, 200);
    assert.equal(got.json.lease, lease);
  });
});

Deno.test("elections: observe sends the state, then changes; Last-Event-ID resumes", async () => {
  await withNode(async (n) => {
    const s = await Stream.open(n, "/v1/elections/obs/observe");
    const first = await s.next();
    assert.equal(first?.event, "leader");
    assert.equal(first?.data.leader, null);
    const a = await n.call("POST", "/v1/elections/obs/campaign", {
      value: "a",
      ttl: 30,
    });
    const token = a.json.token as number;
    await n.call("POST", "/v1/elections/obs/proclaim", { token, value: "a2" });
    await n.call("POST", "/v1/elections/obs/resign", { token });
    const seen: SseEvent[] = [];
    for (let i = 0; i < 3; i++) seen.push((await s.next())!);
    await s.close();
    assert.deepEqual(
      seen.map((e) => [
        Number(e.id),
        (e.data.leader as { value?: string } | null)?.value ?? null,
      ]),
      [[token, "a"], [token + 1, "a2"], [token + 2, null]],
    );
    for (const e of seen) assert.equal(Number(e.id), e.data.revision);

    // A leader, then a resume after the proclaim: only what changed since.
    const b = await n.call("POST", "/v1/elections/obs/campaign", {
      value: "b",
      ttl: 30,
    });
    const bToken = b.json.token as number;
    const resumed = await Stream.open(n, "/v1/elections/obs/observe", {
      "last-event-id": String(token + 1),
    });
    const now = await resumed.next();
    assert.equal(Number(now?.id), bToken);
    assert.equal((now?.data.leader as { value: string }).value, "b");
    await resumed.close();
    // Resumed at the leader's own revision: nothing until it changes.
    const quiet = await Stream.open(n, "/v1/elections/obs/observe", {
      "last-event-id": String(bToken),
    });
    await n.call("POST", "/v1/elections/obs/proclaim", {
      token: bToken,
      value: "b2",
    });
    const next = await quiet.next();
    assert.equal(Number(next?.id), bToken + 1);
    assert.equal((next?.data.leader as { value: string }).value, "b2");
    await quiet.close();
    const bad = await n.call("GET", "/v1/elections/obs/observe", undefined, {
      "last-event-id": "x",
    });
    assert.equal(bad.status, 400);
  });
});

Deno.test("semaphores: limit, permits, FIFO without starvation, release, status", async () => {
  await withNode(async (n) => {
    const a = await n.call("POST", "/v1/semaphores/pool/acquire", {
      limit: 3,
      permits: 2,
      ttl: 30,
      owner: "a",
    });
    assert.equal(a.status, 200);
    assert.deepEqual(Object.keys(a.json).sort(), [
      "lease",
      "name",
      "owner",
      "permits",
      "token",
    ]);
    const other = await n.call("POST", "/v1/semaphores/pool/acquire", {
      limit: 4,
      ttl: 30,
    });
    assert.equal(other.status, 409);
    assert.equal(errCode(other), "conflict");
    assert.equal(errMessage(other), "Semaphore 'pool' has limit 3, not 4");
    // Big waits for 3; small (would fit) waits behind it.
    const big = n.call("POST", "/v1/semaphores/pool/acquire", {
      limit: 3,
      permits: 3,
      ttl: 30,
      wait: 10_000,
      owner: "big",
    });
    await eventually(
      () => n.service.state.semaphore("pool").waiters.length === 1,
    );
    const small = await n.call("POST", "/v1/semaphores/pool/acquire", {
      limit: 3,
      ttl: 30,
      owner: "small",
    });
    assert.equal(errCode(small), "lock_held");
    const st = await n.call("GET", "/v1/semaphores/pool");
    assert.deepEqual(st.json, {
      name: "pool",
      limit: 3,
      held: 2,
      free: 1,
      holders: [{
        token: a.json.token,
        lease: a.json.lease,
        permits: 2,
        owner: "a",
      }],
      waiters: [{
        lease: n.service.state.semaphore("pool").waiters[0].lease,
        owner: "big",
        permits: 3,
      }],
    });
    const rel = await n.call("POST", "/v1/semaphores/pool/release", {
      token: a.json.token,
    });
    assert.equal(rel.status, 200);
    assert.equal(rel.json.released, true);
    const bigGot = await big;
    assert.equal(bigGot.status, 200);
    assert.equal(bigGot.json.permits, 3);
    assert.deepEqual(
      (await n.call("GET", `/v1/semaphores/pool?token=${a.json.token}`)).json,
      { valid: false },
    );
    const fenced = await n.call("POST", "/v1/txn", {
      success: [{ put: { key: "pool/x", value: "1" } }],
      fence: { semaphore: "pool", token: a.json.token },
    });
    assert.equal(errCode(fenced), "stale_token");
    assert.equal(
      (await n.call("GET", "/v1/semaphores")).json.semaphores instanceof Array,
      true,
    );
    const missing = await n.call("GET", "/v1/semaphores/none");
    assert.deepEqual(missing.json, {
      name: "none",
      limit: 0,
      held: 0,
      free: 0,
      holders: [],
      waiters: [],
    });
  });
});

Deno.test("rwlocks: shared readers, an exclusive writer that blocks later readers", async () => {
  await withNode(async (n) => {
    const r1 = await n.call("POST", "/v1/rwlocks/doc/acquire", {
      mode: "read",
      ttl: 30,
    });
    const r2 = await n.call("POST", "/v1/rwlocks/doc/acquire", {
      mode: "read",
      ttl: 30,
    });
    assert.equal(r1.status, 200);
    assert.equal(r2.status, 200);
    assert.equal(r1.json.mode, "read");
    const w = n.call("POST", "/v1/rwlocks/doc/acquire", {
      mode: "write",
      ttl: 30,
      wait: 10_000,
      owner: "writer",
    });
    await eventually(() => n.service.state.rwlock("doc").waiters.length === 1);
    const r3 = await n.call("POST", "/v1/rwlocks/doc/acquire", {
      mode: "read",
      ttl: 30,
    });
    assert.equal(errCode(r3), "lock_held");
    const st = await n.call("GET", "/v1/rwlocks/doc");
    assert.equal(st.json.mode, "read");
    assert.equal((st.json.holders as unknown[]).length, 2);
    assert.deepEqual(
      (st.json.waiters as { mode: string; owner: string }[]).map((x) => [
        x.mode,
        x.owner,
      ]),
      [["write", "writer"]],
    );
    for (const r of [r1, r2]) {
      const rel = await n.call("POST", "/v1/rwlocks/doc/release", {
        token: r.json.token,
      });
      assert.equal(rel.status, 200);
    }
    const wGot = await w;
    assert.equal(wGot.status, 200);
    assert.equal(wGot.json.mode, "write");
    assert.equal((await n.call("GET", "/v1/rwlocks/doc")).json.mode, "write");
    const put = await n.call("PUT", "/v1/kv/doc/body", {
      value: "v",
      fence: { rwlock: "doc", token: wGot.json.token },
    });
    assert.equal(put.status, 200);
    assert.deepEqual(
      (await n.call("GET", `/v1/rwlocks/doc?token=${r1.json.token}`)).json,
      { valid: false },
    );
    assert.equal(
      ((await n.call("GET", "/v1/rwlocks")).json.rwlocks as unknown[]).length,
      1,
    );
  });
});

Deno.test("kv: a put with ttl makes and renews the key's own lease", async () => {
  await withNode(async (n) => {
    const a = await n.call("PUT", "/v1/kv/svc/a", { value: "1", ttl: 30 });
    assert.equal(a.status, 200);
    const lease = a.json.lease as number;
    assert.ok(lease > 0);
    assert.equal((await n.call("GET", "/v1/kv/svc/a")).json.lease, lease);
    const b = await n.call("PUT", "/v1/kv/svc/a", { value: "2", ttl: 60 });
    assert.equal(b.json.lease, lease);
    assert.equal(n.service.state.lease(lease)?.ttl, 60);
    // Without ttl the key's own lease goes.
    const c = await n.call("PUT", "/v1/kv/svc/a", { value: "3" });
    assert.deepEqual(Object.keys(c.json), ["revision"]);
    assert.equal(n.service.state.lease(lease), null);
    const both = await n.call("PUT", "/v1/kv/svc/a", {
      value: "3",
      ttl: 5,
      lease: 1,
    });
    assert.equal(both.status, 400);
  });
});

Deno.test("recipe routes: bad input", async () => {
  await withNode(async (n) => {
    const cases: [string, string, unknown][] = [
      ["POST", "/v1/elections/e/campaign", { value: "v" }],
      ["POST", "/v1/elections/e/campaign", { value: "v", ttl: 5, lease: 1 }],
      ["POST", "/v1/elections/e/campaign", { ttl: 5 }],
      ["POST", "/v1/elections/e/proclaim", { token: 1 }],
      ["POST", "/v1/elections/e/resign", {}],
      ["POST", "/v1/semaphores/s/acquire", { ttl: 5 }],
      ["POST", "/v1/semaphores/s/acquire", { limit: 2, permits: 3, ttl: 5 }],
      ["POST", "/v1/semaphores/s/acquire", { limit: 0, ttl: 5 }],
      ["POST", "/v1/rwlocks/r/acquire", { mode: "both", ttl: 5 }],
      ["POST", "/v1/rwlocks/r/acquire", { mode: "read", wait: -1, ttl: 5 }],
      ["PUT", "/v1/kv/k", { value: "v", fence: { lock: "l" } }],
      ["PUT", "/v1/kv/k", {
        value: "v",
        fence: { lock: "l", election: "e", token: 1 },
      }],
      ["GET", "/v1/semaphores/s?token=x", undefined],
    ];
    for (const [method, path, body] of cases) {
      const r = await n.call(method, path, body);
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(errCode(r), "bad_request");
    }
    const wrong = await n.call("GET", "/v1/elections/e/campaign");
    assert.equal(wrong.status, 405);
  });
});
