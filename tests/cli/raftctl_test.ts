import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { freePort, TestCluster } from "../support/cluster.ts";

const SCRIPT = new URL("../../cli/raftctl.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ctl(
  args: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", SCRIPT, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", RAFTLOCK_ENDPOINTS: "", ...options.env },
  }).spawn();
  if (options.stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await p.output();
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

Deno.test("raftctl against a 3-node cluster", async (t) => {
  const c = await TestCluster.start(3);
  const ep = ["--endpoints", c.urls().join(",")];
  const client = new Client({ endpoints: c.urls() });
  try {
    await t.step("status: a table of every member", async () => {
      const out = ok(await ctl(["status", ...ep]));
      const lines = out.trim().split("\n");
      assert.match(
        lines[0],
        /^ID\s+ADDRESS\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED/,
      );
      assert.equal(lines.length, 4);
      const leader = await c.waitForLeader();
      for (const id of ["n1", "n2", "n3"]) {
        const row = lines.find((l) => l.startsWith(`${id} `));
        assert.ok(row, `no row for ${id}`);
        assert.match(row, new RegExp(`\\s${leader}\\s`));
      }
      assert.equal(lines.filter((l) => /\sleader\s/.test(l)).length, 1);
      const json = JSON.parse(ok(await ctl(["state", "--json", ...ep])));
      assert.equal(json.members.length, 3);
      assert.equal(json.leader, leader);
      assert.ok(json.members.every((m: { status: unknown }) => m.status));
    });

    await t.step("leader and members", async () => {
      const leader = await c.waitForLeader();
      const out = ok(await ctl(["leader", ...ep]));
      assert.match(out, new RegExp(`^${leader}\\s`, "m"));
      assert.ok(out.includes(c.http[leader]));
      const j = JSON.parse(ok(await ctl(["leader", "--json", ...ep])));
      assert.equal(j.id, leader);
      const m = ok(await ctl(["members", ...ep]));
      assert.equal(m.trim().split("\n").length, 4);
    });

    await t.step("kv put, get, ls, del", async () => {
      assert.match(
        ok(await ctl(["kv", "put", "app/mode", "on", ...ep])),
        /OK \(revision \d+\)/,
      );
      // Flags may come first, and the env var names the endpoints too.
      assert.equal(
        ok(
          await ctl(["kv", "get", "app/mode"], {
            env: { RAFTLOCK_ENDPOINTS: c.urls().join(",") },
          }),
        ),
        "on\n",
      );
      ok(await ctl([...ep, "kv", "put", "app/level", "3"]));
      // A value that looks like a flag goes after --.
      ok(await ctl(["kv", "put", "neg", ...ep, "--", "-5"]));
      assert.equal(ok(await ctl(["kv", "get", "neg", ...ep])), "-5\n");
      const kv = JSON.parse(
        ok(await ctl(["kv", "get", "app/mode", "--json", ...ep])),
      );
      assert.equal(kv.value, "on");
      assert.equal(kv.version, 1);
      const ls = ok(await ctl(["kv", "ls", "app/", ...ep]));
      assert.match(ls, /^KEY\s+VALUE/);
      assert.match(ls, /app\/level\s+3/);
      assert.match(ls, /app\/mode\s+on/);
      const page = JSON.parse(
        ok(await ctl(["kv", "ls", "app/", "--limit", "1", "--json", ...ep])),
      );
      assert.equal(page.kvs.length, 1);
      assert.equal(page.more, true);
      // Conditional put that fails.
      const conflict = await ctl([
        "kv",
        "put",
        "app/mode",
        "off",
        "--if-mod-revision",
        "1000",
        ...ep,
      ]);
      assert.equal(conflict.code, 1);
      assert.match(conflict.stderr, /^error: .*modRevision/);
      assert.match(
        ok(await ctl(["kv", "del", "app/mode", ...ep])),
        /deleted 1 key/,
      );
      const missing = await ctl(["kv", "get", "app/mode", ...ep]);
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr, "error: key app/mode does not exist\n");
      assert.match(
        ok(await ctl(["kv", "del", "app/", "--prefix", ...ep])),
        /deleted 1 key/,
      );
    });

    await t.step("txn, leases and snapshot", async () => {
      const txn = JSON.stringify({
        compare: [{ key: "t/a", target: "version", op: "==", value: 0 }],
        success: [{ put: { key: "t/a", value: "1" } }],
        failure: [],
      });
      const r = JSON.parse(
        ok(await ctl(["txn", "-", "--json", ...ep], { stdin: txn })),
      );
      assert.equal(r.succeeded, true);
      assert.match(
        ok(await ctl(["txn", "-", ...ep], { stdin: txn })),
        /^failed/,
      );

      const g = JSON.parse(
        ok(await ctl(["lease", "grant", "30", "--json", ...ep])),
      );
      assert.equal(g.ttl, 30);
      assert.match(
        ok(await ctl(["lease", "ls", ...ep])),
        new RegExp(`^${g.id}\\s+30 s`, "m"),
      );
      assert.match(
        ok(await ctl(["lease", "keepalive", String(g.id), ...ep])),
        /renewed/,
      );
      assert.match(
        ok(await ctl(["lease", "revoke", String(g.id), ...ep])),
        /revoked/,
      );
      const gone = await ctl(["lease", "keepalive", String(g.id), ...ep]);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /does not exist/);

      const file = await Deno.makeTempFile({ suffix: ".snap" });
      try {
        assert.match(
          ok(await ctl(["snapshot", "save", file, ...ep])),
          /saved \d+ bytes/,
        );
        assert.ok((await Deno.stat(file)).size > 10);
      } finally {
        await Deno.remove(file);
      }
    });

    await t.step("lock acquire, status, release", async () => {
      const g = JSON.parse(
        ok(
          await ctl([
            "lock",
            "acquire",
            "job",
            "--ttl",
            "30",
            "--owner",
            "ci",
            "--json",
            ...ep,
          ]),
        ),
      );
      assert.ok(g.token > 0 && g.lease > 0);
      const st = ok(await ctl(["lock", "status", "job", ...ep]));
      assert.match(
        st,
        new RegExp(`^job\\s+${g.token}\\s+${g.lease}\\s+ci`, "m"),
      );
      const held = await ctl(["lock", "acquire", "job", ...ep]);
      assert.equal(held.code, 1);
      assert.match(held.stderr, new RegExp(`held.*token ${g.token}.*--wait`));
      assert.match(
        ok(await ctl(["lock", "release", "job", String(g.token), ...ep])),
        /released/,
      );
      assert.match(ok(await ctl(["lock", "status", "job", ...ep])), /is free/);
      const human = ok(
        await ctl(["lock", "acquire", "job2", "--ttl", "5", ...ep]),
      );
      assert.match(human, /^NAME\s+TOKEN\s+LEASE/);
    });

    await t.step("lock run passes the exit code and the token", async () => {
      const r = await ctl([
        "lock",
        "run",
        "runner",
        "--ttl",
        "5",
        ...ep,
        "--",
        "sh",
        "-c",
        'echo "token=$RAFTLOCK_LOCK_TOKEN name=$RAFTLOCK_LOCK_NAME"; exit 3',
      ]);
      assert.equal(r.code, 3, r.stderr);
      const m = r.stdout.match(/^token=(\d+) name=runner$/m);
      assert.ok(m, r.stdout);
      // Released afterwards; the token no longer holds it.
      assert.equal((await client.lockInfo("runner")).holder, null);
      assert.equal(await client.checkToken("runner", Number(m[1])), false);
      assert.equal(
        (await ctl(["lock", "run", "runner", ...ep, "--", "true"])).code,
        0,
      );
    });

    await t.step(
      "lock run stops the command when the lock is lost",
      async () => {
        const run = ctl([
          "lock",
          "run",
          "lost",
          "--ttl",
          "2",
          ...ep,
          "--",
          "sh",
          "-c",
          "exec sleep 30",
        ]);
        let holder = null;
        for (let i = 0; i < 100 && !holder; i++) {
          holder = (await client.lockInfo("lost")).holder;
          if (!holder) await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(holder);
        await client.revokeLease(holder.lease);
        const r = await run;
        assert.equal(r.code, 1);
        assert.match(r.stderr, /Lock lost .* was lost.*SIGTERM/);
      },
    );

    await t.step("kv watch prints events until interrupted", async () => {
      const first = await client.put("wt/a", "1");
      await client.put("wt/b", "2");
      const p = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          SCRIPT,
          "kv",
          "watch",
          "--prefix",
          "wt/",
          "--from-revision",
          String(first.revision),
          "--json",
          ...ep,
        ],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const lines: string[] = [];
      const reader = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      let sent = false;
      while (lines.length < 3) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const parts = buf.split("\n");
        buf = parts.pop()!;
        lines.push(...parts);
        if (lines.length >= 2 && !sent) {
          sent = true;
          await client.delete("wt/a");
        }
      }
      p.kill("SIGINT");
      await reader.cancel();
      const status = await p.status;
      await p.stderr.cancel();
      const events = lines.map((l) => JSON.parse(l));
      assert.deepEqual(events.map((e) => [e.type, e.key]), [
        ["put", "wt/a"],
        ["put", "wt/b"],
        ["delete", "wt/a"],
      ]);
      assert.equal(status.code, 0);
    });
  } finally {
    client.close();
    await c.close();
  }
});

