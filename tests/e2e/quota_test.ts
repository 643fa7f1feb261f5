/**
 * E2E: the space quota and a full disk, with real processes.
 *
 * - A small `--quota-bytes`: writes fill the state until the leader raises
 *   the alarm; writes that add data then get 507 `quota_exceeded`, every
 *   acknowledged put is readable on every node, also after all nodes are
 *   killed and restarted (the alarm is replicated state), deletes work,
 *   and the alarm clears once usage is back under the quota.
 * - A full disk: one member's data directory is on a small tmpfs. Writes
 *   fill it; that node frees its reserve, raises its `nospace` alarm and
 *   never exits; nothing acknowledged is lost; restarted on the full disk
 *   it starts and reports the alarm; once space is freed the alarm clears
 *   and writes go on. Needs root to mount the tmpfs (skipped otherwise).
 */

import assert from "node:assert/strict";
import {
  E2E,
  type E2ECluster,
  http,
  RaftdProcess,
  reservePorts,
  sleep,
  type Status,
  withCluster,
} from "./harness.ts";

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function status(url: string): Promise<Status | undefined> {
  const r = await http<Status>(`${url}/v1/status`);
  return r.status === 200 ? r.body : undefined;
}

async function metric(url: string, name: string): Promise<number> {
  const r = await fetch(`${url}/metrics`);
  const line = (await r.text()).split("\n").find((l) =>
    l.startsWith(`${name} `)
  );
  return Number(line?.split(" ")[1]);
}

// PUTs key/i with `value` until one answers 507; returns the acknowledged
// keys. Any answer but 200 or 507 (a retriable 503 aside) fails the test.
async function fill(
  urls: string[],
  prefix: string,
  value: string,
  max: number,
  pace?: () => Promise<void>,
): Promise<string[]> {
  const acked: string[] = [];
  for (let i = 0; i < max; i++) {
    // A busy machine can leave a node far behind: let it catch up now and
    // then, so that what the test waits for depends on data, not on speed.
    if (pace && i > 0 && i % 100 === 0) await pace();
    const key = `${prefix}${i}`;
    for (let attempt = 0;; attempt++) {
      const r = await http(`${urls[i % urls.length]}/v1/kv/${key}`, {
        method: "PUT",
        body: { value },
        timeoutMs: 10_000,
      });
      if (r.status === 200) {
        acked.push(key);
        break;
      }
      if (r.status === 507) {
        const e = r.body as { error: { code: string } };
        assert.equal(e.error.code, "quota_exceeded");
        return acked;
      }
      assert.ok(
        attempt < 50 && (r.status === 503 || r.status === 0),
        `PUT ${key}: ${r.status} ${JSON.stringify(r.body)} ${r.error ?? ""}`,
      );
      await sleep(100);
    }
  }
  throw new Error(`No 507 after ${max} puts`);
}

async function assertReadable(
  url: string,
  keys: string[],
  value: string,
): Promise<void> {
  for (const key of keys) {
    const r = await http<{ value: string }>(
      `${url}/v1/kv/${key}?consistency=serializable`,
    );
    assert.equal(r.status, 200, `${url} ${key}: ${r.status}`);
    assert.equal(r.body.value, value, key);
  }
}

