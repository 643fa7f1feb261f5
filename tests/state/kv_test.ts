import assert from "node:assert/strict";
import {
  compareKeys,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
} from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

Deno.test("put raises the revision and tracks versions", () => {
  const h = new Harness();
  assert.equal(h.sm.revision, 0);
  assert.deepEqual(h.ok({ type: "put", key: "a", value: "1" }), {
    ok: true,
    revision: 1,
  });
  h.ok({ type: "put", key: "b", value: "x" });
  h.ok({ type: "put", key: "a", value: "2" });
  assert.deepEqual(h.sm.get("a"), {
    key: "a",
    value: "2",
    createRevision: 1,
    modRevision: 3,
    version: 2,
  });
  assert.equal(h.sm.revision, 3);
  // Delete then recreate: version and createRevision start over.
  assert.deepEqual(h.ok({ type: "delete", key: "a" }), {
    ok: true,
    deleted: 1,
    revision: 4,
  });
  assert.equal(h.sm.get("a"), null);
  h.ok({ type: "put", key: "a", value: "3" });
  assert.deepEqual(h.sm.get("a"), {
    key: "a",
    value: "3",
    createRevision: 5,
    modRevision: 5,
    version: 1,
  });
});

Deno.test("deleting a missing key does not raise the revision", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "a", value: "1" });
  assert.deepEqual(h.ok({ type: "delete", key: "zzz" }), {
    ok: true,
    deleted: 0,
    revision: 1,
  });
  assert.deepEqual(h.ok({ type: "delete", key: "q/", prefix: true }), {
    ok: true,
    deleted: 0,
    revision: 1,
  });
});

Deno.test("ifModRevision: 0 means must not exist, else must match", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "k", value: "1", ifModRevision: 0 });
  const r = h.fails(
    { type: "put", key: "k", value: "2", ifModRevision: 0 },
    "conflict",
  );
  assert.deepEqual(r.error.current, {
    key: "k",
    value: "1",
    createRevision: 1,
    modRevision: 1,
    version: 1,
  });
  h.fails({ type: "put", key: "k", value: "2", ifModRevision: 7 }, "conflict");
  h.ok({ type: "put", key: "k", value: "2", ifModRevision: 1 });
  assert.equal(h.sm.get("k")?.value, "2");
  // On a missing key the conflict's current is null.
  const missing = h.fails(
    { type: "put", key: "nope", value: "x", ifModRevision: 3 },
    "conflict",
  );
  assert.equal(missing.error.current, null);
  // Conditional delete.
  h.fails({ type: "delete", key: "k", ifModRevision: 1 }, "conflict");
  h.ok({ type: "delete", key: "k", ifModRevision: 2 });
  assert.equal(h.sm.revision, 3);
});

Deno.test("ifVersion: 0 means must not exist, else must match", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "k", value: "1", ifVersion: 0 });
  h.fails({ type: "put", key: "k", value: "2", ifVersion: 0 }, "conflict");
  h.fails({ type: "put", key: "k", value: "2", ifVersion: 2 }, "conflict");
  h.ok({ type: "put", key: "k", value: "2", ifVersion: 1 });
  h.ok({ type: "put", key: "k", value: "3", ifVersion: 2, ifModRevision: 2 });
  assert.equal(h.sm.get("k")?.version, 3);
  h.fails({ type: "delete", key: "k", ifVersion: 2 }, "conflict");
  h.ok({ type: "delete", key: "k", ifVersion: 3 });
});

Deno.test("a failed write changes nothing", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "k", value: "1" });
  const before = h.sm.snapshot();
  h.fails({ type: "put", key: "k", value: "2", ifVersion: 9 }, "conflict");
  h.fails({ type: "put", key: "k", value: "2", lease: 42 }, "not_found");
  assert.deepEqual(h.sm.snapshot(), before);
});

Deno.test("prefix delete removes exactly the keys under the prefix at one revision", () => {
  const h = new Harness();
  for (const k of ["app/a", "app/b", "app/c/d", "apple", "ap", "b"]) {
    h.ok({ type: "put", key: k, value: k });
  }
  const seen: string[] = [];
  h.sm.onEvents((es) =>
    seen.push(...es.map((e) => `${e.type}:${e.key}@${e.revision}`))
  );
  assert.deepEqual(h.ok({ type: "delete", key: "app/", prefix: true }), {
    ok: true,
    deleted: 3,
    revision: 7,
  });
  assert.deepEqual(seen, [
    "delete:app/a@7",
    "delete:app/b@7",
    "delete:app/c/d@7",
  ]);
  assert.deepEqual(h.sm.range().kvs.map((kv) => kv.key), ["ap", "apple", "b"]);
});

Deno.test("range lists by prefix in key order with limit and paging", () => {
  const h = new Harness();
  for (const k of ["c/3", "c/1", "c/2", "d", "c/10", "b"]) {
    h.ok({ type: "put", key: k, value: "v" });
  }
  const all = h.sm.range({ prefix: "c/" });
  assert.deepEqual(all.kvs.map((k) => k.key), ["c/1", "c/10", "c/2", "c/3"]);
  assert.equal(all.more, false);
  assert.equal(all.revision, 6);
  const p1 = h.sm.range({ prefix: "c/", limit: 2 });
  assert.deepEqual(p1.kvs.map((k) => k.key), ["c/1", "c/10"]);
  assert.equal(p1.more, true);
  const p2 = h.sm.range({ prefix: "c/", limit: 2, startAfter: "c/10" });
  assert.deepEqual(p2.kvs.map((k) => k.key), ["c/2", "c/3"]);
  assert.equal(p2.more, false);
  assert.deepEqual(h.sm.range().kvs.map((k) => k.key), [
    "b",
    "c/1",
    "c/10",
    "c/2",
    "c/3",
    "d",
  ]);
});

Deno.test("keys sort by UTF-8 bytes (code points), not UTF-16 units", () => {
  const astral = "\u{1F600}"; // surrogate pair D83D DE00
  const high = "\uFF21"; // fullwidth A, above the surrogate block
  assert.ok(astral < high); // UTF-16 unit order puts the astral one first
  assert.ok(compareKeys(high, astral) < 0);
  assert.ok(compareKeys("a", "ab") < 0);
  assert.equal(compareKeys("x", "x"), 0);
  const h = new Harness();
  h.ok({ type: "put", key: astral, value: "1" });
  h.ok({ type: "put", key: high, value: "2" });
  h.ok({ type: "put", key: "z", value: "3" });
  assert.deepEqual(h.sm.range().kvs.map((k) => k.key), ["z", high, astral]);
});

Deno.test("key and value sizes are enforced in apply", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "k".repeat(MAX_KEY_BYTES), value: "" });
  h.fails(
    { type: "put", key: "k".repeat(MAX_KEY_BYTES + 1), value: "" },
    "bad_request",
  );
  // Multi-byte characters count in UTF-8 bytes: 342 * 3 = 1026 > 1024.
  h.fails({ type: "put", key: "\u20AC".repeat(342), value: "" }, "bad_request");
  h.fails({ type: "put", key: "", value: "x" }, "bad_request");
  h.ok({ type: "put", key: "big", value: "v".repeat(MAX_VALUE_BYTES) });
  h.fails(
    { type: "put", key: "big", value: "v".repeat(MAX_VALUE_BYTES + 1) },
    "bad_request",
  );
  h.fails(
    {
      type: "put",
      key: "big",
      value: "\u00e9".repeat(MAX_VALUE_BYTES / 2 + 1),
    },
    "bad_request",
  );
  assert.equal(h.sm.revision, 2);
});
