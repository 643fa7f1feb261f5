/**
 * The lease timing checker on hand-made histories: legal ones (renewed in
 * time, released early, expired late, timed-out renewals, lock-delay
 * honoured) and illegal ones (an early grant, an early expiry, a lease
 * that came back, a shrunk renewal, lock-delay ignored).
 */

import assert from "node:assert/strict";
import {
  checkLeaseTiming,
  formatTimingReport,
  HistoryRecorder,
  type Op,
  type Operation,
  parseHistory,
  stringifyHistory,
} from "../../src/check/mod.ts";

/** Builds operations with explicit times; ttl in seconds. */
class H {
  readonly ops: Operation[] = [];
  #id = 0;
  #push(
    client: string,
    op: Op,
    status: Operation["status"],
    start: number,
    end: number,
    extra: Partial<Operation> = {},
  ): this {
    this.ops.push({
      id: this.#id++,
      client,
      op,
      status,
      start,
      end: status === "info" ? Infinity : end,
      ...(status === "info" ? { gaveUpAt: end } : {}),
      ...extra,
    });
    return this;
  }
  acquire(
    c: string,
    lock: string,
    token: number,
    start: number,
    end: number,
    opts: { ttl?: number; lockDelay?: number } = {},
  ): this {
    return this.#push(
      c,
      { f: "acquire", lock, ttl: opts.ttl ?? 3, lockDelay: opts.lockDelay },
      "ok",
      start,
      end,
      { result: { token, lease: token * 10 } },
    );
  }
  keepalive(
    c: string,
    lock: string,
    token: number,
    start: number,
    end: number,
    status: Operation["status"] = "ok",
    ttl = 3,
  ): this {
    return this.#push(
      c,
      { f: "keepalive", lock, token, lease: token * 10 },
      status,
      start,
      end,
      status === "ok"
        ? { result: { ttl } }
        : { error: status === "fail" ? "not_found" : "unreachable" },
    );
  }
  stale(c: string, lock: string, token: number, start: number, end: number) {
    return this.#push(
      c,
      { f: "fencedWrite", lock, token },
      "fail",
      start,
      end,
      { error: "stale_token" },
    );
  }
  release(
    c: string,
    lock: string,
    token: number,
    start: number,
    end: number,
    status: Operation["status"] = "ok",
  ): this {
    return this.#push(c, { f: "release", lock, token }, status, start, end);
  }
}

Deno.test("timing: a grant after the old lease ran out is legal", () => {
  const h = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 1000, 1030)
    .acquire("c2", "L", 9, 2500, 4100); // 1000 + 3000 < 4100
  const r = checkLeaseTiming(h.ops);
  assert.equal(r.ok, true, formatTimingReport(r));
  assert.equal(r.grants, 2);
  assert.equal(r.renewals, 3);
});

Deno.test("timing: a grant while the renewed lease may be valid is an anomaly", () => {
  const h = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 1000, 1030)
    .acquire("c2", "L", 9, 2500, 3500); // before 1000 + 3000 - 50
  const r = checkLeaseTiming(h.ops);
  assert.equal(r.ok, false);
  assert.equal(r.count, 1);
  const [a] = r.anomalies;
  assert.equal(a.kind, "early-grant");
  assert.equal(a.token, 5);
  assert.deepEqual(a.operations.map((o) => o.id), [0, 1, 2]);
  assert.match(a.message, /granted to token 9 .*\(500 ms early/);
  assert.match(formatTimingReport(r), /ILLEGAL: lease timing broken 1 time/);
});

Deno.test("timing: the keepalive's invoke, not its ack, is the renewal's safe bound", () => {
  // Acked at 2000 but invoked at 900: valid until 3900 at least, not 5000.
  const h = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 900, 2000)
    .acquire("c2", "L", 9, 3000, 3950);
  assert.equal(checkLeaseTiming(h.ops).ok, true);
  // Within the drift bound: 3860 > 3900 - 50.
  const d = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 900, 2000)
    .acquire("c2", "L", 9, 3000, 3860);
  assert.equal(checkLeaseTiming(d.ops).ok, true);
  assert.equal(checkLeaseTiming(d.ops, { driftMs: 10 }).ok, false);
});

