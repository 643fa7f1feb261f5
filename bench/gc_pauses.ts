/**
 * V8's own garbage-collection pauses in a `raftd` under a put load: the
 * stop-the-world part of each young-generation scavenge and each full
 * mark-compact, as `--trace-gc` reports them. These pauses are what the
 * event loop's delay is made of when nothing else blocks it, so they are
 * the floor under `raftlock_event_loop_delay_seconds`.
 *
 * ```sh
 * deno run -A bench/gc_pauses.ts                                  # defaults
 * deno run -A bench/gc_pauses.ts --v8-flags=--max-semi-space-size=2
 * ```
 *
 * One single-node raftd (fsync on), `--connections` loops putting 256-byte
 * values to 100 000 keys for `--seconds`. A script for `deno run`; under
 * `deno bench` it does nothing.
 *
 * @module
 */

import { parseArgs } from "node:util";

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "30" },
      connections: { type: "string", default: "64" },
      "v8-flags": { type: "string" },
      port: { type: "string", default: "18601" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    console.log(
      "Usage: deno run -A bench/gc_pauses.ts [--seconds 30] [--connections 64] [--v8-flags FLAGS] [--port 18601]",
    );
    return;
  }
  const port = Number(v.port);
  const flags = ["--trace-gc", ...(v["v8-flags"] ? [v["v8-flags"]] : [])];
  const dir = await Deno.makeTempDir({ prefix: "raftlock-gc-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--v8-flags=${flags.join(",")}`,
      new URL("../cli/raftd.ts", import.meta.url).pathname,
      "--data-dir",
      dir,
      "--http",
      `127.0.0.1:${port}`,
      "--listen",
      `127.0.0.1:${port + 1}`,
      "--log-level",
      "warn",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const trace = (async () => {
    let t = "";
    for await (const c of child.stdout.pipeThrough(new TextDecoderStream())) {
      t += c;
    }
    return t;
  })();
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      await r.body?.cancel();
      if (r.ok) break;
    } catch { /* not up */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  const value = "v".repeat(256);
  let puts = 0;
  const end = Date.now() + Number(v.seconds) * 1000;
  await Promise.all(
    Array.from({ length: Number(v.connections) }, async () => {
      while (Date.now() < end) {
        const r = await fetch(
          `http://127.0.0.1:${port}/v1/kv/key/${puts++ % 100_000}`,
          { method: "PUT", body: JSON.stringify({ value }) },
        );
        await r.body?.cancel();
      }
    }),
  );
  child.kill("SIGTERM");
  await child.status;
  const text = await trace;
  await Deno.remove(dir, { recursive: true });

  const pauses: Record<string, number[]> = {};
  const re =
    /(Scavenge|Mark-Compact|Minor Mark-Sweep)[^\n]*?, ([0-9.]+) \/ ([0-9.]+) ms/g;
  for (const m of text.matchAll(re)) (pauses[m[1]] ??= []).push(Number(m[2]));
  console.log(
    `raftd ${flags.join(" ")}: ${puts} puts in ${v.seconds} s (${
      Math.round(puts / Number(v.seconds))
    }/s), load average ${
      (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(
        " ",
      )
    }`,
  );
  for (const [kind, xs] of Object.entries(pauses)) {
    xs.sort((a, b) => a - b);
    const at = (q: number) =>
      xs[Math.min(xs.length - 1, Math.floor(xs.length * q))];
    console.log(
      `  ${kind}: ${xs.length} pauses, p50 ${at(0.5)} ms, p99 ${
        at(0.99)
      } ms, max ${xs.at(-1)} ms, ${
        xs.filter((x) => x > 20).length
      } over 20 ms, total ${xs.reduce((a, b) => a + b, 0).toFixed(0)} ms`,
    );
  }
}

if (import.meta.main) await main();