Deno.test({
  name:
    "e2e: a small quota: the alarm stops growth, loses nothing, survives restarts, clears",
  ...E2E,
  async fn() {
    await withCluster(
      { nodes: 3, extraArgs: ["--quota-bytes", "256KiB"] },
      async (c: E2ECluster) => {
        const urls = [...c.nodes.values()].map((p) => p.url);
        const value = "q".repeat(8 * 1024);
        const acked = await fill(urls, "fill/", value, 500);
        assert.ok(acked.length >= 10, `${acked.length} puts acknowledged`);
        const leader = await c.waitForLeader();
        const s = (await status(c.url(leader)))!;
        assert.deepEqual(s.space.alarms.map((a) => a.kind), ["quota"]);
        assert.equal(s.space.quotaBytes, 256 * 1024);
        assert.ok(s.space.stateBytes > 256 * 1024);
        assert.equal(await metric(c.url(leader), "raftlock_quota_alarm"), 1);
        // Writes that add data are refused everywhere; others go on.
        const lease = await http(`${urls[1]}/v1/leases`, {
          method: "POST",
          body: { ttl: 10 },
        });
        assert.equal(lease.status, 507);
        const shrink = await http(`${urls[2]}/v1/kv/${acked[0]}`, {
          method: "PUT",
          body: { value: "small" },
        });
        assert.equal(shrink.status, 200);
        acked.shift();
        await c.waitApplied([...c.nodes.keys()]);
        for (const u of urls) await assertReadable(u, acked, value);

        // Every node killed and restarted: the alarm and the data are back.
        for (const p of c.nodes.values()) await p.kill("SIGKILL");
        for (const p of c.nodes.values()) p.start();
        const again = await c.waitForLeader({ timeoutMs: 30_000 });
        await c.waitApplied([...c.nodes.keys()]);
        assert.deepEqual(
          (await status(c.url(again)))!.space.alarms.map((a) => a.kind),
          ["quota"],
        );
        for (const u of urls) await assertReadable(u, acked, value);
        const refused = await http(`${urls[0]}/v1/kv/more`, {
          method: "PUT",
          body: { value: "x" },
        });
        assert.equal(refused.status, 507);

        // Deleting brings usage back under the quota: the alarm clears.
        const del = await http(`${urls[0]}/v1/kv/fill/?prefix=true`, {
          method: "DELETE",
        });
        assert.equal(del.status, 200);
        await until("the alarm to clear", async () => {
          const st = await status(c.url(again));
          return st && st.space.alarms.length === 0 ? true : undefined;
        });
        const ok = await http(`${urls[1]}/v1/kv/more`, {
          method: "PUT",
          body: { value: "x" },
        });
        assert.equal(ok.status, 200);
        assert.equal(await metric(urls[1], "raftlock_quota_alarm"), 0);
        for (const p of c.nodes.values()) assert.ok(p.running, p.id);
      },
    );
  },
});

/** Mounts a tmpfs of `size` on `dir`, or says why it cannot. */
async function mountTmpfs(dir: string, size: string): Promise<Error | null> {
  try {
    const out = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
      stdout: "null",
      stderr: "piped",
    }).output();
    return out.success
      ? null
      : new Error(new TextDecoder().decode(out.stderr).trim());
  } catch (e) {
    return e as Error;
  }
}