Deno.test("timing: timed-out and refused keepalives do not extend the bound", () => {
  const h = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 1000, 2000, "info")
    .acquire("c2", "L", 9, 2800, 3100) // after 0 + 3000 - 50
    .keepalive("c1", "L", 5, 3000, 3100, "fail");
  const r = checkLeaseTiming(h.ops);
  assert.equal(r.ok, true, formatTimingReport(r));
  assert.equal(r.renewals, 2);
});

Deno.test("timing: a release (even of unknown outcome) frees the lock at once", () => {
  const released = new H()
    .acquire("c1", "L", 5, 0, 20)
    .release("c1", "L", 5, 100, 130)
    .acquire("c2", "L", 9, 110, 140);
  assert.equal(checkLeaseTiming(released.ops).ok, true);
  const maybe = new H()
    .acquire("c1", "L", 5, 0, 20)
    .release("c1", "L", 5, 100, 1100, "info")
    .acquire("c2", "L", 9, 110, 140);
  assert.equal(checkLeaseTiming(maybe.ops).ok, true);
  // A refused release did not happen.
  const refused = new H()
    .acquire("c1", "L", 5, 0, 20)
    .release("c1", "L", 5, 100, 130, "fail")
    .acquire("c2", "L", 9, 110, 140);
  assert.equal(checkLeaseTiming(refused.ops).ok, false);
  // A release invoked after the new grant completed does not excuse it.
  const late = new H()
    .acquire("c1", "L", 5, 0, 20)
    .acquire("c2", "L", 9, 110, 140)
    .release("c1", "L", 5, 200, 230);
  assert.equal(checkLeaseTiming(late.ops).ok, false);
});

Deno.test("timing: lock-delay is added when the old lease expired", () => {
  const ok = new H()
    .acquire("c1", "L", 5, 0, 20, { lockDelay: 500 })
    .acquire("c2", "L", 9, 2000, 3600);
  assert.equal(checkLeaseTiming(ok.ops).ok, true);
  const early = new H()
    .acquire("c1", "L", 5, 0, 20, { lockDelay: 500 })
    .acquire("c2", "L", 9, 2000, 3200); // after the TTL, inside the delay
  const r = checkLeaseTiming(early.ops);
  assert.equal(r.ok, false);
  assert.match(r.anomalies[0].message, /lock-delay of 500 ms/);
});

Deno.test("timing: every earlier holder counts, and locks are independent", () => {
  // Token 5 was renewed late; token 7 (between) released; token 9 is early
  // for 5 although 7 came between.
  const h = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 2500, 2520)
    .acquire("c3", "L", 7, 100, 4000) // early for 5 too
    .release("c3", "L", 7, 4010, 4020)
    .acquire("c2", "L", 9, 4015, 4100) // 2500 + 3000 > 4100
    .acquire("c4", "M", 8, 100, 120); // another lock: no bound from L
  const r = checkLeaseTiming(h.ops);
  assert.equal(r.count, 2);
  assert.deepEqual(
    r.anomalies.map((a) => [a.kind, a.token, a.message.slice(0, 24)]),
    [
      ["early-grant", 5, "L was granted to token 7"],
      ["early-grant", 5, "L was granted to token 9"],
    ],
  );
});

