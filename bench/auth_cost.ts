/**
 * What client auth costs: `deno run -A bench/auth_cost.ts`.
 *
 * Starts a 3-node raftlock cluster (real processes on loopback, fsync on),
 * makes `root` and a user `bench` whose role may read and write the keys
 * the wrk scripts use (`k…`), and runs `wrk` against the leader for puts
 * and linearizable gets at each connection count, with auth off and on in
 * the same run: auth is toggled between rows (off then on, on then off in
 * the next round), so both see the same processes, data and machine state.
 * With auth on, every request carries `bench`'s bearer token (the wrk
 * scripts' `token=` argument): the node verifies it (a cached HMAC), looks
 * the user up and checks its role, and the state machine checks the role
 * again when a write applies.
 *
 * Also measures one password check (PBKDF2-SHA-256 at the default
 * 600 000 iterations, in this process; median of 10), one login over
 * HTTP (`POST /v1/auth/token` on the leader; median of 10), and the CPU
 * time auth adds to a request, in-process: the HTTP app over one node on
 * memory storage and an in-memory transport (no sockets, no fsync), a get
 * and a put, auth off and on in alternating batches (the fastest batch of
 * each counts, which a shared machine disturbs least).
 *
 * Each row records the leader and term before and after (a change is
 * marked and the row kept out of the medians) and the load average, since
 * the machine may be shared.
 *
 * ```sh
 * deno run -A bench/auth_cost.ts                         # 10 s rows, 1 and 64 connections, 2 rounds
 * deno run -A bench/auth_cost.ts --seconds 3 --rounds 1  # a smoke run
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DEFAULT_PBKDF2_ITERATIONS,
  hashPassword,
  verifyPassword,
} from "../src/auth/mod.ts";
import { SingleNode } from "../tests/api/single_node.ts";
import { cleanup } from "./load/cleanup.ts";
import { startRaftlock } from "./load/clusters.ts";
import { describeMachine, machineLine } from "./load/machine.ts";
import { runWrk, wrkVersion } from "./load/wrk.ts";

const USAGE = `Usage: deno run -A bench/auth_cost.ts [options]

  --seconds N        measured seconds per row (default 10)
  --warmup N         warm-up seconds before each row (default 1)
  --connections L    connection counts (default 1,64)
  --rounds N         rounds, alternating the order of off and on (default 2)
  --out FILE         also write the rows as JSON
  -h, --help         show this help

Needs wrk (apt-get install wrk).`;

const PASSWORD = "bench-password-1";
const KEYS = 1000;

function die(message: string): never {
  console.error(`auth_cost: ${message}\n\n${USAGE}`);
  Deno.exit(2);
}

function whole(v: string | undefined, flag: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) die(`${flag} takes a whole number`);
  return n;
}

/** One measured row. */
interface Row {
  round: number;
  workload: "put" | "get";
  connections: number;
  auth: "off" | "on";
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  leader: string;
  leaderChanged: boolean;
  load1: number;
}

async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<Record<string, unknown>> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

async function login(url: string, user: string): Promise<string> {
  const r = await call(url, "POST", "/v1/auth/token", {
    user,
    password: PASSWORD,
  });
  return String(r.token);
}

