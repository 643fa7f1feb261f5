/**
 * A cluster of real `raftd` processes for chaos runs. On loopback each
 * node reaches each other node through its own {@linkcode FaultProxy}
 * (node i's `--peers` names proxy i→j for node j), so any directed link
 * can be cut. In a {@linkcode NetnsLab} each node runs in its own network
 * namespace with its own address instead, and the lab's switch makes the
 * network faults (`netem.ts`). Each node runs with `RAFTLOCK_FAULTS` so its
 * disk can be made slow and its synced WAL sizes are on record for
 * torn-tail restarts.
 *
 * @module
 */

import { FaultProxy } from "../transport/fault_proxy.ts";
import type { NetnsLab } from "./netns.ts";
import { ensurePeerSecretFile } from "../transport/tcp.ts";
import {
  type LocalMember,
  localMembers,
  RAFTD_ENV,
  raftdArgs,
} from "../server/raftd_args.ts";

/** Options of {@linkcode ChaosCluster.start}. */
export interface ChaosClusterOptions {
  /** Number of nodes. */
  nodes: number;
  /** First peer port; HTTP ports start at `basePort + 50`. */
  basePort: number;
  /** Root of the nodes' data directories (and their sync records). */
  dataDir: string;
  /** Where each node's log goes (`<logDir>/<id>.log`); none when absent. */
  logDir?: string;
  /** A planted bug for every node (a `TestingKnobs` name). */
  knob?: string;
  /** How much slower each sync gets while the disk is slow (ms). */
  slowSyncMs?: number;
  /**
   * Run each node `nK` in the lab member of that name (its namespace and
   * address, peer port `basePort`, HTTP port `basePort + 50`) rather
   * than on loopback behind proxies.
   */
  lab?: NetnsLab;
  /** More raftd flags for every node (e.g. Raft timing). */
  raftdFlags?: readonly string[];
}

/** One raftd process of the cluster. */
export interface ChaosNode extends LocalMember {
  /** Its command line. */
  args: string[];
  /** `RAFTLOCK_FAULTS` for it. */
  faults: string;
  /** Where it records synced WAL sizes. */
  syncRecord: string;
  /** The running process, if any. */
  child?: Deno.ChildProcess;
  /** Whether it is stopped with SIGSTOP. */
  paused: boolean;
  /** Whether its disk is slow. */
  slowDisk: boolean;
  /** Resolves when its log has been written out. */
  logDone?: Promise<void>;
  /** The command prefix that runs it in its namespace (empty on loopback). */
  prefix: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Real raftd processes behind fault proxies. */
export class ChaosCluster {
  /** The nodes, n1..nN. */
  readonly nodes: ChaosNode[];
  /** proxies[i][j] carries node i's traffic to node j. */
  readonly proxies: Record<string, Record<string, FaultProxy>>;
  readonly #logDir: string | undefined;

  private constructor(
    nodes: ChaosNode[],
    proxies: Record<string, Record<string, FaultProxy>>,
    logDir: string | undefined,
  ) {
    this.nodes = nodes;
    this.proxies = proxies;
    this.#logDir = logDir;
  }

  /** Creates the proxies and starts every node (it does not wait for them). */
  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const lab = options.lab;
    const members = localMembers(
      options.nodes,
      options.basePort,
      options.dataDir,
    ).map((m) => {
      if (!lab) return m;
      const addr = lab.member(m.id).addr;
      return {
        ...m,
        peer: `${addr}:${options.basePort}`,
        http: `${addr}:${options.basePort + 50}`,
      };
    });
    const peerSecretFile = await ensurePeerSecretFile(
      `${options.dataDir}/peer.secret`,
    );
    const proxies: Record<string, Record<string, FaultProxy>> = {};
    const nodes: ChaosNode[] = members.map((m) => {
      proxies[m.id] = {};
      const view = lab ? members : members.map((o) => {
        if (o.id === m.id) return o;
        const p = FaultProxy.listen(o.peer);
        proxies[m.id][o.id] = p;
        return { ...o, peer: p.addr };
      });
      const syncRecord = `${options.dataDir}/${m.id}.synced`;
      const faults = [
        `sync-record=${syncRecord}`,
        `slow-sync=${options.slowSyncMs ?? 250}`,
        ...(options.knob ? [`knob=${options.knob}`] : []),
      ].join(",");
      // Off loopback raftd wants the HTTP side's exposure acknowledged;
      // the lab is a private network of this machine.
      const flags = [
        "--log-level",
        "warn",
        ...(lab ? ["--insecure"] : []),
        ...(options.raftdFlags ?? []),
      ];
      return {
        ...m,
        args: raftdArgs(m, view, flags, { peerSecretFile }),
        faults,
        syncRecord,
        paused: false,
        slowDisk: false,
        prefix: lab ? lab.wrap(m.id, []) : [],
      };
    });
    if (options.logDir) await Deno.mkdir(options.logDir, { recursive: true });
    const c = new ChaosCluster(nodes, proxies, options.logDir);
    for (const n of nodes) await c.spawn(n);
    return c;
  }