Deno.test("timing: a lease seen gone before its TTL is an early expiry", () => {
  const legal = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 1000, 1010)
    .stale("c1", "L", 5, 3900, 4000)
    .keepalive("c1", "L", 5, 4100, 4200, "fail");
  const ok = checkLeaseTiming(legal.ops);
  assert.equal(ok.ok, true, formatTimingReport(ok));
  assert.equal(ok.expiries, 2);
  const early = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 1000, 1010)
    .keepalive("c1", "L", 5, 2000, 2100, "fail"); // not_found at 2100 < 3950
  const r = checkLeaseTiming(early.ops);
  assert.equal(r.ok, false);
  assert.equal(r.anomalies[0].kind, "early-expiry");
  assert.match(r.anomalies[0].message, /keepalive → not_found by c1/);
  const fenced = new H()
    .acquire("c1", "L", 5, 0, 20)
    .stale("c1", "L", 5, 1000, 1100);
  assert.equal(checkLeaseTiming(fenced.ops).anomalies[0].kind, "early-expiry");
  const release = new H()
    .acquire("c1", "L", 5, 0, 20);
  release.ops.push({
    id: 99,
    client: "c1",
    op: { f: "release", lock: "L", token: 5 },
    status: "fail",
    error: "stale_token",
    start: 1000,
    end: 1100,
  });
  assert.equal(checkLeaseTiming(release.ops).anomalies[0].kind, "early-expiry");
  release.ops[1].start = 3000;
  release.ops[1].end = 3100;
  assert.equal(checkLeaseTiming(release.ops).ok, true);
  // After a release the lease is meant to be gone.
  const released = new H()
    .acquire("c1", "L", 5, 0, 20)
    .release("c1", "L", 5, 500, 520)
    .keepalive("c1", "L", 5, 600, 620, "fail");
  assert.equal(checkLeaseTiming(released.ops).ok, true);
});

Deno.test("timing: a lease renewed after it was seen gone came back", () => {
  const h = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 3500, 3600, "fail")
    .keepalive("c1", "L", 5, 3700, 3800);
  const r = checkLeaseTiming(h.ops);
  assert.equal(r.ok, false);
  assert.match(r.anomalies[0].message, /seen gone .* and then renewed/);
});

Deno.test("timing: an acknowledged keepalive must give the whole TTL", () => {
  const h = new H()
    .acquire("c1", "L", 5, 0, 20)
    .keepalive("c1", "L", 5, 1000, 1010, "ok", 1.5);
  const r = checkLeaseTiming(h.ops);
  assert.equal(r.ok, false);
  assert.equal(r.anomalies[0].kind, "short-renewal");
});

Deno.test("timing: reads event histories, as the chaos run records them", () => {
  let now = 0;
  const rec = new HistoryRecorder({ clock: () => now });
  const a = rec.invoke("c1", { f: "acquire", lock: "L", ttl: 3 });
  now = 10;
  rec.ok(a, { token: 4, lease: 40 });
  // Other models' operations are ignored.
  const w = rec.invoke("c3", { f: "write", key: "x", value: "1" });
  rec.ok(w);
  now = 1000;
  const b = rec.invoke("c2", { f: "acquire", lock: "L", ttl: 3 });
  now = 1500;
  rec.ok(b, { token: 6, lease: 60 });
  const events = parseHistory(stringifyHistory(rec.events()));
  const r = checkLeaseTiming(events);
  assert.equal(r.ok, false);
  assert.equal(r.anomalies[0].token, 4);
});

Deno.test("timing: many holders in turn check quickly", () => {
  // 20 000 grants in turn, each renewed twice and released: legal.
  const h = new H();
  let t = 0;
  for (let k = 1; k <= 20_000; k++) {
    h.acquire(`c${k % 7}`, "L", k, t, t + 5);
    h.keepalive(`c${k % 7}`, "L", k, t + 10, t + 12);
    h.keepalive(`c${k % 7}`, "L", k, t + 20, t + 22);
    h.release(`c${k % 7}`, "L", k, t + 30, t + 31);
    t += 40;
  }
  const r = checkLeaseTiming(h.ops);
  assert.equal(r.ok, true);
  assert.equal(r.grants, 20_000);
});