Deno.test({
  name:
    "e2e: a full disk raises the alarm instead of killing the node; nothing is lost",
  ...E2E,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "raftlock-e2e-disk-" });
    const mnt = `${dir}/n3`;
    await Deno.mkdir(mnt);
    const mounted = await mountTmpfs(mnt, "8m");
    if (mounted) {
      console.log(
        `skipped: cannot mount a tmpfs here (needs root): ${mounted.message}`,
      );
      await t.step({ name: "needs a tmpfs (root)", ignore: true, fn() {} });
      await Deno.remove(dir, { recursive: true });
      return;
    }
    const ports = reservePorts(6);
    const peers = { n1: "", n2: "", n3: "" } as Record<string, string>;
    const ids = Object.keys(peers);
    ids.forEach((id, i) => (peers[id] = `127.0.0.1:${ports[i]}`));
    const nodes = ids.map((id, i) =>
      new RaftdProcess({
        id,
        listen: peers[id],
        http: `127.0.0.1:${ports[3 + i]}`,
        dataDir: id === "n3" ? `${mnt}/data` : `${dir}/${id}`,
        peers,
        extraArgs: ["--disk-reserve-bytes", "1MiB", "--log-level", "info"],
      })
    );
    const [, , n3] = nodes;
    const urls = nodes.map((p) => p.url);
    try {
      // Room that the "operator" frees later.
      await Deno.writeFile(`${mnt}/ballast`, new Uint8Array(2 * 1024 * 1024));
      for (const p of nodes) p.start();
      await until("a leader", async () => {
        const st = await Promise.all(urls.map(status));
        const l = st.find((s) => s?.role === "leader");
        return l && st.every((s) => s?.leader === l.id) ? l : undefined;
      });
      const value = "d".repeat(16 * 1024);
      // n1 and n2 take the writes; n3's disk fills with its copy of the log.
      // n3 catches up (or reports the full disk) every 100 puts.
      let seen = "";
      const pace = () =>
        until("n3 to catch up or to report its full disk", async () => {
          const [s1, s3] = await Promise.all([status(urls[0]), status(n3.url)]);
          seen = JSON.stringify({
            commit: s1?.commit,
            n3: s3 && { applied: s3.applied, space: s3.space },
          });
          if (!s1 || !s3) return undefined;
          const full = s3.space.noSpace ||
            s3.space.alarms.some((a) => a.kind === "nospace");
          return full || s3.applied >= s1.commit - 10 ? true : undefined;
        }, 60_000).then(() => {}, (e) => {
          throw new Error(`${e.message}; last seen ${seen}`);
        });
      const acked = await fill(urls.slice(0, 2), "disk/", value, 5000, pace);
      assert.ok(acked.length >= 50, `${acked.length} puts acknowledged`);
      // The cluster holds n3's alarm. n3 itself may not have applied it:
      // entries it has no room to write it cannot apply.
      const s1 = await until("n3's nospace alarm", async () => {
        const s = await status(urls[0]);
        return s?.space.alarms.some((a) => a.kind === "nospace")
          ? s
          : undefined;
      });
      assert.deepEqual(s1.space.alarms.map((a) => [a.kind, a.node]), [[
        "nospace",
        "n3",
      ]]);
      assert.equal((await status(n3.url))?.space.noSpace, true);
      assert.ok(
        n3.findLogs((r) => r.event === "storage.reserve_released").length > 0,
      );
      assert.equal(await metric(n3.url, "raftlock_disk_no_space"), 1);
      assert.ok(n3.running, "n3 exited");
      assert.equal(n3.findLogs((r) => r.event === "raftd.fatal").length, 0);
      // Reads work on n3 and everywhere; a delete goes through.
      for (const u of urls.slice(0, 2)) await assertReadable(u, acked, value);
      const del = await http(`${urls[0]}/v1/kv/${acked.pop()}`, {
        method: "DELETE",
        timeoutMs: 10_000,
      });
      assert.equal(del.status, 200);

      // n3 restarted on its full disk starts, reads, and reports the alarm.
      await n3.kill("SIGKILL");
      n3.start();
      const back = await until("n3 back", async () => {
        const s = await status(n3.url);
        return s?.leader ? s : undefined;
      });
      assert.equal(back.space.noSpace, true);
      const after = await status(urls[0]);
      assert.ok(after?.space.alarms.some((a) => a.node === "n3"));
      const read = await http<{ value: string }>(
        `${n3.url}/v1/kv/${acked[0]}?consistency=serializable`,
      );
      assert.equal(read.status, 200);
      assert.equal(read.body.value, value);

      // The operator frees space: the alarm clears and writes go on.
      await Deno.remove(`${mnt}/ballast`);
      await until("the alarm to clear", async () => {
        const s = await status(urls[0]);
        return s && s.space.alarms.length === 0 ? true : undefined;
      }, 30_000);
      await until("a write", async () => {
        const r = await http(`${urls[0]}/v1/kv/after`, {
          method: "PUT",
          body: { value: "x" },
        });
        return r.status === 200 ? true : undefined;
      });
      // Everything acknowledged is on n3 too, once it has caught up.
      await until("n3 to catch up", async () => {
        const [s1, s] = await Promise.all([status(urls[0]), status(n3.url)]);
        return s1 && s && s.applied >= s1.commit ? true : undefined;
      }, 30_000);
      await assertReadable(n3.url, acked, value);
      for (const p of nodes) assert.ok(p.running, `${p.id} exited`);
    } catch (e) {
      for (const p of nodes) {
        console.error(`---- ${p.id}`);
        for (const l of p.tail(40)) console.error(`[${p.id}] ${l}`);
      }
      throw e;
    } finally {
      await Promise.allSettled(
        nodes.filter((p) => p.starts > 0).map((p) => p.kill("SIGKILL")),
      );
      await new Deno.Command("umount", { args: [mnt] }).output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
