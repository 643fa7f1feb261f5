/**
 * Memory and start-up with a large state (issue targets: RSS under 150 MB
 * with 100 000 keys of 256 bytes; start-up with that data under 2 s).
 *
 * ```sh
 * deno run -A bench/startup_bench.ts [--keys 100000] [--optimize-for-size]
 *   [--v8-flags=--max-semi-space-size=1,...] [--port 18301]
 * ```
 *
 * Loads the keys through the HTTP API of a single raftd (fsync on),
 * reports its resident memory (1 s after the load, and again after 15 s
 * idle, once V8 has shrunk its heap), stops it, and times a restart until
 * `/readyz` answers 200 with every key back (memory again at once and
 * after 15 s). The node's own `process_memory_*` gauges show the split.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    keys: { type: "string", default: "100000" },
    "optimize-for-size": { type: "boolean", default: false },
    "v8-flags": { type: "string" },
    // HTTP port; the peer port is the next one (two runs side by side).
    port: { type: "string", default: "18301" },
    help: { type: "boolean", short: "h" },
  },
});
if (v.help) {
  console.log(
    "Usage: deno run -A bench/startup_bench.ts [--keys N] [--optimize-for-size] [--v8-flags FLAGS] [--port N]",
  );
  Deno.exit(0);
}
const keys = Number(v.keys);
const SETTLE_MS = 15_000;
const dir = await Deno.makeTempDir({ prefix: "raftlock-startup-" });
const port = Number(v.port);
const http = `127.0.0.1:${port}`;
const raftd = new URL("../cli/raftd.ts", import.meta.url).pathname;

// Extra V8 flags for raftd (to compare settings; raftd itself sets none).
function v8Flags(): string[] {
  const flags = [
    ...(v["optimize-for-size"] ? ["--optimize-for-size"] : []),
    ...(v["v8-flags"] ? [v["v8-flags"]] : []),
  ];
  return flags.length > 0 ? [`--v8-flags=${flags.join(",")}`] : [];
}

function start(): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...v8Flags(),
      raftd,
      "--data-dir",
      `${dir}/n1`,
      "--http",
      http,
      "--listen",
      `127.0.0.1:${port + 1}`,
      "--log-level",
      "warn",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function ready(): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(`http://${http}/readyz`);
      await r.body?.cancel();
      if (r.ok) return;
    } catch { /* not up */ }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
}

// The node's own view of its memory (the process_memory_* gauges), in MB:
// where the resident memory sits.
async function memoryBreakdown(): Promise<string> {
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

/**
 * The node's RSS and heap now and after SETTLE_MS idle, then stops it. V8
 * shrinks its heap only once the process has been idle for a while (its
 * memory reducer); what stays then is what the node really holds.
 */
async function memoryNowAndSettled(child: Deno.ChildProcess) {
  const rss = await rssMb(child.pid);
  const mem = await memoryBreakdown();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const rssSettled = await rssMb(child.pid);
  const memSettled = await memoryBreakdown();
  child.kill("SIGTERM");
  await child.status;
  return { rss, mem, rssSettled, memSettled };
}

let child = start();
await ready();
console.log(
  `Loading ${
    keys.toLocaleString("en-US")
  } keys of 256 B through HTTP (64 connections)…`,
);
const value = "v".repeat(256);
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: 64 }, async () => {
  for (let i = next++; i < keys; i = next++) {
    const r = await fetch(
      `http://${http}/v1/kv/key/${String(i).padStart(8, "0")}`,
      {
        method: "PUT",
        body: JSON.stringify({ value }),
      },
    );
    if (!r.ok) throw new Error(`put ${i}: ${r.status} ${await r.text()}`);
    await r.body?.cancel();
    if (i % 20_000 === 0 && Deno.stdout.isTerminal()) {
      Deno.stdout.writeSync(
        new TextEncoder().encode(`\r  ${i.toLocaleString("en-US")} keys…`),
      );
    }
  }
}));
console.log(`\rLoaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
await new Promise((r) => setTimeout(r, 1000));
const loaded = await memoryNowAndSettled(child);

const t1 = performance.now();
child = start();
await ready();
const startup = performance.now() - t1;
const r = await fetch(
  `http://${http}/v1/kv/key/${String(keys - 1).padStart(8, "0")}`,
);
const ok = r.ok;
await r.body?.cancel();
const restarted = await memoryNowAndSettled(child);
await Deno.remove(dir, { recursive: true });

console.log(`\n| measure | value | target |`);
console.log(`| --- | ---: | --- |`);
console.log(
  `| RSS after loading ${keys} keys | ${loaded.rss.toFixed(0)} MB | < 150 MB |`,
);
console.log(
  `| … and after ${SETTLE_MS / 1000} s idle | ${
    loaded.rssSettled.toFixed(0)
  } MB | |`,
);
console.log(
  `| RSS after a restart | ${restarted.rss.toFixed(0)} MB | < 150 MB |`,
);
console.log(
  `| … and after ${SETTLE_MS / 1000} s idle | ${
    restarted.rssSettled.toFixed(0)
  } MB | |`,
);
console.log(
  `| start-up to /readyz (process start included) | ${
    startup.toFixed(0)
  } ms | < 2000 ms |`,
);
console.log(`| last key present after restart | ${ok} | true |`);
console.log(`\nAfter loading: ${loaded.mem}`);
console.log(`… and idle: ${loaded.memSettled}`);
console.log(`After a restart: ${restarted.mem}`);
console.log(`… and idle: ${restarted.memSettled}`);
