/**
 * Recording histories, pairing events into operations, and history files
 * (JSON Lines) in both directions.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  check,
  type HistoryEvent,
  HistoryRecorder,
  parseHistory,
  registerModel,
  stringifyHistory,
  toEvents,
  toOperations,
} from "../../src/check/mod.ts";
import { simulateRegister, STEP_BUDGET } from "./helpers.ts";
import { assertProperty } from "../support/property.ts";

Deno.test("recorder: ids, times from the injected clock, completions", () => {
  let now = 100;
  const rec = new HistoryRecorder({ clock: () => now, firstId: 7 });
  const a = rec.invoke("c1", { f: "write", key: "x", value: "1" });
  now = 101;
  const b = rec.invoke(2, { f: "read", key: "x" });
  const c = rec.invoke("c3", { f: "write", key: "x", value: "2" });
  const d = rec.invoke("c4", { f: "cas", key: "x", expected: "0", value: "3" });
  assert.deepEqual([a, b, c, d], [7, 8, 9, 10]);
  assert.deepEqual(rec.pending(), [7, 8, 9, 10]);
  now = 105;
  rec.ok(a);
  rec.ok(b, "1");
  rec.info(c, "timeout");
  rec.fail(d, { code: "conflict" });
  assert.deepEqual(rec.pending(), []);
  const events = rec.events();
  assert.equal(events.length, 8);
  assert.deepEqual(events[5], {
    type: "ok",
    id: 8,
    client: 2,
    time: 105,
    op: { f: "read", key: "x" },
    result: "1",
  });
  const ops = rec.operations();
  assert.deepEqual(ops.map((o) => [o.id, o.status, o.start, o.end]), [
    [7, "ok", 100, 105],
    [8, "ok", 101, 105],
    [9, "info", 101, Infinity],
    [10, "fail", 101, 105],
  ]);
  assert.equal(ops[2].gaveUpAt, 105);
  assert.deepEqual(ops[3].error, { code: "conflict" });
  assert.throws(() => rec.ok(a), /Operation 7 is not open/);
  assert.throws(() => rec.info(99), /Operation 99 is not open/);
});

Deno.test("recorder: the default clock moves forward", () => {
  const rec = new HistoryRecorder();
  const id = rec.invoke("c1", { f: "read", key: "x" });
  rec.ok(id, null);
  const [inv, ok] = rec.events();
  assert.ok(ok.time >= inv.time);
  assert.equal(check(rec.events(), registerModel(), STEP_BUDGET).result, "ok");
});

Deno.test("operations: pairing rules", () => {
  const inv = (id: number, time: number): HistoryEvent => ({
    type: "invoke",
    id,
    client: "c",
    time,
    op: { f: "read", key: "x" },
  });
  // An invocation that never completes is of unknown outcome.
  const open = toOperations([inv(1, 0)]);
  assert.equal(open[0].status, "info");
  assert.equal(open[0].end, Infinity);
  assert.throws(
    () => toOperations([{ type: "ok", id: 1, client: "c", time: 1 }]),
    /has no earlier invocation/,
  );
  assert.throws(
    () => toOperations([inv(1, 0), inv(1, 1)]),
    /invoked twice/,
  );
  assert.throws(
    () =>
      toOperations([
        inv(1, 0),
        { type: "ok", id: 1, client: "c", time: 1 },
        { type: "fail", id: 1, client: "c", time: 2 },
      ]),
    /completes twice/,
  );
  // Events out of time order are sorted (stably) first.
  const ops = toOperations([
    { type: "ok", id: 1, client: "c", time: 5, result: null },
    inv(1, 2),
  ]);
  assert.equal(ops[0].start, 2);
  assert.equal(ops[0].end, 5);
});

Deno.test("operations: toEvents inverts toOperations", () => {
  const events = simulateRegister({ seed: 3, ops: 200, clients: 5, keys: 2 });
  const ops = toOperations(events);
  assert.deepEqual(toOperations(toEvents(ops)), ops);
});

Deno.test("json: a history file round-trips", () => {
  const events: HistoryEvent[] = [
    {
      type: "invoke",
      id: 0,
      client: "c1",
      time: 1.5,
      op: { f: "write", key: "a/b", value: { n: [1, "two"] } },
    },
    {
      type: "invoke",
      id: 1,
      client: 2,
      time: 2,
      op: { f: "cas", key: "x", expected: null, value: "é\n" },
    },
    { type: "ok", id: 0, client: "c1", time: 3 },
    { type: "info", id: 1, client: 2, time: 4, error: "timeout" },
    {
      type: "invoke",
      id: 2,
      client: "c1",
      time: 5,
      op: { f: "acquire", lock: "L" },
    },
    { type: "ok", id: 2, client: "c1", time: 6, result: { token: 9 } },
    {
      type: "invoke",
      id: 3,
      client: "c1",
      time: 7,
      op: { f: "fencedWrite", lock: "L", token: 8 },
    },
    {
      type: "fail",
      id: 3,
      client: "c1",
      time: 8,
      error: { code: "stale_token" },
    },
  ];
  const text = stringifyHistory(events);
  assert.equal(text.split("\n").length, events.length + 1);
  assert.ok(text.endsWith("\n"));
  assert.deepEqual(parseHistory(text), events);
  // Blank lines and CRLF are tolerated.
  assert.deepEqual(
    parseHistory("\n" + text.replaceAll("\n", "\r\n") + "\n\n"),
    events,
  );
});

Deno.test("json: generated histories round-trip", (t) => {
  assertProperty(
    t,
    fc.property(fc.integer({ min: 0, max: 1 << 30 }), (seed) => {
      const events = simulateRegister({ seed, ops: 60, clients: 4, keys: 2 });
      assert.deepEqual(parseHistory(stringifyHistory(events)), events);
    }),
    { numRuns: 30 },
  );
});

Deno.test("json: malformed lines are reported with their number", () => {
  const good =
    '{"type":"invoke","id":0,"client":"c","time":0,"op":{"f":"read"}}';
  assert.throws(() => parseHistory(good + "\n{nope"), /line 2 is not JSON/);
  assert.throws(
    () => parseHistory('{"type":"done","id":0,"client":"c","time":0}'),
    /line 1 has type "done"/,
  );
  assert.throws(
    () => parseHistory('{"type":"ok","client":"c","time":0}'),
    /needs a numeric id/,
  );
  assert.throws(
    () => parseHistory('{"type":"ok","id":1,"client":null,"time":0}'),
    /needs a string or numeric client/,
  );
  assert.throws(
    () => parseHistory('{"type":"ok","id":1,"client":"c"}'),
    /needs a finite numeric time/,
  );
  assert.throws(
    () => parseHistory('{"type":"invoke","id":1,"client":"c","time":0}'),
    /invokes no op/,
  );
  assert.throws(
    () =>
      parseHistory(
        '{"type":"invoke","id":1,"client":"c","time":0,"op":{"f":"read","key":3}}',
      ),
    /key is not a string/,
  );
  assert.throws(() => parseHistory("[1]"), /line 1 is not an object/);
});
