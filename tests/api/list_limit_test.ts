/**
 * The list page limit that docs/api.md promises: a listing (`GET /v1/kv`,
 * or a prefix get in a transaction) without `limit` answers one page of at
 * most 10 000 keys and says there are more.
 */

import assert from "node:assert/strict";
import { MAX_LIST_LIMIT } from "../../src/api/schemas.ts";
import { withNode } from "./single_node.ts";

Deno.test("a listing without limit answers one page of 10 000 and more: true", async () => {
  await withNode(async (n) => {
    const total = MAX_LIST_LIMIT + 5;
    for (let i = 0; i < total; i += 128) {
      const success = [];
      for (let j = i; j < Math.min(total, i + 128); j++) {
        success.push({
          put: { key: `big/${String(j).padStart(6, "0")}`, value: "v" },
        });
      }
      const r = await n.call("POST", "/v1/txn", { compare: [], success });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }
    for (const q of ["prefix=big/", "prefix=big/&limit=0"]) {
      const page = await n.call("GET", `/v1/kv?${q}`);
      assert.equal(page.status, 200);
      const kvs = page.json.kvs as { key: string }[];
      assert.equal(kvs.length, MAX_LIST_LIMIT, q);
      assert.equal(page.json.more, true, q);
      assert.equal(kvs.at(-1)!.key, "big/009999");
    }
    const rest = await n.call(
      "GET",
      "/v1/kv?prefix=big/&startAfter=big/009999",
    );
    assert.equal((rest.json.kvs as unknown[]).length, 5);
    assert.equal(rest.json.more, false);

    const txn = await n.call("POST", "/v1/txn", {
      compare: [],
      success: [{ get: { key: "big/", prefix: true } }],
    });
    assert.equal(txn.status, 200);
    const got = (txn.json.results as { kvs: unknown[]; more: boolean }[])[0];
    assert.equal(got.kvs.length, MAX_LIST_LIMIT);
    assert.equal(got.more, true);
  });
});
