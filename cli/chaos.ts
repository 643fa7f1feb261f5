/**
 * `deno task chaos`: a Jepsen-style run against real `raftd` processes on
 * loopback. Clients read, write and compare-and-set a few keys, and cycle
 * locks (acquire, a fenced write, release), through the HTTP API of every
 * node while a nemesis kills (SIGKILL) and restarts
 * nodes and pauses them (SIGSTOP/SIGCONT) for longer than the election
 * timeout. The run is bounded in time, records every operation
 * (invoke / ok / fail / info), checks the history for linearizability, and
 * writes the history and a summary.
 *
 * ```sh
 * deno task chaos --time 60 --nemesis kill,pause --seed 7
 * ```
 *
 * Exits 1 when the history is not linearizable (the history is kept).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  check,
  formatReport,
  HistoryRecorder,
  lockModel,
  registerModel,
  stringifyHistory,
} from "../src/check/mod.ts";
import { mulberry32 } from "../src/raft/rand.ts";
import { localMembers, raftdArgs } from "./raftd_args.ts";

const USAGE = `Usage: deno task chaos [options]

  --time S           seconds of faults (default 60), then a calm period
  --nodes N          cluster size (default 3)
  --clients N        concurrent clients (default 10)
  --keys N           registers the clients share (default 5)
  --nemesis LIST     kill,pause (default both)
  --seed N           seed for the clients' and nemesis' choices (default: time)
  --out DIR          where to write history.jsonl and summary.json
                     (default chaos-results/<time>)
  --base-port P      first peer port (default 17400; HTTP ports are P+50..)
  -h, --help         show this help`;

interface Proc {
  id: string;
  args: string[];
  child?: Deno.ChildProcess;
  paused: boolean;
  http: string;
}

function fail(message: string): never {
  console.error(`chaos: ${message}\n\n${USAGE}`);
  Deno.exit(2);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawn(p: Proc): void {
  p.child = new Deno.Command(Deno.execPath(), {
    args: p.args,
    stdout: "null",
    stderr: "null",
    stdin: "null",
  })
    .spawn();
  p.paused = false;
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({
      args: Deno.args,
      options: {
        time: { type: "string", default: "60" },
        nodes: { type: "string", default: "3" },
        clients: { type: "string", default: "10" },
        keys: { type: "string", default: "5" },
        nemesis: { type: "string", default: "kill,pause" },
        seed: { type: "string" },
        out: { type: "string" },
        "base-port": { type: "string", default: "17400" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const num = (name: string, s: string, min: number, max: number) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) {
      fail(`--${name} takes a whole number from ${min} to ${max}`);
    }
    return n;
  };
  const seconds = num("time", v.time!, 1, 3600);
  const n = num("nodes", v.nodes!, 1, 9);
  const clients = num("clients", v.clients!, 1, 200);
  const keys = num("keys", v.keys!, 1, 100);
  const base = num("base-port", v["base-port"]!, 1024, 65000);
  const seed = v.seed === undefined
    ? Date.now() % 1_000_000
    : num("seed", v.seed, 0, 2 ** 31);
  const kinds = v.nemesis!.split(",").filter((k) => k !== "");
  for (const k of kinds) {
    if (k !== "kill" && k !== "pause") {
      fail(`unknown nemesis "${k}"; choose kill, pause`);
    }
  }
  const random = mulberry32(seed);
  const out = v.out ??
    `chaos-results/${new Date().toISOString().replace(/[:.]/g, "-")}`;
  await Deno.mkdir(out, { recursive: true });
  const dataDir = await Deno.makeTempDir({ prefix: "raftlock-chaos-" });

  // ---------------------------------------------------------------- cluster
  const members = localMembers(n, base, dataDir);
  const procs: Proc[] = members.map((m) => ({
    id: m.id,
    http: m.http,
    paused: false,
    args: raftdArgs(m, members, ["--log-level", "warn"]),
  }));
  console.log(
    `Chaos run, seed ${seed}: ${n} nodes, ${clients} clients, ${keys} keys, nemesis ${
      kinds.join(",") || "none"
    }, ${seconds} s`,
  );
  for (const p of procs) spawn(p);
  const stopAll = async () => {
    for (const p of procs) {
      try {
        if (p.paused) p.child?.kill("SIGCONT");
        p.child?.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await Promise.all(procs.map((p) => p.child?.status));
  };
  Deno.addSignalListener("SIGINT", async () => {
    await stopAll();
    Deno.exit(130);
  });
  const t0 = Date.now();
  for (;;) {
    const ready = await Promise.all(
      procs.map((p) =>
        fetch(`http://${p.http}/readyz`, { signal: AbortSignal.timeout(300) })
          .then(async (r) => {
            await r.body?.cancel();
            return r.ok;
          }).catch(() => false)
      ),
    );
    if (ready.every((x) => x)) break;
    if (Date.now() - t0 > 30_000) {
      await stopAll();
      fail("the cluster did not become ready within 30 s");
    }
    await sleep(100);
  }
  console.log(`Cluster ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // ---------------------------------------------------------------- clients
  const start = performance.now();
  const history = new HistoryRecorder({
    clock: () => performance.now() - start,
  });
  let running = true;
  let seq = 0;
  const counts = { ok: 0, fail: 0, info: 0 };
  const call = async (url: string, init?: RequestInit) => {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : {} };
  };
  const clientLoop = async (c: number) => {
    const name = `c${c}`;
    const idPrefix = `chaos-${seed}-${name}`;
    let reqSeq = 0;
    while (running) {
      const p = procs[Math.floor(random() * procs.length)];
      const key = `r/${Math.floor(random() * keys)}`;
      const roll = random();
      const value = `${name}-${++seq}`;
      const base = `http://${p.http}`;
      const headers = { "X-Request-Id": `${idPrefix}/${++reqSeq}` };
      if (roll < 0.45) {
        const id = history.invoke(name, { f: "read", key });
        try {
          const r = await call(`${base}/v1/kv/${key}`);
          if (r.status === 200) (history.ok(id, r.body.value), counts.ok++);
          else if (r.status === 404) (history.ok(id, null), counts.ok++);
          else (history.fail(id, r.status), counts.fail++);
        } catch {
          history.fail(id, "unreachable"); // a read has no effect
          counts.fail++;
        }
      } else {
        const cas = roll > 0.8;
        const expected = cas
          ? `c${Math.floor(random() * clients)}-${
            Math.max(1, seq - Math.floor(random() * 20))
          }`
          : "";
        const id = history.invoke(
          name,
          cas ? { f: "cas", key, expected, value } : { f: "write", key, value },
        );
        try {
          const r = cas
            ? await call(`${base}/v1/txn`, {
              method: "POST",
              headers,
              body: JSON.stringify({
                compare: [{ key, target: "value", op: "==", value: expected }],
                success: [{ put: { key, value } }],
              }),
            })
            : await call(`${base}/v1/kv/${key}`, {
              method: "PUT",
              headers,
              body: JSON.stringify({ value }),
            });
          if (r.status === 200) {
            history.ok(id, cas ? r.body.succeeded === true : undefined);
            counts.ok++;
          } else if (
            r.status === 503 &&
            /No leader is known|shutting down/.test(
              String(r.body?.error?.message),
            )
          ) {
            history.fail(id, r.status); // refused before it reached the log
            counts.fail++;
          } else {
            history.info(id, r.status); // may or may not have happened
            counts.info++;
          }
        } catch {
          history.info(id, "unreachable");
          counts.info++;
        }
      }
      if (random() < 0.1) await sleep(random() * 20);
    }
  };
  // A third of the clients cycle locks: acquire, a fenced write, release.
  const lockLoop = async (c: number) => {
    const name = `l${c}`;
    while (running) {
      const p = procs[Math.floor(random() * procs.length)];
      const base = `http://${p.http}`;
      const lock = `lock${Math.floor(random() * 2)}`;
      const a = history.invoke(name, { f: "acquire", lock });
      let token: number | undefined;
      try {
        const r = await call(`${base}/v1/locks/${lock}/acquire`, {
          method: "POST",
          body: JSON.stringify({ ttl: 3, wait: 500, owner: name }),
        });
        if (r.status === 200) {
          token = r.body.token;
          history.ok(a, token);
          counts.ok++;
        } else if (
          r.status === 409 ||
          (r.status === 503 &&
            /No leader is known/.test(String(r.body?.error?.message)))
        ) {
          history.fail(a, r.status);
          counts.fail++;
        } else {
          history.info(a, r.status);
          counts.info++;
        }
      } catch {
        history.info(a, "unreachable");
        counts.info++;
      }
      if (token === undefined) {
        await sleep(20 + random() * 50);
        continue;
      }
      for (const step of ["fencedWrite", "release"] as const) {
        const id = history.invoke(name, { f: step, lock, token });
        try {
          const r = step === "fencedWrite"
            ? await call(`${base}/v1/kv/fenced/${lock}`, {
              method: "PUT",
              body: JSON.stringify({
                value: `${name}-${token}`,
                fence: { lock, token },
              }),
            })
            : await call(`${base}/v1/locks/${lock}/release`, {
              method: "POST",
              body: JSON.stringify({ token }),
            });
          if (r.status === 200) (history.ok(id), counts.ok++);
          else if (r.status === 409) {
            (history.fail(id, r.body?.error?.code), counts.fail++);
          } else (history.info(id, r.status), counts.info++);
        } catch {
          history.info(id, "unreachable");
          counts.info++;
        }
      }
    }
  };
  const lockers = Math.floor(clients / 3);
  const loops = Array.from(
    { length: clients },
    (_, c) => c < lockers ? lockLoop(c) : clientLoop(c),
  );

  // ---------------------------------------------------------------- nemesis
  const faults: Record<string, number> = {};
  const log = (s: string) =>
    console.log(
      `${((performance.now() - start) / 1000).toFixed(1).padStart(6)} s  ${s}`,
    );
  const faultEnd = performance.now() + seconds * 1000;
  while (performance.now() < faultEnd) {
    await sleep(1500 + random() * 2500);
    if (kinds.length === 0 || performance.now() >= faultEnd) continue;
    const kind = kinds[Math.floor(random() * kinds.length)];
    const p = procs[Math.floor(random() * procs.length)];
    faults[kind] = (faults[kind] ?? 0) + 1;
    if (kind === "kill") {
      log(`kill -9 ${p.id}`);
      p.child?.kill("SIGKILL");
      await p.child?.status;
      await sleep(500 + random() * 2000);
      spawn(p);
      log(`restart ${p.id}`);
    } else {
      const ms = 400 + Math.floor(random() * 1600);
      log(`pause ${p.id} for ${ms} ms`);
      p.child?.kill("SIGSTOP");
      p.paused = true;
      await sleep(ms);
      p.child?.kill("SIGCONT");
      p.paused = false;
    }
    log(
      `ops so far: ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info`,
    );
  }
  log("faults over; 3 s of calm");
  await sleep(3000);
  running = false;
  await Promise.all(loops);
  await stopAll();
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});

  // ---------------------------------------------------------------- check
  const events = history.events();
  await Deno.writeTextFile(`${out}/history.jsonl`, stringifyHistory(events));
  const result = check(events, registerModel(), { timeoutMs: 60_000 });
  const lockResult = check(events, lockModel(), { timeoutMs: 60_000 });
  const summary = {
    seed,
    seconds,
    nodes: n,
    clients,
    keys,
    operations: counts,
    faults,
    result: result.result === "ok" && lockResult.result === "ok"
      ? "ok"
      : result.result === "illegal" || lockResult.result === "illegal"
      ? "illegal"
      : "unknown",
    registers: result.result,
    locks: lockResult.result,
    partitions: result.partitions + lockResult.partitions,
    checkMs: Math.round(result.timeMs + lockResult.timeMs),
  };
  await Deno.writeTextFile(
    `${out}/summary.json`,
    JSON.stringify(summary, null, 2) + "\n",
  );
  for (const r of [result, lockResult]) {
    console.log(`\n${formatReport(r).split("\n").slice(0, 40).join("\n")}`);
  }
  console.log(
    `\nOperations: ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info; faults ${
      JSON.stringify(faults)
    }`,
  );
  console.log(
    `Registers: ${result.result}; locks and fencing: ${lockResult.result}. History and summary in ${out}/`,
  );
  if (summary.result === "illegal") Deno.exit(1);
}

if (import.meta.main) main();
