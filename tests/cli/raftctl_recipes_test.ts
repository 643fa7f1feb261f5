/**
 * raftctl's election, semaphore and read-write lock commands, and
 * `kv put --ttl`, as processes against a 3-node cluster.
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";

const SCRIPT = new URL("../../cli/raftctl.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", SCRIPT, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", RAFTLOCK_ENDPOINTS: "" },
  }).spawn();
}

async function ctl(args: string[]): Promise<Run> {
  const out = await spawn(args).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function ok(r: Run): string {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Lines of a running process's stdout, read as they come. */
class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  readonly lines: string[] = [];

  constructor(p: Deno.ChildProcess) {
    this.#reader = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Reads until at least `n` lines have come (or the stream ends). */
  async until(n: number): Promise<string[]> {
    while (this.lines.length < n) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#buf += value;
      const parts = this.#buf.split("\n");
      this.#buf = parts.pop()!;
      this.lines.push(...parts);
    }
    return this.lines;
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

async function until(cond: () => Promise<boolean>, ms = 20_000) {
  const t0 = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - t0 < ms, "condition never held");
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("raftctl recipes against a 3-node cluster", async (t) => {
  const c = await TestCluster.start(3);
  const ep = ["--endpoints", c.urls().join(",")];
  const client = new Client({ endpoints: c.urls() });
  try {
    await t.step(
      "elect holds leadership until Ctrl-C; the next candidate follows",
      async () => {
        const a = spawn(["elect", "jobs", "host-a", "--ttl", "3", ...ep]);
        const aOut = new Lines(a);
        assert.match(
          (await aOut.until(1))[0],
          /^elected: leader of jobs \(token \d+/,
        );
        const b = spawn(["elect", "jobs", "host-b", "--json", ...ep]);
        await until(async () =>
          (await client.elections()).some((e) => e.candidates === 1)
        );
        assert.match(
          ok(await ctl(["elect", "leader", "jobs", ...ep])),
          /host-a/,
        );
        a.kill("SIGINT");
        assert.equal((await a.status).code, 0);
        await aOut.close();
        await a.stderr.cancel();
        const bOut = new Lines(b);
        const won = JSON.parse((await bOut.until(5)).join("\n"));
        assert.equal(won.value, "host-b");
        const leader = JSON.parse(
          ok(await ctl(["elect", "leader", "jobs", "--json", ...ep])),
        );
        assert.equal(leader.token, won.token);
        b.kill("SIGINT");
        assert.equal((await b.status).code, 0);
        await bOut.close();
        await b.stderr.cancel();
        const none = await ctl(["elect", "leader", "jobs", ...ep]);
        assert.equal(none.code, 1);
        assert.match(none.stderr, /nobody leads election jobs/);
      },
    );

    await t.step(
      "elect run passes the token and the exit code, then resigns",
      async () => {
        const r = await ctl([
          "elect",
          "run",
          "cron",
          "--value",
          "me",
          ...ep,
          "--",
          "sh",
          "-c",
          'echo "token=$RAFTLOCK_ELECTION_TOKEN value=$RAFTLOCK_ELECTION_VALUE"; exit 3',
        ]);
        assert.equal(r.code, 3, r.stderr);
        const m = r.stdout.match(/^token=(\d+) value=me$/m);
        assert.ok(m, r.stdout);
        assert.equal(await client.leader("cron"), null);
        assert.equal(
          await client.checkFence({ election: "cron", token: Number(m[1]) }),
          false,
        );
      },
    );

    await t.step(
      "elect run stops the command when leadership is lost: SIGTERM, then SIGKILL",
      async () => {
        const run = ctl([
          "elect",
          "run",
          "lost",
          "--ttl",
          "2",
          "--grace",
          "300",
          ...ep,
          "--",
          "sh",
          "-c",
          // Ignores SIGTERM: only the SIGKILL after the grace ends it.
          "trap '' TERM; while :; do sleep 0.1; done",
        ]);
        let lease = 0;
        await until(async () => {
          lease = (await client.leader("lost"))?.lease ?? 0;
          return lease > 0;
        });
        await client.revokeLease(lease);
        const r = await run;
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /Leadership of election lost .*was lost.*stopped/,
        );
      },
    );

    await t.step(
      "elect observe prints the leader and each change",
      async () => {
        const p = spawn(["elect", "observe", "watched", "--json", ...ep]);
        const out = new Lines(p);
        const first = JSON.parse((await out.until(1))[0]);
        assert.equal(first.leader, null);
        const g = await client.campaignOnce("watched", "x", { ttl: 5 });
        await client.proclaim("watched", g.token, "y");
        await client.resign("watched", g.token);
        const lines = await out.until(4);
        p.kill("SIGINT");
        assert.equal((await p.status).code, 0);
        await out.close();
        await p.stderr.cancel();
        const events = lines.map((l) => JSON.parse(l));
        assert.deepEqual(events.map((e) => e.leader?.value ?? null), [
          null,
          "x",
          "y",
          null,
        ]);
      },
    );

    await t.step("sem acquire, status, release, run", async () => {
      const g = JSON.parse(ok(
        await ctl([
          "sem",
          "acquire",
          "pool",
          "--limit",
          "2",
          "--ttl",
          "30",
          "--owner",
          "ci",
          "--json",
          ...ep,
        ]),
      ));
      assert.equal(g.permits, 1);
      assert.match(
        ok(await ctl(["sem", "status", "pool", ...ep])),
        /1 of 2 permits held, 1 free/,
      );
      const other = await ctl([
        "sem",
        "acquire",
        "pool",
        "--limit",
        "3",
        ...ep,
      ]);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /has limit 2, not 3/);
      const full = await ctl([
        "sem",
        "acquire",
        "pool",
        "--limit",
        "2",
        "--permits",
        "2",
        ...ep,
      ]);
      assert.equal(full.code, 1);
      assert.match(full.stderr, /1 of 2 permits free, 2 wanted; wait for it/);
      assert.match(ok(await ctl(["sem", "ls", ...ep])), /^pool\s+2\s+1\s+1/m);
      assert.match(
        ok(await ctl(["sem", "release", "pool", String(g.token), ...ep])),
        /released/,
      );
      const r = await ctl([
        "sem",
        "run",
        "pool",
        "--limit",
        "2",
        "--permits",
        "2",
        ...ep,
        "--",
        "sh",
        "-c",
        'echo "token=$RAFTLOCK_SEMAPHORE_TOKEN"',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^token=\d+$/m);
      assert.equal((await client.semaphoreInfo("pool")).limit, 0);
      const usage = await ctl(["sem", "acquire", "pool", ...ep]);
      assert.equal(usage.code, 2);
    });

    await t.step("rwlock acquire, status, release, run", async () => {
      const r1 = JSON.parse(ok(
        await ctl(["rwlock", "acquire", "doc", "read", "--json", ...ep]),
      ));
      assert.equal(r1.mode, "read");
      ok(await ctl(["rwlock", "acquire", "doc", "read", ...ep]));
      const w = await ctl(["rwlock", "acquire", "doc", "write", ...ep]);
      assert.equal(w.code, 1);
      assert.match(w.stderr, /held for reading/);
      assert.match(
        ok(await ctl(["rwlock", "status", "doc", ...ep])),
        /held for reading/,
      );
      for (const h of (await client.rwlockInfo("doc")).holders) {
        ok(await ctl(["rwlock", "release", "doc", String(h.token), ...ep]));
      }
      assert.match(ok(await ctl(["rwlock", "status", "doc", ...ep])), /free/);
      const r = await ctl([
        "rwlock",
        "run",
        "doc",
        "write",
        ...ep,
        "--",
        "sh",
        "-c",
        'echo "$RAFTLOCK_RWLOCK_MODE $RAFTLOCK_RWLOCK_TOKEN"; exit 4',
      ]);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stdout, /^write \d+$/m);
      const bad = await ctl(["rwlock", "acquire", "doc", "both", ...ep]);
      assert.equal(bad.code, 2);
    });

    await t.step("kv put --ttl gives the key its own lease", async () => {
      const out = ok(
        await ctl(["kv", "put", "tmp/a", "1", "--ttl", "30", ...ep]),
      );
      const m = out.match(/^OK \(revision \d+, lease (\d+)\)$/m);
      assert.ok(m, out);
      assert.equal((await client.get("tmp/a"))?.lease, Number(m[1]));
      const both = await ctl([
        "kv",
        "put",
        "tmp/a",
        "1",
        "--ttl",
        "3",
        "--lease",
        m[1],
        ...ep,
      ]);
      assert.equal(both.code, 2);
    });
  } finally {
    client.close();
    await c.close();
  }
});
