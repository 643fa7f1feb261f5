/**
 * Memory and start-up with a large state (issue targets: RSS under 150 MB
 * with 100 000 keys of 256 bytes; start-up with that data under 2 s).
 *
 * ```sh
 * deno run -A bench/startup_bench.ts [--keys 100000] [--optimize-for-size]
 * ```
 *
 * Loads the keys through the HTTP API of a single raftd (fsync on),
 * reports its resident memory, stops it, and times a restart until
 * `/readyz` answers 200 with every key back.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    keys: { type: "string", default: "100000" },
    "optimize-for-size": { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
if (v.help) {
  console.log("Usage: deno run -A bench/startup_bench.ts [--keys N]");
  Deno.exit(0);
}
const keys = Number(v.keys);
const dir = await Deno.makeTempDir({ prefix: "raftlock-startup-" });
const http = "127.0.0.1:18301";
const raftd = new URL("../cli/raftd.ts", import.meta.url).pathname;

function start(): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(v["optimize-for-size"] ? ["--v8-flags=--optimize-for-size"] : []),
      raftd,
      "--data-dir",
      `${dir}/n1`,
      "--http",
      http,
      "--listen",
      "127.0.0.1:18302",
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
const rssLoaded = await rssMb(child.pid);
child.kill("SIGTERM");
await child.status;

const t1 = performance.now();
child = start();
await ready();
const startup = performance.now() - t1;
const r = await fetch(
  `http://${http}/v1/kv/key/${String(keys - 1).padStart(8, "0")}`,
);
const ok = r.ok;
await r.body?.cancel();
const rssRestarted = await rssMb(child.pid);
child.kill("SIGTERM");
await child.status;
await Deno.remove(dir, { recursive: true });

console.log(`\n| measure | value | target |`);
console.log(`| --- | ---: | --- |`);
console.log(
  `| RSS after loading ${keys} keys | ${rssLoaded.toFixed(0)} MB | < 150 MB |`,
);
console.log(
  `| RSS after a restart | ${rssRestarted.toFixed(0)} MB | < 150 MB |`,
);
console.log(
  `| start-up to /readyz (process start included) | ${
    startup.toFixed(0)
  } ms | < 2000 ms |`,
);
console.log(`| last key present after restart | ${ok} | true |`);
