/**
 * What watchers cost a node in resident memory (issue 13: watch limits).
 *
 * ```sh
 * deno run -A bench/watch_memory.ts                      # every scenario
 * deno run -A bench/watch_memory.ts --scenario idle --watchers 2000
 * deno run -A bench/watch_memory.ts --raftd ../old/cli/raftd.ts   # another build
 * ```
 *
 * Each scenario starts a fresh single-node `raftd` (fsync on) and reads its
 * RSS from `/proc/<pid>/status`:
 *
 * - `no-watchers`: 50 writes of 1 MiB (the control for the next one).
 * - `stalled-live`: 10 watchers that never read (raw TCP connections that
 *   send the request and nothing else), then 50 writes of 1 MiB.
 * - `stalled-replay`: 60 writes of 1 MiB, then 10 watchers from revision 1
 *   that never read.
 * - `idle`: `--watchers` (2 000) watch streams that read, idle; then
 *   writes flowing (100 small puts a second for 10 s), every watcher
 *   counting the events it gets.
 *
 * A script for `deno run`; under `deno bench` it does nothing.
 *
 * @module
 */

import { parseArgs } from "node:util";

const USAGE = `Usage: deno run -A bench/watch_memory.ts [options]

  --scenario NAME   no-watchers, stalled-live, stalled-replay, idle or all
                    (default all; several with commas)
  --watchers N      watchers of the idle scenario (default 2000)
  --raftd PATH      the raftd to run (default this checkout's cli/raftd.ts)
  --port N          HTTP port (default 18401; the peer port is the next)
  --json FILE       also write the results as JSON
  -h, --help        this help`;

interface Result {
  scenario: string;
  [measure: string]: unknown;
}

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Node {
  readonly child: Deno.ChildProcess;
  readonly url: string;
  constructor(
    readonly raftd: string,
    readonly dir: string,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        raftd,
        "--data-dir",
        `${dir}/n1`,
        "--http",
        `127.0.0.1:${port}`,
        "--listen",
        `127.0.0.1:${port + 1}`,
        "--log-level",
        "warn",
      ],
      // Its own checkout's deno.json (when comparing with another build).
      cwd: raftd.replace(/\/cli\/raftd\.ts$/, "") || ".",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  async ready(): Promise<void> {
    let exited = false;
    this.child.status.then(() => (exited = true));
    for (;;) {
      if (exited) {
        throw new Error(
          `raftd exited at start (is port ${this.port} or ${
            this.port + 1
          } taken?)`,
        );
      }
      try {
        const r = await fetch(`${this.url}/readyz`);
        await r.body?.cancel();
        if (r.ok) return;
      } catch { /* not up */ }
      await sleep(20);
    }
  }

  rss(): Promise<number> {
    return rssMb(this.child.pid);
  }

  async put(key: string, value: string): Promise<number> {
    const r = await fetch(`${this.url}/v1/kv/${key}`, {
      method: "PUT",
      body: JSON.stringify({ value }),
    });
    const body = await r.json();
    if (!r.ok) {
      throw new Error(`put ${key}: ${r.status} ${JSON.stringify(body)}`);
    }
    return body.revision;
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // It exited already.
    }
    await this.child.status;
  }
}

