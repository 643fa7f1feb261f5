import assert from "node:assert/strict";
import fc from "fast-check";
import { encode } from "../../src/codec/msgpack.ts";
import {
  type Command,
  decodeCommand,
  encodeCommand,
  isInvalidCommand,
  type StateMachine,
  validateCommand,
} from "./imports.ts";
import { ServiceStateMachine } from "../../src/state/mod.ts";
import { assertProperty } from "../support/property.ts";

Deno.test("ServiceStateMachine implements the node's StateMachine", () => {
  const sm: StateMachine = new ServiceStateMachine();
  assert.equal(typeof sm.apply, "function");
});

Deno.test("commands round-trip through encode and decode", () => {
  const cmds: Command[] = [
    {
      type: "put",
      key: "k",
      value: "v",
      lease: 3,
      ifModRevision: 0,
      fence: { lock: "L", token: 9 },
      requestId: { client: "c", seq: 1 },
    },
    { type: "delete", key: "p/", prefix: true },
    {
      type: "txn",
      compare: [{ key: "k", target: "value", op: "==", value: "v" }, {
        key: "k",
        target: "lease",
        op: ">",
        value: 0,
      }],
      success: [{ type: "get", key: "", prefix: true, limit: 5 }],
      failure: [{ type: "delete", key: "k" }],
    },
    { type: "leaseGrant", ttl: 10 },
    { type: "leaseKeepalive", id: 1 },
    { type: "leaseRevoke", id: 1 },
    { type: "leaseExpire", id: 1, keepaliveIndex: 4 },
    {
      type: "lockAcquire",
      name: "L",
      ttl: 5,
      owner: "me",
      waiterId: "w",
      lockDelay: 100,
    },
    { type: "lockAcquire", name: "L", lease: 2, tryOnly: true },
    { type: "lockRelease", name: "L", token: 3 },
    { type: "lockCancel", name: "L", waiterId: "w" },
    { type: "lockDelayEnd", name: "L", revision: 8 },
  ];
  for (const c of cmds) assert.deepEqual(decodeCommand(encodeCommand(c)), c);
});

Deno.test("validation keeps known fields only and drops nulls", () => {
  const v = validateCommand({
    type: "put",
    key: "k",
    value: "v",
    extra: 1,
    lease: null,
    __proto__: { x: 1 },
  });
  assert.deepEqual(v, { type: "put", key: "k", value: "v" });
});

Deno.test("invalid commands are bad_request, with a message", () => {
  const bad: unknown[] = [
    null,
    42,
    "put",
    [],
    {},
    { type: "nope" },
    { type: "put", key: "k" },
    { type: "put", key: 1, value: "v" },
    { type: "put", key: "k", value: "v", lease: 0 },
    { type: "put", key: "k", value: "v", lease: -1 },
    { type: "put", key: "k", value: "v", ifModRevision: 1.5 },
    {
      type: "put",
      key: "k",
      value: "v",
      ifModRevision: Number.MAX_SAFE_INTEGER + 2,
    },
    { type: "put", key: "\ud800", value: "v" },
    { type: "put", key: "k", value: "v", fence: { lock: "L" } },
    { type: "put", key: "k", value: "v", requestId: { client: "", seq: 1 } },
    { type: "delete", key: "" },
    { type: "delete", key: "p", prefix: true, ifVersion: 1 },
    { type: "txn", compare: "x", success: [], failure: [] },
    {
      type: "txn",
      compare: [],
      success: [{ type: "put", key: "k" }],
      failure: [],
    },
    { type: "leaseGrant", ttl: "5" },
    { type: "leaseExpire", id: 1 },
    { type: "lockAcquire", name: "", ttl: 5, tryOnly: true },
    {
      type: "lockAcquire",
      name: "L",
      ttl: 5,
      tryOnly: true,
      lockDelay: 60_001,
    },
    { type: "lockRelease", name: "L", token: "1" },
    { type: "lockCancel", name: "L" },
  ];
  for (const b of bad) {
    const r = validateCommand(b);
    assert.ok(isInvalidCommand(r), JSON.stringify(b));
    assert.equal(r.error.code, "bad_request");
    assert.match(r.error.message, /^[A-Z]/);
    assert.doesNotMatch(r.error.message, /\.$/);
  }
});

Deno.test("decodeCommand and apply never throw on random bytes", (t) => {
  const sm = new ServiceStateMachine();
  let index = 0;
  assertProperty(
    t,
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const d = decodeCommand(bytes);
      assert.ok(typeof d === "object" && d !== null);
      const r = sm.apply(bytes, { index: ++index, term: 1 }) as { ok: boolean };
      assert.equal(typeof r.ok, "boolean");
    }),
    { numRuns: 1000 },
  );
});

Deno.test("decodeCommand and apply never throw on random msgpack values", (t) => {
  const sm = new ServiceStateMachine();
  let index = 0;
  const types = fc.constantFrom(
    "put",
    "delete",
    "txn",
    "leaseGrant",
    "leaseKeepalive",
    "leaseRevoke",
    "leaseExpire",
    "lockAcquire",
    "lockRelease",
    "lockCancel",
    "lockDelayEnd",
  );
  const value = fc.oneof(
    fc.anything({ maxDepth: 3 }),
    fc.record({ type: types }, { requiredKeys: [] }).chain((base) =>
      fc.dictionary(
        fc.constantFrom(
          "key",
          "value",
          "prefix",
          "lease",
          "ttl",
          "id",
          "name",
          "token",
          "waiterId",
          "tryOnly",
          "compare",
          "success",
          "failure",
          "fence",
          "requestId",
          "keepaliveIndex",
          "lockDelay",
        ),
        fc.anything({ maxDepth: 2 }),
      ).map((d) => ({ ...d, ...base }))
    ),
  );
  assertProperty(
    t,
    fc.property(value, (v) => {
      let bytes: Uint8Array;
      try {
        bytes = encode(v);
      } catch {
        return; // not encodable: cannot be in the log
      }
      decodeCommand(bytes);
      const r = sm.apply(bytes, { index: ++index, term: 1 }) as { ok: boolean };
      assert.equal(typeof r.ok, "boolean");
    }),
    { numRuns: 1000 },
  );
});
