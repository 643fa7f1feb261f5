/**
 * `deno task chaos`: a Jepsen-style run against real `raftd` processes.
 * Register clients read, write and compare-and-set a few keys, lock
 * clients cycle locks (acquire, fenced writes and keepalives, release, or
 * abandon), election, semaphore and read-write lock clients do the same
 * with their recipe through the typed client, and watchers follow the
 * registers, all through the HTTP API of
 * every node, while a nemesis injects faults: kill -9 and restart, SIGSTOP
 * pauses, network partitions, a slow disk, a restart after cutting the
 * WAL's unsynced tail; and with `--net netns` (root), every node and every
 * client process in a network namespace of its own, with partitions of
 * any shape (clients too), loss, delay, duplication, reordering and
 * bandwidth limits between them. The run is bounded in time and
 * operations; then the cluster must recover, the register, lock,
 * election, semaphore and read-write lock histories must be linearizable, lease timing must hold by the clients'
 * clocks, and every watcher must have seen every event once, in order.
 * It writes the history and a summary.
 *
 * ```sh
 * deno task chaos --time 60 --nemesis kill,pause,partition --seed 7
 * sudo deno task chaos --net netns --time 60
 * sudo deno task chaos --net netns --profile wan --nodes 5
 * ```
 *
 * Exits 1 when it finds an anomaly (the history and node logs are kept),
 * 3 when a checker ran out of time, 4 when `--net netns` cannot run here.
 *
 * @module
 */

import { type CommandLine, commandLine } from "./args.ts";
import {
  ALL_NEMESES,
  ALL_WORKLOADS,
  ChaosUnsupportedError,
  Cleanups,
  defaultNemeses,
  runChaos,
} from "../src/chaos/run.ts";
import { NODE_NEMESES } from "../src/chaos/nemesis.ts";
import { clusterPorts, freeBase } from "../src/chaos/ports.ts";
import { KNOBS } from "../src/server/faults.ts";

const USAGE = `Usage: deno task chaos [options]

  --time S           seconds of faults (default 60), then a calm period
  --nodes N          cluster size (default 3)
  --clients N        concurrent register and lock clients (default 12;
                     a third cycle locks)
  --workloads LIST   comma-separated client workloads, from: ${
  ALL_WORKLOADS.join(", ")
}
                     (default: all)
  --recipe-clients N clients of each recipe workload (election, semaphore,
                     rwlock) besides --clients (default 2)
  --watchers N       watchers following the registers (default 3)
  --keys N           registers the clients share at a time (default 5)
  --key-period S     seconds before the clients move on to fresh keys
                     (default 5; keeps each key's history checkable)
  --nemesis LIST     comma-separated, from: ${ALL_NEMESES.join(", ")}
                     (default: kill, pause, partition, slow-disk, truncate;
                     with --net netns also client-partition, loss, delay,
                     duplicate, reorder, bandwidth; with --profile wan,
                     kill-leader; "none" for a fault-free run)
  --net MODE         loopback (default): nodes on 127.0.0.1, partitions by
                     TCP proxies; netns: every node and client process in a
                     network namespace of its own (needs root, ip, iptables,
                     tc), network faults between any of them
  --profile P        lan (default) or wan: nodes and clients on three
                     simulated sites 20-80 ms apart (one way), Raft timing
                     for a WAN; reports failover times (needs --net netns)
  --drift-ms MS      how far the processes' clocks may disagree for the
                     lease timing check (default 50)
  --max-ops N        stop the clients after N operations (default 1000000)
  --seed N           seed for the clients' and nemesis' choices (default: time)
  --out DIR          where to write history.jsonl, summary.json and node logs
                     (default chaos-results/<time>)
  --base-port P      first peer port (default 17400; HTTP ports are P+50..);
                     when one of them is taken, the next base 100 up whose
                     ports are all free, so two runs on one machine do not
                     collide
  --plant KNOB       run every node with a planted bug, to show the run
                     catches it: ${KNOBS.join(", ")}
  -h, --help         show this help

Exit status: 0 every check passed, 1 an anomaly, 3 a checker ran out of
time, 4 --net netns cannot run here (the message says why).`;

const cli: CommandLine = commandLine("chaos", USAGE);

