/**
 * What each response header costs a Deno HTTP server: a bare `Deno.serve`
 * (in a child process) answers one fixed JSON body with 0 to 14 headers
 * (the API's old secure-header set, then the current one), wrk drives it at
 * 64 connections, and the child's CPU time from `/proc` is divided by the
 * requests wrk completed. The reason JSON answers carry only the API set of
 * security headers (`docs/performance.md`, "Fewer headers on JSON answers").
 *
 * ```sh
 * deno run -A bench/header_cost.ts             # 0, 4, 8, 14 headers, 5 s each
 * deno run -A bench/header_cost.ts --seconds 10 --counts 0,8,14
 * ```
 *
 * Needs wrk (apt-get install wrk) and Linux (`/proc`). Run it on a quiet
 * machine; the figures are a comparison between rows of one run.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** The headers of a JSON answer before 2026-12-03, in order. */
const HEADERS: [string, string][] = [
  ["content-type", "application/json"],
  ["cross-origin-resource-policy", "same-origin"],
  ["x-content-type-options", "nosniff"],
  ["x-raft-revision", "12345"],
  ["x-raft-term", "3"],
  ["x-frame-options", "SAMEORIGIN"],
  ["strict-transport-security", "max-age=15552000; includeSubDomains"],
  ["cross-origin-opener-policy", "same-origin"],
  ["origin-agent-cluster", "?1"],
  ["referrer-policy", "no-referrer"],
  ["x-dns-prefetch-control", "off"],
  ["x-download-options", "noopen"],
  ["x-permitted-cross-domain-policies", "none"],
  ["x-xss-protection", "0"],
];

const BODY = JSON.stringify({
  key: "k000001",
  value: "v".repeat(16),
  createRevision: 5,
  modRevision: 5,
  version: 1,
  lease: 0,
});

/** The child: serves on `port` with the first `count` headers. */
function serve(port: number, count: number): void {
  const headers = HEADERS.slice(0, count);
  Deno.serve(
    { port, hostname: "127.0.0.1", onListen: () => console.log("ready") },
    () => new Response(BODY, { headers }),
  );
}

function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at ") ".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

async function wrk(url: string, seconds: number): Promise<number> {
  const out = await new Deno.Command("wrk", {
    args: ["-t2", "-c64", `-d${seconds}s`, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const m = text.match(/(\d+) requests in/);
  if (!out.success || !m) throw new Error(`wrk failed: ${text}`);
  return Number(m[1]);
}

async function measure(count: number, seconds: number, port: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "--serve",
      String(port),
      "--count",
      String(count),
    ],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "ready"
  reader.releaseLock();
  try {
    const url = `http://127.0.0.1:${port}/`;
    await wrk(url, 1); // warm-up
    const t0 = cpuTicks(child.pid);
    const requests = await wrk(url, seconds);
    const ticks = cpuTicks(child.pid) - t0;
    // Clock ticks are 10 ms on Linux (USER_HZ 100).
    return {
      count,
      perSecond: Math.round(requests / seconds),
      cpuMicros: (ticks * 10_000) / requests,
    };
  } finally {
    child.kill();
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      serve: { type: "string" },
      count: { type: "string", default: "0" },
      seconds: { type: "string", default: "5" },
      counts: { type: "string", default: "0,4,8,14" },
    },
  });
  if (values.serve) {
    serve(Number(values.serve), Number(values.count));
  } else {
    const seconds = Number(values.seconds);
    const counts = values.counts.split(",").map(Number);
    console.log("| headers | requests/s | server CPU µs per request |");
    console.log("| ------: | ---------: | ------------------------: |");
    for (const [i, count] of counts.entries()) {
      console.error(
        `header_cost: ${
          i + 1
        }/${counts.length}, ${count} headers, ${seconds} s…`,
      );
      const r = await measure(count, seconds, 9700 + i);
      console.log(
        `| ${r.count} | ${r.perSecond} | ${r.cpuMicros.toFixed(1)} |`,
      );
    }
  }
}
