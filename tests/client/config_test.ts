import assert from "node:assert/strict";
import { Client, type PrefixChange } from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";
import { delay } from "./helpers.ts";

Deno.test("config: getPrefix and followPrefix", async (t) => {
  const c = await TestCluster.start(3);
  const client = new Client({ endpoints: c.urls() });
  try {
    await client.put("cfg/a", "1");
    const last = await client.put("cfg/b", "2");
    await client.put("other/x", "3");

    await t.step("getPrefix reads a map at one revision", async () => {
      const r = await client.getPrefix("cfg/");
      assert.deepEqual(r.values, { "cfg/a": "1", "cfg/b": "2" });
      assert.ok(r.revision >= last.revision);
      const s = await client.getPrefix("cfg/", { stripPrefix: true });
      assert.deepEqual(s.values, { a: "1", b: "2" });
    });

    await t.step("followPrefix calls back with the whole map", async () => {
      const maps: Record<string, string>[] = [];
      const changes: PrefixChange[] = [];
      const stop = await client.followPrefix("cfg/", (values, change) => {
        maps.push(values);
        changes.push(change);
      }, { stripPrefix: true });
      assert.deepEqual(maps, [{ a: "1", b: "2" }]);
      await client.put("cfg/c", "3");
      await client.delete("cfg/a");
      await client.put("other/y", "ignored");
      const t0 = Date.now();
      while (maps.length < 3 && Date.now() - t0 < 15_000) await delay(10);
      await delay(100);
      await stop();
      assert.deepEqual(maps, [
        { a: "1", b: "2" },
        { a: "1", b: "2", c: "3" },
        { b: "2", c: "3" },
      ]);
      assert.equal(changes[1].events[0].key, "cfg/c");
      assert.ok(changes[2].revision > changes[1].revision);
      // Nothing after stop.
      await client.put("cfg/d", "4");
      await delay(100);
      assert.equal(maps.length, 3);
    });
  } finally {
    client.close();
    await c.close();
  }
});