// A watcher that sends its request and never reads the answer.
async function stalledWatch(port: number, query: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `GET /v1/watch?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
    ),
  );
  return conn;
}

// A watcher that reads and counts the events it gets.
function readingWatch(url: string, signal: AbortSignal) {
  const w = { events: 0, open: false, done: Promise.resolve() };
  w.done = (async () => {
    try {
      const r = await fetch(`${url}/v1/watch?prefix=w/`, { signal });
      if (!r.ok) throw new Error(`watch: ${r.status} ${await r.text()}`);
      w.open = true;
      const reader = r.body!.getReader();
      // Aborting the fetch does not always end a pending read of its
      // body (Deno 2.9), so the reader is cancelled too.
      signal.addEventListener("abort", () => reader.cancel().catch(() => {}));
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = dec.decode(value, { stream: true });
        for (let i = text.indexOf("event: put"); i >= 0;) {
          w.events++;
          i = text.indexOf("event: put", i + 1);
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  })();
  return w;
}

// The RSS every 250 ms while `during` runs: its peak, and the value after.
async function peakDuring(
  n: Node,
  during: () => Promise<void>,
): Promise<number> {
  let peak = await n.rss();
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await n.rss());
      await sleep(250);
    }
  })();
  try {
    await during();
  } finally {
    running = false;
    await sampler;
  }
  return Math.max(peak, await n.rss());
}

const MIB_VALUE = "x".repeat(1024 * 1024 - 64);

async function heapMb(n: Node): Promise<Record<string, number>> {
  const text = await (await fetch(`${n.url}/metrics`)).text();
  const mb = (name: string) => round(metric(text, name) / 2 ** 20);
  return {
    heapUsedMb: mb("process_memory_heap_used_bytes"),
    externalMb: mb("process_memory_external_bytes"),
  };
}

async function stalledLive(n: Node, watchers = 10): Promise<Result> {
  const before = await n.rss();
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < watchers; i++) {
    conns.push(await stalledWatch(n.port, "prefix=big/"));
  }
  await sleep(500);
  const withWatchers = await n.rss();
  const peak = await peakDuring(n, async () => {
    for (let i = 0; i < 50; i++) await n.put(`big/${i}`, MIB_VALUE);
    await sleep(2000);
  });
  const after = await n.rss();
  const metrics = await (await fetch(`${n.url}/metrics`)).text();
  await sleep(10_000);
  const settled = await n.rss();
  const heap = await heapMb(n);
  for (const c of conns) c.close();
  return {
    scenario: watchers ? "stalled-live" : "no-watchers",
    what: `${watchers} watchers that never read, then 50 writes of 1 MiB`,
    rssBeforeMb: round(before),
    rssWithWatchersMb: round(withWatchers),
    rssPeakMb: round(peak),
    rssAfterMb: round(after),
    rssAfter10sMb: round(settled),
    ...heap,
    overflows: metric(metrics, "raftlock_watch_overflows_total"),
    watchersLeft: metric(metrics, "raftlock_watchers"),
  };
}

async function stalledReplay(n: Node): Promise<Result> {
  for (let i = 0; i < 60; i++) await n.put(`big/${i}`, MIB_VALUE);
  await sleep(2000);
  const before = await n.rss();
  const conns: Deno.Conn[] = [];
  const peak = await peakDuring(n, async () => {
    for (let i = 0; i < 10; i++) {
      conns.push(await stalledWatch(n.port, "prefix=big/&fromRevision=1"));
    }
    await sleep(10_000);
  });
  const after = await n.rss();
  const heap = await heapMb(n);
  for (const c of conns) c.close();
  return {
    scenario: "stalled-replay",
    what:
      "60 writes of 1 MiB, then 10 watchers from revision 1 that never read",
    rssBeforeMb: round(before),
    rssPeakMb: round(peak),
    rssAfter10sMb: round(after),
    deltaMb: round(after - before),
    ...heap,
  };
}

async function idle(n: Node, count: number): Promise<Result> {
  const before = await n.rss();
  const ctl = new AbortController();
  const watchers = [];
  for (let i = 0; i < count; i++) {
    watchers.push(readingWatch(n.url, ctl.signal));
    if (i % 100 === 99) await sleep(10);
  }
  const t0 = Date.now();
  while (watchers.some((w) => !w.open) && Date.now() - t0 < 60_000) {
    await sleep(100);
  }
  const opened = watchers.filter((w) => w.open).length;
  console.error(`  ${opened} watchers open`);
  await sleep(2000);
  const idleRss = await n.rss();
  console.error(`  idle: ${round(idleRss)} MB; writing…`);
  let writes = 0;
  const peak = await peakDuring(n, async () => {
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const tick = Date.now();
      await Promise.all(
        Array.from(
          { length: 10 },
          () => n.put(`w/${writes++ % 100}`, "v".repeat(100)),
        ),
      );
      await sleep(Math.max(0, 100 - (Date.now() - tick)));
    }
    console.error(`  ${writes} writes; settling…`);
    await sleep(2000);
  });
  const busyRss = await n.rss();
  const got = watchers.map((w) => w.events);
  console.error(`  closing…`);
  ctl.abort();
  await Promise.all(watchers.map((w) => w.done));
  return {
    scenario: "idle",
    what:
      `${count} reading watchers: idle, then ${writes} small writes in 10 s`,
    watchersOpened: opened,
    rssBeforeMb: round(before),
    rssIdleMb: round(idleRss),
    rssPeakWritingMb: round(peak),
    rssAfterWritingMb: round(busyRss),
    writes,
    eventsPerWatcherMin: Math.min(...got),
    eventsPerWatcherMax: Math.max(...got),
  };
}

function metric(text: string, name: string): number {
  const m = text.match(new RegExp(`^${name} (\\S+)$`, "m"));
  return m ? Number(m[1]) : NaN;
}

function round(x: number): number {
  return Math.round(x);
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      scenario: { type: "string", default: "all" },
      watchers: { type: "string", default: "2000" },
      raftd: { type: "string" },
      port: { type: "string", default: "18401" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const raftd = v.raftd ??
    new URL("../cli/raftd.ts", import.meta.url).pathname;
  const port = Number(v.port);
  const scenarios = v.scenario === "all"
    ? ["no-watchers", "stalled-live", "stalled-replay", "idle"]
    : v.scenario!.split(",");
  const results: Result[] = [];
  for (const s of scenarios) {
    const dir = await Deno.makeTempDir({ prefix: "raftlock-watchmem-" });
    const n = new Node(raftd, dir, port);
    try {
      await n.ready();
      await sleep(500);
      const r = s === "stalled-live"
        ? await stalledLive(n)
        : s === "no-watchers"
        ? await stalledLive(n, 0)
        : s === "stalled-replay"
        ? await stalledReplay(n)
        : s === "idle"
        ? await idle(n, Number(v.watchers))
        : undefined;
      if (!r) throw new Error(`Unknown scenario ${s}`);
      results.push(r);
      console.log(JSON.stringify(r));
    } finally {
      await n.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
  if (v.json) {
    await Deno.writeTextFile(
      v.json,
      JSON.stringify(
        { raftd, date: new Date().toISOString(), results },
        null,
        2,
      ),
    );
  }
}

if (import.meta.main) await main();
