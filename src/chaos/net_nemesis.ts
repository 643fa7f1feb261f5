/**
 * The network faults of a namespaced chaos run, made in the lab's switch
 * (`netem.ts`) between nodes and client processes alike, one at a time:
 *
 * | kind               | what                                                                                       |
 * | ------------------ | ------------------------------------------------------------------------------------------ |
 * | `partition`        | nodes split as the loopback nemesis splits them (leader alone, minority, bridge); each client process joins a side or keeps every link; packets dropped or TCP reset |
 * | `client-partition` | a client process that holds a lock cut from every node; a client cut from the leader only; or a client whose requests arrive but whose answers are lost |
 * | `loss`             | one-way random loss (10–40%): out of a node, into a node, or out of a client                |
 * | `delay`            | 50–500 ms with 10–50% jitter on every link of a node (or of a client)                       |
 * | `duplicate`        | 5–30% of packets duplicated on a node's links, or on every link                            |
 * | `reorder`          | 20–60 ms delay with 25–50% of packets overtaking, on a node's links                        |
 * | `bandwidth`        | a node's or a client's link limited to 64–1024 kbit/s both ways                            |
 *
 * Each fault lasts a few seconds (scaled by `durationScale`), then the
 * network heals; the WAN profile's base delays stay.
 *
 * @module
 */

import type { ChaosCluster } from "./cluster.ts";
import type { LinkFault, NetFaults } from "./netem.ts";

/** The network fault kinds of namespaced runs. */
export const NET_NEMESES = [
  "partition",
  "client-partition",
  "loss",
  "delay",
  "duplicate",
  "reorder",
  "bandwidth",
] as const;

/** One kind of network fault. */
export type NetNemesisKind = typeof NET_NEMESES[number];