  /** Starts (or restarts) a node's process. */
  async spawn(n: ChaosNode): Promise<void> {
    const argv = [...n.prefix, Deno.execPath(), ...n.args];
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: { ...RAFTD_ENV, RAFTLOCK_FAULTS: n.faults },
      stdout: this.#logDir ? "piped" : "null",
      stderr: this.#logDir ? "piped" : "null",
      stdin: "null",
    }).spawn();
    n.child = child;
    n.paused = false;
    n.slowDisk = false;
    if (this.#logDir) {
      const file = await Deno.open(`${this.#logDir}/${n.id}.log`, {
        create: true,
        append: true,
      });
      const w = file.writable.getWriter();
      const pump = async (s: ReadableStream<Uint8Array>) => {
        for await (const chunk of s) await w.write(chunk);
      };
      n.logDone = Promise.all([pump(child.stdout), pump(child.stderr)])
        .then(() => {}, () => {})
        .finally(() => w.close().catch(() => {}));
    }
  }

  /** SIGKILLs a node and waits for it to be gone. */
  async kill(n: ChaosNode): Promise<void> {
    try {
      if (n.paused) n.child?.kill("SIGCONT");
      n.child?.kill("SIGKILL");
    } catch { /* already gone */ }
    await n.child?.status;
    await n.logDone;
    n.child = undefined;
  }

  /** SIGSTOP (true) or SIGCONT (false). */
  pause(n: ChaosNode, stop: boolean): void {
    try {
      n.child?.kill(stop ? "SIGSTOP" : "SIGCONT");
      n.paused = stop;
    } catch { /* gone */ }
  }

  /** Makes a node's syncs slow or normal again (SIGUSR2 toggles). */
  slowDisk(n: ChaosNode, slow: boolean): void {
    if (n.slowDisk === slow) return;
    try {
      n.child?.kill("SIGUSR2");
      n.slowDisk = slow;
    } catch { /* gone */ }
  }

  /**
   * Cuts every link between different groups (nodes in no group keep all
   * their links): `"hold"` stalls traffic as a partition TCP outlives,
   * `"close"` resets connections.
   */
  partition(groups: string[][], mode: "hold" | "close"): void {
    const group = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((id) => group.set(id, i)));
    for (const [i, m] of Object.entries(this.proxies)) {
      for (const [j, p] of Object.entries(m)) {
        const gi = group.get(i), gj = group.get(j);
        if (gi !== undefined && gj !== undefined && gi !== gj) {
          p.block({ mode });
        }
      }
    }
  }

  /** Restores every link. */
  heal(): void {
    for (const m of Object.values(this.proxies)) {
      for (const p of Object.values(m)) p.unblock();
    }
  }

  /** The leader some node reports, if any answers in time. */
  async leader(): Promise<ChaosNode | undefined> {
    const answers = await Promise.all(this.nodes.map(async (n) => {
      if (!n.child || n.paused) return undefined;
      try {
        const r = await fetch(`http://${n.http}/v1/status`, {
          signal: AbortSignal.timeout(300),
        });
        const s = await r.json();
        return r.ok && s.role === "leader" ? s.id as string : undefined;
      } catch {
        return undefined;
      }
    }));
    const id = answers.find((a) => a !== undefined);
    return this.nodes.find((n) => n.id === id);
  }

  /** Whether `n` answers `/readyz` 200 within `timeoutMs`. */
  async nodeReady(n: ChaosNode, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const ok = await fetch(`http://${n.http}/readyz`, {
        signal: AbortSignal.timeout(300),
      }).then(async (r) => {
        await r.body?.cancel();
        return r.ok;
      }).catch(() => false);
      if (ok) return true;
      await sleep(100);
    }
    return false;
  }

  /** Waits until every node answers `/readyz` 200; false on timeout. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const ready = await Promise.all(
      this.nodes.map((n) => this.nodeReady(n, timeoutMs)),
    );
    return ready.every((x) => x);
  }

  /** Kills every node and closes the proxies. */
  async stop(): Promise<void> {
    this.heal();
    await Promise.all(this.nodes.map((n) => this.kill(n)));
    await Promise.all(
      Object.values(this.proxies).flatMap((m) => Object.values(m)).map((p) =>
        p.close()
      ),
    );
  }
}