Deno.test("raftctl: errors and usage", async (t) => {
  await t.step(
    "an unreachable endpoint: a clear message and exit 1",
    async () => {
      const url = `http://127.0.0.1:${freePort()}`;
      const r = await ctl(["kv", "get", "k", "--endpoints", url]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        `error: cannot reach any endpoint (${url}): is raftd running? start one with \`deno task start\`, or point --endpoints at a running node\n`,
      );
      const j = await ctl(["status", "--json", "--endpoints", url]);
      assert.equal(j.code, 1);
      assert.equal(JSON.parse(j.stderr).error.code, "unreachable");
    },
  );

  await t.step("usage errors exit 2", async () => {
    for (
      const args of [
        ["frobnicate"],
        ["kv"],
        ["kv", "get"],
        ["kv", "get", "k", "--bogus"],
        ["kv", "put", "k"],
        ["lease", "grant", "ten"],
        ["lock", "run", "job"],
        ["kv", "watch"],
        ["members", "frob"],
        ["kv", "get", "k", "--endpoints", "ftp://x"],
        [],
      ]
    ) {
      const r = await ctl(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.ok(r.stderr.length > 0 || r.stdout.length > 0);
    }
    const r = await ctl(["kv", "get"]);
    assert.match(
      r.stderr,
      /^raftctl: missing arguments\nusage: raftctl kv get <key>/,
    );
  });

  await t.step("--help works everywhere", async () => {
    for (
      const args of [
        ["--help"],
        ["help"],
        ["kv", "--help"],
        ["kv", "put", "--help"],
        ["lock", "run", "-h"],
        ["help", "lease", "keepalive"],
      ]
    ) {
      const r = await ctl(args);
      assert.equal(r.code, 0, args.join(" "));
      assert.match(r.stdout, /Usage: raftctl/);
    }
    assert.match(
      (await ctl(["--help"])).stdout,
      /lock run <name> -- <command...>/,
    );
    assert.match(
      (await ctl(["kv", "put", "--help"])).stdout,
      /--if-mod-revision/,
    );
  });
});