/** The leader's id and URL and the term, asked of every node (with a token when auth is on). */
async function leaderOf(
  endpoints: string[],
  token?: string,
): Promise<{ id: string; url: string; term: number }> {
  for (let i = 0; i < 100; i++) {
    const looks = await Promise.all(endpoints.map(async (url) => {
      try {
        const s = await call(url, "GET", "/v1/status", undefined, token);
        return { url, id: String(s.id), role: s.role, term: Number(s.term) };
      } catch {
        return undefined;
      }
    }));
    const l = looks.find((x) => x?.role === "leader");
    if (l) return { id: l.id, url: l.url, term: l.term };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("No leader");
}

async function setAuth(endpoints: string[], on: boolean, rootToken?: string) {
  const leader = await leaderOf(endpoints, rootToken);
  await call(
    leader.url,
    "POST",
    on ? "/v1/auth/enable" : "/v1/auth/disable",
    undefined,
    rootToken,
  );
  // Every node must agree before a row starts.
  for (;;) {
    const st = await Promise.all(
      endpoints.map((u) => call(u, "GET", "/v1/auth/status")),
    );
    if (st.every((s) => s.enabled === on)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function loadAverage(): number[] {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(
      Number,
    );
  } catch {
    return [0, 0, 0];
  }
}

async function passwordCheckMs(): Promise<number[]> {
  const h = await hashPassword(PASSWORD);
  const ms: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const ok = await verifyPassword(PASSWORD, h);
    ms.push(performance.now() - t0);
    if (!ok) throw new Error("The password did not verify");
  }
  return ms;
}

/**
 * µs per request through the in-process app: get and put, auth off and on,
 * the fastest of `batches` alternating batches of `n` requests each.
 */
async function inProcessCost(
  batches = 20,
  n = 300,
): Promise<Record<string, { off: number; on: number }>> {
  const node = await SingleNode.start();
  try {
    const call = async (
      method: string,
      path: string,
      body?: unknown,
      token?: string,
    ) => {
      const r = await node.app.request(path, {
        method,
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : {};
    };
    await call("PUT", "/v1/auth/roles/bench", {
      permissions: [{ prefix: "k", read: true, write: true }],
    });
    for (const [user, roles] of [["root", ["root"]], ["bench", ["bench"]]]) {
      await call("PUT", `/v1/auth/users/${user}`, {
        password: PASSWORD,
        roles,
      });
    }
    await call("PUT", "/v1/kv/k1", { value: "v".repeat(16) });
    await call("POST", "/v1/auth/enable");
    const root = (await call("POST", "/v1/auth/token", {
      user: "root",
      password: PASSWORD,
    })).token;
    const bench = (await call("POST", "/v1/auth/token", {
      user: "bench",
      password: PASSWORD,
    })).token;
    const best: Record<string, { off: number; on: number }> = {
      get: { off: Infinity, on: Infinity },
      put: { off: Infinity, on: Infinity },
    };
    let on = true;
    for (let b = 0; b < batches; b++) {
      for (
        const mode of b % 2 ? ["on", "off"] as const : ["off", "on"] as const
      ) {
        if ((mode === "on") !== on) {
          await call(
            "POST",
            mode === "on" ? "/v1/auth/enable" : "/v1/auth/disable",
            undefined,
            on ? root : undefined,
          );
          on = mode === "on";
        }
        const token = on ? bench : undefined;
        for (const op of ["get", "put"] as const) {
          const t0 = performance.now();
          for (let i = 0; i < n; i++) {
            if (op === "get") await call("GET", "/v1/kv/k1", undefined, token);
            else await call("PUT", "/v1/kv/k1", { value: "v" }, token);
          }
          const us = (performance.now() - t0) * 1000 / n;
          best[op][mode] = Math.min(best[op][mode], us);
        }
      }
    }
    return best;
  } finally {
    await node.close();
  }
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({
      args: Deno.args,
      options: {
        seconds: { type: "string", default: "10" },
        warmup: { type: "string", default: "1" },
        connections: { type: "string", default: "1,64" },
        rounds: { type: "string", default: "2" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    die((e as Error).message);
  }
  if (v.help) return console.log(USAGE);
  const seconds = whole(v.seconds, "--seconds");
  const warmup = whole(v.warmup, "--warmup", 0);
  const rounds = whole(v.rounds, "--rounds");
  const conns = v.connections!.split(",").map((c) => whole(c, "--connections"));
  if (!await wrkVersion()) die("wrk is not installed");
  const machine = await describeMachine();
  console.log(machineLine(machine));
  console.log(
    `PBKDF2-SHA-256 at ${DEFAULT_PBKDF2_ITERATIONS} iterations; rows of ${seconds} s after ${warmup} s of warm-up`,
  );

  // One password check, in this process.
  const checks = await passwordCheckMs();
  console.log(
    `one password check: median ${median(checks).toFixed(1)} ms (min ${
      Math.min(...checks).toFixed(1)
    }, max ${Math.max(...checks).toFixed(1)}; 10 runs; load ${
      loadAverage().join(" ")
    })`,
  );

  const inProc = await inProcessCost();
  for (const [op, r] of Object.entries(inProc)) {
    console.log(
      `in-process ${op}: ${r.off.toFixed(1)} µs auth off, ${
        r.on.toFixed(1)
      } µs auth on (+${
        (r.on - r.off).toFixed(1)
      } µs; fastest of 20 batches of 300; load ${loadAverage().join(" ")})`,
    );
  }

  cleanup.onSignals();
  const cluster = await startRaftlock();
  const rows: Row[] = [];
  let logins: number[] = [];
  try {
    const endpoints = cluster.endpoints;
    const first = await leaderOf(endpoints);
    // Users and keys, while auth is off.
    await call(first.url, "PUT", "/v1/auth/roles/bench", {
      permissions: [{ prefix: "k", read: true, write: true }],
    });
    for (const [user, roles] of [["root", ["root"]], ["bench", ["bench"]]]) {
      await call(first.url, "PUT", `/v1/auth/users/${user}`, {
        password: PASSWORD,
        roles,
      });
    }
    for (let i = 0; i < KEYS; i++) {
      await call(first.url, "PUT", `/v1/kv/k${i}`, { value: "v".repeat(16) });
    }
    await setAuth(endpoints, true);
    let root = await login(first.url, "root");
    // One login over HTTP (a barrier, then a password check), on the leader.
    logins = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      await login((await leaderOf(endpoints, root)).url, "bench");
      logins.push(performance.now() - t0);
    }
    console.log(
      `one login (POST /v1/auth/token on the leader): median ${
        median(logins).toFixed(1)
      } ms (10 runs)`,
    );
    let authOn = true;

    for (let round = 1; round <= rounds; round++) {
      const order: ("off" | "on")[] = round % 2 ? ["off", "on"] : ["on", "off"];
      for (const workload of ["put", "get"] as const) {
        for (const connections of conns) {
          for (const mode of order) {
            if ((mode === "on") !== authOn) {
              await setAuth(
                endpoints,
                mode === "on",
                authOn ? root : undefined,
              );
              authOn = mode === "on";
            }
            if (authOn) root = await login(first.url, "root");
            const token = authOn ? await login(first.url, "bench") : undefined;
            const before = await leaderOf(endpoints, authOn ? root : undefined);
            const args = [
              `keys=${KEYS}`,
              "value=16",
              ...(token ? [`token=${token}`] : []),
            ];
            const script = `raftlock_${workload}.lua`;
            const threads = Math.min(connections, machine.cores);
            if (warmup > 0) {
              await runWrk({
                script,
                url: before.url,
                connections,
                threads,
                seconds: warmup,
                args,
              });
            }
            const load1 = loadAverage()[0];
            const r = await runWrk({
              script,
              url: before.url,
              connections,
              threads,
              seconds,
              args,
            });
            const after = await leaderOf(endpoints, authOn ? root : undefined);
            const e = r.errors;
            const row: Row = {
              round,
              workload,
              connections,
              auth: mode,
              rps: r.requests / (r.duration_us / 1e6),
              p50Ms: r.latency_us.p50 / 1000,
              p99Ms: r.latency_us.p99 / 1000,
              errors: e.connect + e.read + e.write + e.status + e.timeout,
              leader: `${before.id}@${before.term}`,
              leaderChanged: before.id !== after.id ||
                before.term !== after.term,
              load1,
            };
            rows.push(row);
            console.log(
              `round ${round} ${workload.padEnd(3)} c=${
                String(connections).padStart(2)
              } auth ${mode.padEnd(3)} ${
                row.rps.toFixed(0).padStart(6)
              } req/s  p50 ${row.p50Ms.toFixed(2)} ms  p99 ${
                row.p99Ms.toFixed(2)
              } ms  errors ${row.errors}  ${row.leader}${
                row.leaderChanged ? " LEADER CHANGED" : ""
              }  load ${load1.toFixed(2)}`,
            );
          }
        }
      }
    }
  } finally {
    await cluster.stop();
    cleanup.offSignals();
  }

  // Medians of the clean rows, and auth's cost.
  console.log(
    "\n| workload | connections | auth off req/s | auth on req/s | cost | p50 off → on (ms) | p99 off → on (ms) |",
  );
  console.log("| --- | --: | --: | --: | --: | --: | --: |");
  for (const workload of ["put", "get"] as const) {
    for (const connections of conns) {
      const of = (auth: "off" | "on") =>
        rows.filter((r) =>
          r.workload === workload && r.connections === connections &&
          r.auth === auth && !r.leaderChanged && r.errors === 0
        );
      const off = of("off");
      const on = of("on");
      if (!off.length || !on.length) continue;
      const m = (rs: Row[], f: (r: Row) => number) => median(rs.map(f));
      const rOff = m(off, (r) => r.rps);
      const rOn = m(on, (r) => r.rps);
      console.log(
        `| ${
          workload === "get" ? "get (linearizable)" : "put"
        } | ${connections} | ${rOff.toFixed(0)} | ${rOn.toFixed(0)} | ${
          ((1 - rOn / rOff) * 100).toFixed(1)
        } % | ${m(off, (r) => r.p50Ms).toFixed(2)} → ${
          m(on, (r) => r.p50Ms).toFixed(2)
        } | ${m(off, (r) => r.p99Ms).toFixed(2)} → ${
          m(on, (r) => r.p99Ms).toFixed(2)
        } |`,
      );
    }
  }
  const dropped = rows.filter((r) => r.leaderChanged || r.errors > 0).length;
  console.log(
    `\n${rows.length} rows, ${dropped} left out (leader change or errors); load average at the end ${
      loadAverage().join(" ")
    }`,
  );
  if (v.out) {
    await Deno.writeTextFile(
      v.out,
      JSON.stringify({ machine, rows, logins, inProcess: inProc }, null, 2),
    );
  }
}

if (import.meta.main) await main();