/** What a network fault acts on. */
export interface NetEnv {
  /** The cluster (its node ids are lab member names). */
  cluster: ChaosCluster;
  /** The lab's faults. */
  faults: NetFaults;
  /** The client processes' lab member names. */
  clients: readonly string[];
  /** The client processes whose lock clients hold a lock right now. */
  holders(): string[];
  /** Multiplies every fault's duration (default 1). */
  durationScale?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Node groups for a partition: the leader alone, a random minority
 * against the majority, or (3 or more nodes) a bridge: two sides that
 * cannot reach each other and one node, in no group, that reaches both.
 */
export function nodeGroups(
  ids: readonly string[],
  leader: string | undefined,
  random: () => number,
): string[][] {
  const shuffled = [...ids].sort(() => random() - 0.5);
  const roll = random();
  if (roll < 0.4) {
    const l = leader ?? shuffled[0];
    return [[l], ids.filter((id) => id !== l)];
  }
  if (roll < 0.7 || ids.length < 3) {
    const k = Math.max(
      1,
      Math.floor(random() * Math.floor(ids.length / 2)) + 1,
    );
    return [shuffled.slice(0, k), shuffled.slice(k)];
  }
  const rest = shuffled.slice(1);
  const half = Math.ceil(rest.length / 2);
  return [rest.slice(0, half), rest.slice(half)];
}

/** Directed cuts between every two groups. */
export function cutsBetween(
  groups: readonly (readonly string[])[],
  cut: "drop" | "reject",
): LinkFault[] {
  const out: LinkFault[] = [];
  for (let i = 0; i < groups.length; i++) {
    for (let j = 0; j < groups.length; j++) {
      if (i !== j && groups[i].length && groups[j].length) {
        out.push({ from: groups[i], to: groups[j], cut });
      }
    }
  }
  return out;
}

/** Both directions between `a` and `b`. */
function both(
  a: readonly string[],
  b: readonly string[],
  f: Omit<LinkFault, "from" | "to">,
): LinkFault[] {
  return [{ from: a, to: b, ...f }, { from: b, to: a, ...f }];
}

/**
 * Injects one network fault of `kind`, waits it out and heals the
 * network. Resolves with a one-line description.
 *
 * @example
 * ```ts ignore
 * const what = await injectNetFault("client-partition", {
 *   cluster,
 *   faults,
 *   clients: ["l0", "l1", "r0"],
 *   holders: () => ["l0"],
 * }, mulberry32(7), console.log);
 * // e.g. "lock holder l0 cut from every node for 4321 ms"
 * ```
 */
export async function injectNetFault(
  kind: NetNemesisKind,
  env: NetEnv,
  random: () => number,
  log: (line: string) => void,
): Promise<string> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const span = (lo: number, hi: number) =>
    Math.round((lo + random() * (hi - lo)) * (env.durationScale ?? 1));
  const nodes = env.cluster.nodes.map((n) => n.id);
  const all = [...nodes, ...env.clients];
  const others = (m: string) => all.filter((x) => x !== m);
  const pct = (p: number) => `${Math.round(p * 100)}%`;
  let faults: LinkFault[];
  let what: string;
  let ms: number;
  let limited: string | undefined;
  switch (kind) {
    case "partition": {
      const leader = (await env.cluster.leader())?.id;
      const groups = nodeGroups(nodes, leader, random).map((g) => [...g]);
      const free: string[] = [];
      for (const c of env.clients) {
        if (random() < 0.5) pick(groups).push(c);
        else free.push(c);
      }
      const cut = random() < 0.5 ? "drop" : "reject";
      ms = span(1000, 4000);
      faults = cutsBetween(groups, cut);
      what = `partition ${groups.map((g) => g.join(",")).join(" | ")}${
        free.length ? ` (${free.join(",")} reach all)` : ""
      } (${cut})`;
      break;
    }
    case "client-partition": {
      const roll = random();
      const holders = env.holders();
      if (roll < 0.5 && holders.length) {
        const c = pick(holders);
        ms = span(1500, 6000);
        faults = both([c], nodes, { cut: "drop" });
        what = `lock holder ${c} cut from every node`;
      } else if (roll < 0.8) {
        const leader = (await env.cluster.leader())?.id ?? pick(nodes);
        const c = pick(env.clients);
        ms = span(1000, 5000);
        faults = both([c], [leader], {
          cut: random() < 0.5 ? "drop" : "reject",
        });
        what = `client ${c} cut from the leader ${leader}`;
      } else {
        const c = pick(env.clients);
        ms = span(1000, 4000);
        faults = [{ from: nodes, to: [c], cut: "drop" }];
        what = `client ${c}'s answers lost (its requests still arrive)`;
      }
      break;
    }
    case "loss": {
      const p = 0.1 + random() * 0.3;
      const roll = random();
      ms = span(2000, 6000);
      if (roll < 0.4) {
        const n = pick(nodes);
        faults = [{ from: [n], to: others(n), loss: p }];
        what = `${pct(p)} loss out of ${n}`;
      } else if (roll < 0.8) {
        const n = pick(nodes);
        faults = [{ from: others(n), to: [n], loss: p }];
        what = `${pct(p)} loss into ${n}`;
      } else {
        const c = pick(env.clients);
        faults = [{ from: [c], to: nodes, loss: p }];
        what = `${pct(p)} loss out of client ${c}`;
      }
      break;
    }
    case "delay": {
      const delayMs = Math.round(50 + random() * 450);
      const jitterMs = Math.round(delayMs * (0.1 + random() * 0.4));
      const m = random() < 0.75 ? pick(nodes) : pick(env.clients);
      ms = span(3000, 8000);
      faults = both([m], others(m), { delayMs, jitterMs });
      what = `${delayMs} ± ${jitterMs} ms delay on ${m}'s links`;
      break;
    }
    case "duplicate": {
      const p = 0.05 + random() * 0.25;
      ms = span(2000, 6000);
      if (random() < 0.6) {
        const n = pick(nodes);
        faults = both([n], others(n), { duplicate: p });
        what = `${pct(p)} of packets duplicated on ${n}'s links`;
      } else {
        faults = [{ from: all, to: all, duplicate: p }];
        what = `${pct(p)} of packets duplicated on every link`;
      }
      break;
    }
    case "reorder": {
      const delayMs = Math.round(20 + random() * 40);
      const reorder = 0.25 + random() * 0.25;
      const n = pick(nodes);
      ms = span(2000, 6000);
      faults = both([n], others(n), {
        delayMs,
        jitterMs: Math.round(delayMs / 2),
        reorder,
      });
      what = `${
        pct(reorder)
      } of packets reordered (others ${delayMs} ms late) on ${n}'s links`;
      break;
    }
    case "bandwidth": {
      const kbit = pick([64, 128, 256, 512, 1024]);
      limited = random() < 0.7 ? pick(nodes) : pick(env.clients);
      ms = span(3000, 8000);
      faults = [];
      what = `${limited}'s link limited to ${kbit} kbit/s`;
      log(`${what} for ${ms} ms`);
      await env.faults.bandwidth(limited, kbit);
      await sleep(ms);
      await env.faults.bandwidth(limited);
      return `${what} for ${ms} ms`;
    }
  }
  log(`${what} for ${ms} ms`);
  await env.faults.apply(faults);
  await sleep(ms);
  await env.faults.apply([]);
  return `${what} for ${ms} ms`;
}
