import assert from "node:assert/strict";
import { Client, type ElectionEvent } from "../../src/client/mod.ts";
import { delay, ProxiedCluster } from "./helpers.ts";

async function until(cond: () => Promise<boolean> | boolean, ms = 15_000) {
  const t0 = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - t0 < ms, "condition never held");
    await delay(20);
  }
}

Deno.test("client: an observer resumes on another node when its node dies, never going back in time", async () => {
  const pc = await ProxiedCluster.start(3);
  const client = new Client({ endpoints: pc.cluster.urls() });
  // Through the proxies only, so cutting one cuts the observer's stream.
  const observer = new Client({ endpoints: pc.urls(), discover: false });
  const stop = new AbortController();
  try {
    const a = await client.campaign("ha", "a", { ttl: 5 });
    const seen: ElectionEvent[] = [];
    const obs = observer.observe("ha", { signal: stop.signal });
    const reading = (async () => {
      for await (const e of obs) seen.push(e);
    })();
    await until(() => seen.length === 1);
    assert.equal(seen[0].leader?.value, "a");
    // The node the observer streams from dies.
    await pc.kill(pc.idOf(obs.endpoint));
    // Changes made meanwhile and after are seen, in order, once.
    await a.proclaim("a2");
    await a.resign();
    const b = await client.campaign("ha", "b", { ttl: 5 });
    await until(() => seen.at(-1)?.leader?.value === "b");
    await b.resign();
    await until(() => seen.at(-1)?.leader === null);
    stop.abort();
    await reading;
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i].revision > seen[i - 1].revision, JSON.stringify(seen));
    }
    // A resume reports the state then, so the proclaim and the vacancy in
    // between may be skipped, but the order holds: a, (a2), (none), b, none.
    const values = seen.map((e) => e.leader?.value ?? null);
    assert.equal(values[0], "a");
    assert.equal(values.at(-2), "b");
    assert.equal(values.at(-1), null);
    assert.ok(values.indexOf("b") > values.lastIndexOf("a"));
  } finally {
    stop.abort();
    client.close();
    observer.close();
    await pc.close();
  }
});
