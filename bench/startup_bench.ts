/**
 * Memory and start-up with a large state (issue targets: RSS under 150 MB
 * on every node after a bulk load of 100 000 keys of 256 bytes, without a
 * forced garbage collection; start-up with that data under 2 s).
 *
 * ```sh
 * deno run -A bench/startup_bench.ts [--keys 100000] [--nodes 1|3]
 *   [--bare] [--optimize-for-size] [--v8-flags=--max-semi-space-size=1,...]
 *   [--env MALLOC_ARENA_MAX=2] [--port 18301] [--json FILE]
 * ```
 *
 * Starts `--nodes` raftd processes (fsync on), loads the keys through the
 * leader's HTTP API at 64 connections (the load's rate shows what a
 * setting costs in throughput), reports each node's resident memory (1 s
 * after the load, and again after 15 s idle, once V8 has shrunk its heap),
 * stops them, and times a restart until every node's `/readyz` answers 200
 * with every key back (memory again at once and after 15 s). The nodes'
 * own `process_memory_*` gauges show the split. A script for `deno run`;
 * under `deno bench` it does nothing.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { RAFTD_ENV, RAFTD_V8_FLAGS } from "../src/server/raftd_args.ts";

const USAGE =
  `Usage: deno run -A bench/startup_bench.ts [--keys N] [--nodes 1|3] [--bare]
  [--optimize-for-size] [--v8-flags FLAGS] [--env NAME=VALUE ...] [--port N]
  [--json FILE]

  --bare     run raftd without the runtime settings every launcher gives it
             (RAFTD_V8_FLAGS, RAFTD_ENV in src/server/raftd_args.ts), to
             measure what they do; --v8-flags and --env add to them

  --port N   the first node's HTTP port; node i uses port + 2i (HTTP) and
             port + 2i + 1 (peers)`;

const SETTLE_MS = 15_000;

interface NodeProc {
  id: string;
  http: string;
  child: Deno.ChildProcess;
}

function pad(n: number): string {
  return String(n).padStart(8, "0");
}

// CPU seconds (user + system) a process has used: what a setting costs,
// less disturbed by other load on the machine than the wall time.
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// Resident memory now and at its peak (VmHWM), in MB, from one read.
async function rssMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const mb = (field: string) =>
    Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))![1]) / 1024;
  return { rss: mb("VmRSS"), peak: mb("VmHWM") };
}

// A node's own view of its memory (the process_memory_* gauges), in MB.
async function memoryBreakdown(http: string): Promise<string> {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const mb = (name: string) => {
    const m = text.match(
      new RegExp(`^process_memory_${name}_bytes (\\d+)`, "m"),
    );
    return m ? (Number(m[1]) / 2 ** 20).toFixed(0) : "?";
  };
  return `heap used ${mb("heap_used")} / total ${
    mb("heap_total")
  } MB, external ${mb("external")} MB`;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      keys: { type: "string", default: "100000" },
      nodes: { type: "string", default: "1" },
      bare: { type: "boolean", default: false },
      "optimize-for-size": { type: "boolean", default: false },
      "v8-flags": { type: "string" },
      env: { type: "string", multiple: true },
      port: { type: "string", default: "18301" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const keys = Number(v.keys);
  const count = Number(v.nodes);
  const port = Number(v.port);
  if (!(keys > 0) || !(count >= 1) || !(port > 0)) {
    console.error(USAGE);
    Deno.exit(2);
  }
  const env: Record<string, string> = v.bare ? {} : { ...RAFTD_ENV };
  for (const e of v.env ?? []) {
    const i = e.indexOf("=");
    if (i <= 0) {
      console.error(`--env takes NAME=VALUE, got "${e}"`);
      Deno.exit(2);
    }
    env[e.slice(0, i)] = e.slice(i + 1);
  }
  const dir = await Deno.makeTempDir({ prefix: "raftlock-startup-" });
  const raftd = new URL("../cli/raftd.ts", import.meta.url).pathname;
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const httpOf = (i: number) => `127.0.0.1:${port + 2 * i}`;
  const peerOf = (i: number) => `127.0.0.1:${port + 2 * i + 1}`;
  const peers = ids.map((id, i) => `${id}=${peerOf(i)}`).join(",");

  // raftd's own V8 flags (unless --bare) and any to compare.
  const flags = [
    ...(v.bare ? [] : RAFTD_V8_FLAGS),
    ...(v["optimize-for-size"] ? ["--optimize-for-size"] : []),
    ...(v["v8-flags"] ? [v["v8-flags"]] : []),
  ];
  const v8Flags = flags.length > 0 ? [`--v8-flags=${flags.join(",")}`] : [];

  const start = (): NodeProc[] =>
    ids.map((id, i) => ({
      id,
      http: httpOf(i),
      child: new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          ...v8Flags,
          raftd,
          "--id",
          id,
          "--data-dir",
          `${dir}/${id}`,
          "--http",
          httpOf(i),
          "--listen",
          peerOf(i),
          ...(count > 1 ? ["--peers", peers] : []),
          "--log-level",
          "warn",
        ],
        env,
        stdout: "null",
        stderr: "null",
      }).spawn(),
    }));

  const ready = async (nodes: NodeProc[]): Promise<void> => {
    await Promise.all(nodes.map(async (n) => {
      for (;;) {
        try {
          const r = await fetch(`http://${n.http}/readyz`);
          await r.body?.cancel();
          if (r.ok) return;
        } catch { /* not up */ }
        await new Promise((r) => setTimeout(r, 20));
      }
    }));
  };

  const leaderOf = async (nodes: NodeProc[]): Promise<NodeProc> => {
    for (;;) {
      for (const n of nodes) {
        const s = await (await fetch(`http://${n.http}/v1/status`)).json();
        if (s.role === "leader") return n;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // Each node's RSS and heap now and after SETTLE_MS idle, then stops
  // them. V8 shrinks its heap only once the process has been idle for a
  // while (its memory reducer); what stays then is what the node holds.
  const memoryNowAndSettled = async (nodes: NodeProc[]) => {
    const now = await Promise.all(nodes.map(async (n) => ({
      ...await rssMb(n.child.pid),
      mem: await memoryBreakdown(n.http),
    })));
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const settled = await Promise.all(nodes.map(async (n) => ({
      rss: (await rssMb(n.child.pid)).rss,
      mem: await memoryBreakdown(n.http),
    })));
    for (const n of nodes) n.child.kill("SIGTERM");
    await Promise.all(nodes.map((n) => n.child.status));
    return nodes.map((n, i) => ({
      id: n.id,
      peak: now[i].peak,
      rss: now[i].rss,
      mem: now[i].mem,
      rssSettled: settled[i].rss,
      memSettled: settled[i].mem,
    }));
  };

  let nodes = start();
  await ready(nodes);
  const leader = await leaderOf(nodes);
  console.log(
    `Loading ${
      keys.toLocaleString("en-US")
    } keys of 256 B through ${leader.id}'s HTTP API (64 connections, ${count} node${
      count > 1 ? "s" : ""
    }${flags.length ? `, V8 ${flags.join(",")}` : ""}${
      Object.keys(env).length
        ? `, ${Object.entries(env).map(([k, x]) => `${k}=${x}`).join(" ")}`
        : ""
    })…`,
  );
  const value = "v".repeat(256);
  let next = 0;
  const cpu0 = await Promise.all(nodes.map((n) => cpuSeconds(n.child.pid)));
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let i = next++; i < keys; i = next++) {
      const r = await fetch(`http://${leader.http}/v1/kv/key/${pad(i)}`, {
        method: "PUT",
        body: JSON.stringify({ value }),
      });
      if (!r.ok) throw new Error(`put ${i}: ${r.status} ${await r.text()}`);
      await r.body?.cancel();
      if (i % 20_000 === 0 && Deno.stdout.isTerminal()) {
        Deno.stdout.writeSync(
          new TextEncoder().encode(`\r  ${i.toLocaleString("en-US")} keys…`),
        );
      }
    }
  }));
  const loadSeconds = (performance.now() - t0) / 1000;
  const cpu = (await Promise.all(nodes.map((n) => cpuSeconds(n.child.pid))))
    .map((c, i) => c - cpu0[i]);
  const cpuUsPerPut = cpu.map((c) => Math.round(c * 1e6 / keys));
  console.log(
    `\rLoaded in ${loadSeconds.toFixed(1)} s (${
      Math.round(keys / loadSeconds)
    } puts/s); CPU per put ${
      nodes.map((n, i) => `${n.id} ${cpuUsPerPut[i]} µs`).join(", ")
    }`,
  );
  // Every node has applied the last key.
  await Promise.all(nodes.map(async (n) => {
    for (;;) {
      const r = await fetch(
        `http://${n.http}/v1/kv/key/${pad(keys - 1)}?consistency=serializable`,
      );
      await r.body?.cancel();
      if (r.ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }));
  await new Promise((r) => setTimeout(r, 1000));
  const loaded = await memoryNowAndSettled(nodes);

  const t1 = performance.now();
  nodes = start();
  await ready(nodes);
  const startup = performance.now() - t1;
  const r = await fetch(`http://${nodes[0].http}/v1/kv/key/${pad(keys - 1)}`);
  const ok = r.ok;
  await r.body?.cancel();
  const restarted = await memoryNowAndSettled(nodes);
  await Deno.remove(dir, { recursive: true });

  const maxOf = (xs: number[]) => Math.max(...xs).toFixed(0);
  const each = (xs: { id: string; x: number }[]) =>
    xs.map((e) => `${e.id} ${e.x.toFixed(0)}`).join(", ");
  console.log(
    `\n| measure | value (MB, max of ${count}) | each node | target |`,
  );
  console.log(`| --- | ---: | --- | --- |`);
  const row = (
    what: string,
    list: { id: string; peak: number; rss: number; rssSettled: number }[],
    which: "peak" | "rss" | "rssSettled",
    target: string,
  ) => {
    const xs = list.map((e) => ({ id: e.id, x: e[which] }));
    console.log(
      `| ${what} | ${maxOf(xs.map((e) => e.x))} | ${each(xs)} | ${target} |`,
    );
  };
  row(`peak RSS while loading ${keys} keys`, loaded, "peak", "");
  row(`RSS 1 s after loading ${keys} keys`, loaded, "rss", "< 150 MB");
  row(`… and after ${SETTLE_MS / 1000} s idle`, loaded, "rssSettled", "");
  row("peak RSS of a restart", restarted, "peak", "");
  row("RSS after a restart", restarted, "rss", "< 150 MB");
  row(`… and after ${SETTLE_MS / 1000} s idle`, restarted, "rssSettled", "");
  console.log(
    `| start-up to /readyz (process start included) | ${
      startup.toFixed(0)
    } ms | | < 2000 ms |`,
  );
  console.log(`| last key present after restart | ${ok} | | true |`);
  console.log(
    `| load rate (64 connections) | ${
      Math.round(keys / loadSeconds)
    } puts/s | | |`,
  );
  console.log(
    `| CPU per put while loading | ${Math.max(...cpuUsPerPut)} µs | ${
      nodes.map((n, i) => `${n.id} ${cpuUsPerPut[i]}`).join(", ")
    } | |`,
  );
  for (const n of loaded) {
    console.log(`\n${n.id} after loading: ${n.mem}`);
    console.log(`${n.id} … and idle: ${n.memSettled}`);
  }
  for (const n of restarted) {
    console.log(`${n.id} after a restart: ${n.mem}`);
    console.log(`${n.id} … and idle: ${n.memSettled}`);
  }
  if (v.json) {
    await Deno.writeTextFile(
      v.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          keys,
          nodes: count,
          v8Flags: flags,
          env,
          loadSeconds,
          putsPerSecond: Math.round(keys / loadSeconds),
          cpuUsPerPut: Object.fromEntries(
            nodes.map((n, i) => [n.id, cpuUsPerPut[i]]),
          ),
          startupMs: Math.round(startup),
          loaded,
          restarted,
        },
        null,
        2,
      ),
    );
  }
}

if (import.meta.main) await main();