async function main(): Promise<void> {
  const v = cli.parse({
    time: { type: "string", default: "60" },
    nodes: { type: "string", default: "3" },
    clients: { type: "string", default: "12" },
    watchers: { type: "string", default: "3" },
    workloads: { type: "string" },
    "recipe-clients": { type: "string", default: "2" },
    keys: { type: "string", default: "5" },
    "key-period": { type: "string", default: "5" },
    nemesis: { type: "string" },
    net: { type: "string", default: "loopback" },
    profile: { type: "string", default: "lan" },
    "drift-ms": { type: "string", default: "50" },
    "max-ops": { type: "string", default: "1000000" },
    seed: { type: "string" },
    out: { type: "string" },
    "base-port": { type: "string", default: "17400" },
    plant: { type: "string" },
  });
  if (v === undefined) return;
  const num = (name: string, s: string, min: number, max: number) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) {
      cli.fail(`--${name} takes a whole number from ${min} to ${max}`);
    }
    return n;
  };
  if (v.net !== "loopback" && v.net !== "netns") {
    cli.fail(`--net takes loopback or netns, got "${v.net}"`);
  }
  if (v.profile !== "lan" && v.profile !== "wan") {
    cli.fail(`--profile takes lan or wan, got "${v.profile}"`);
  }
  const net = v.net as "loopback" | "netns";
  const profile = v.profile as "lan" | "wan";
  if (profile === "wan" && net !== "netns") {
    cli.fail("--profile wan needs --net netns");
  }
  const kinds = v.nemesis === "none"
    ? []
    : v.nemesis === undefined
    ? defaultNemeses(net, profile)
    : v.nemesis.split(",").filter((k) => k !== "");
  for (const k of kinds) {
    if (!ALL_NEMESES.includes(k)) {
      cli.fail(`unknown nemesis "${k}"; choose from ${ALL_NEMESES.join(", ")}`);
    }
    if (
      net === "loopback" && !(NODE_NEMESES as readonly string[]).includes(k)
    ) {
      cli.fail(`the ${k} nemesis needs --net netns`);
    }
  }
  const workloads = v.workloads === undefined
    ? [...ALL_WORKLOADS]
    : v.workloads.split(",").filter((w) => w !== "");
  for (const w of workloads) {
    if (!ALL_WORKLOADS.includes(w)) {
      cli.fail(
        `unknown workload "${w}"; choose from ${ALL_WORKLOADS.join(", ")}`,
      );
    }
  }
  if (v.plant !== undefined && !(KNOBS as string[]).includes(v.plant)) {
    cli.fail(`unknown --plant "${v.plant}"; choose from ${KNOBS.join(", ")}`);
  }
  const cleanups = new Cleanups();
  const interrupted = async (signal: string) => {
    console.log(
      `\n${signal}: stopping the nodes and removing what the run made`,
    );
    await cleanups.run();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", () => interrupted("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => interrupted("SIGTERM"));
  let code: number;
  try {
    const nodes = num("nodes", v.nodes!, 1, 9);
    code = await runChaos({
      seconds: num("time", v.time!, 1, 24 * 3600),
      nodes,
      clients: num("clients", v.clients!, 1, 200),
      workloads,
      recipeClients: num("recipe-clients", v["recipe-clients"]!, 0, 50),
      watchers: num("watchers", v.watchers!, 0, 100),
      keys: num("keys", v.keys!, 1, 100),
      keyPeriodMs: num("key-period", v["key-period"]!, 1, 86_400) * 1000,
      kinds,
      maxOps: num("max-ops", v["max-ops"]!, 1, 1e9),
      seed: v.seed === undefined
        ? Date.now() % 1_000_000
        : num("seed", v.seed, 0, 2 ** 31),
      out: v.out ??
        `chaos-results/${new Date().toISOString().replace(/[:.]/g, "-")}`,
      basePort: freeBase(
        num("base-port", v["base-port"]!, 1024, 65000),
        clusterPorts(nodes),
        { tries: 20 },
      ),
      plant: v.plant,
      net,
      profile,
      driftMs: num("drift-ms", v["drift-ms"]!, 0, 10_000),
      command: `deno task chaos ${Deno.args.join(" ")}`,
    }, cleanups);
  } catch (e) {
    await cleanups.run();
    if (e instanceof ChaosUnsupportedError) {
      console.error(`chaos: cannot run here: ${e.message}`);
      Deno.exit(4);
    }
    console.error(`chaos: ${(e as Error).stack ?? e}`);
    Deno.exit(2);
  }
  // Exit now: a stuck connection must not keep the process alive.
  Deno.exit(code);
}

if (import.meta.main) main();
