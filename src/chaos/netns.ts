/**
 * A small network of Linux network namespaces for chaos runs: every
 * member (a raftd node, a group of clients) gets a namespace of its own
 * with one address, `10.77.S.H/32`, on a veth pair whose other end sits in
 * a "switch" namespace that routes between them. Every packet between two
 * members crosses the switch, so faults made there with iptables (and the
 * netfilter queue of `netem.ts`) can cut, drop, delay, duplicate and
 * reorder any directed pair, clients included. The root namespace reaches
 * the members through one more veth (`10.77.S.2`), which no fault touches:
 * the chaos runner watches the cluster through it.
 *
 * Everything is named with a run prefix (`rl` + 4 hex digits), recorded in
 * `/run/raftlock-netns/<prefix>.json` with the runner's pid, and removed by
 * {@linkcode NetnsLab.destroy}; {@linkcode NetnsLab.cleanStale} removes
 * what a crashed run left. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN),
 * `ip` (iproute2), `iptables` with `iptables-restore` and `tc`.
 *
 * @module
 */

/** Whether this machine can run namespaced chaos, and if not, why. */
export interface NetnsSupport {
  /** True when every piece works. */
  ok: boolean;
  /** Why not, in one sentence naming the fix. */
  reason?: string;
}

/** One member of the lab. */
export interface LabMember {
  /** Its name, e.g. `n1` or `l0`. */
  name: string;
  /** Its network namespace. */
  ns: string;
  /** Its IPv4 address. */
  addr: string;
  /** The switch's end of its veth pair (in the switch namespace). */
  link: string;
}

/** A member asked of {@linkcode NetnsLab.create}. */
export interface LabMemberSpec {
  /** A short name: letters and digits, at most 5 characters. */
  name: string;
  /** The last octet of its address (3–254, unique). */
  host: number;
}

/** Options of {@linkcode NetnsLab.create}. */
export interface NetnsLabOptions {
  /** Progress lines. */
  log?: (line: string) => void;
  /** Where run records live (default `/run/raftlock-netns`). */
  stateDir?: string;
}

interface RunRecord {
  pid: number;
  prefix: string;
  subnet: string;
  namespaces: string[];
  hostLinks: string[];
}

const STATE_DIR = "/run/raftlock-netns";
const PREFIX_RE = /^rl[0-9a-f]{4}-/;
const dec = new TextDecoder();

/**
 * Runs a command; resolves with its stdout, or throws an `Error` with its
 * stderr when it fails.
 */
export async function sh(
  cmd: readonly string[],
  input?: string,
): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new Error(`Cannot run ${cmd[0]}: ${(e as Error).message}`);
  }
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const r = await child.output();
  if (!r.success) {
    throw new Error(
      `${cmd.join(" ")} failed (${r.code}): ${dec.decode(r.stderr).trim()}`,
    );
  }
  return dec.decode(r.stdout);
}

const quiet = (cmd: readonly string[]) => sh(cmd).then(() => true, () => false);

/**
 * Checks that namespaced chaos can run here: Linux, root, the tools, and
 * that a namespace with a veth and an iptables rule can be made (then
 * removes it).
 *
 * @example
 * ```ts
 * import { netnsSupport } from "./netns.ts";
 *
 * const support = await netnsSupport();
 * if (!support.ok) console.log(`skipped: ${support.reason}`);
 * ```
 */
export async function netnsSupport(): Promise<NetnsSupport> {
  if (Deno.build.os !== "linux") {
    return { ok: false, reason: "network namespaces need Linux" };
  }
  if (Deno.uid() !== 0) {
    return {
      ok: false,
      reason:
        "network namespaces, iptables and tc need root (run as root, or use the loopback mode without --net netns)",
    };
  }
  const tools: [string[], string][] = [
    [["ip", "-V"], "iproute2"],
    [["tc", "-V"], "iproute2"],
    [["iptables", "-V"], "iptables"],
    [["iptables-restore", "-V"], "iptables"],
  ];
  for (const [cmd, pkg] of tools) {
    if (!(await quiet(cmd))) {
      return {
        ok: false,
        reason: `${cmd[0]} is missing (apt-get install ${pkg})`,
      };
    }
  }
  const probe = `rlprobe${Deno.pid % 100000}`;
  try {
    await sh(["ip", "netns", "add", probe]);
  } catch (e) {
    return {
      ok: false,
      reason: `cannot create a network namespace: ${(e as Error).message}`,
    };
  }
  try {
    await sh([
      "ip",
      "link",
      "add",
      `${probe}a`,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      probe,
    ]);
    await sh(["ip", "link", "del", `${probe}a`]);
    await sh([
      "ip",
      "netns",
      "exec",
      probe,
      "iptables",
      "-A",
      "FORWARD",
      "-m",
      "statistic",
      "--mode",
      "random",
      "--probability",
      "0.5",
      "-j",
      "DROP",
    ]);
    return { ok: true };
  } catch (e) {
    return {
      ok: false,
      reason: `network namespaces work but veths or iptables do not: ${
        (e as Error).message
      }`,
    };
  } finally {
    await quiet(["ip", "link", "del", `${probe}a`]);
    await quiet(["ip", "netns", "del", probe]);
  }
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await sh(["ip", "netns", "list"]).catch(() => "");
  return out.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter(
    Boolean,
  );
}

// Kills every process in `ns`, then deletes it.
async function removeNamespace(ns: string): Promise<void> {
  const pids = await sh(["ip", "netns", "pids", ns]).catch(() => "");
  for (const p of pids.split("\n").map(Number).filter((n) => n > 0)) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch { /* gone */ }
  }
  await quiet(["ip", "netns", "del", ns]);
}

/**
 * The namespaces and veths of one chaos run; see the module documentation.
 *
 * @example
 * ```ts ignore
 * // As root:
 * const lab = await NetnsLab.create([
 *   { name: "n1", host: 11 },
 *   { name: "l0", host: 100 },
 * ]);
 * try {
 *   // Runs `deno --version` inside n1's namespace (address 10.77.S.11).
 *   await sh(lab.wrap("n1", ["deno", "--version"]));
 * } finally {
 *   await lab.destroy();
 * }
 * ```
 */
export class NetnsLab {
  /** The run prefix (`rl` + 4 hex digits). */
  readonly prefix: string;
  /** The first three octets of every address, e.g. `10.77.3`. */
  readonly subnet: string;
  /** The switch namespace. */
  readonly switchNs: string;
  /** The root namespace's address on the lab (the runner's). */
  readonly hostAddr: string;
  readonly #members = new Map<string, LabMember>();
  readonly #record: RunRecord;
  readonly #recordFile: string;
  #destroyed = false;

  private constructor(prefix: string, subnet: string, stateDir: string) {
    this.prefix = prefix;
    this.subnet = subnet;
    this.switchNs = `${prefix}-sw`;
    this.hostAddr = `${subnet}.2`;
    this.#record = {
      pid: Deno.pid,
      prefix,
      subnet,
      namespaces: [],
      hostLinks: [],
    };
    this.#recordFile = `${stateDir}/${prefix}.json`;
  }

  /** The members, by name. */
  get members(): ReadonlyMap<string, LabMember> {
    return this.#members;
  }

  /** Member `name`; throws if there is none. */
  member(name: string): LabMember {
    const m = this.#members.get(name);
    if (!m) throw new Error(`No lab member ${name}`);
    return m;
  }

  /** `cmd` run inside member `name`'s namespace (or the switch's: `"sw"`). */
  wrap(name: string, cmd: readonly string[]): string[] {
    const ns = name === "sw" ? this.switchNs : this.member(name).ns;
    return ["ip", "netns", "exec", ns, ...cmd];
  }

  /** Runs `cmd` in the switch namespace (stdin from `input`). */
  inSwitch(cmd: readonly string[], input?: string): Promise<string> {
    return sh(this.wrap("sw", cmd), input);
  }

  /**
   * Builds the lab: cleans up after crashed runs, picks a free subnet and a
   * prefix, then makes the switch, the members and the runner's link.
   * Cleans up what it made if any step fails.
   */
  static async create(
    specs: readonly LabMemberSpec[],
    options: NetnsLabOptions = {},
  ): Promise<NetnsLab> {
    const log = options.log ?? (() => {});
    const stateDir = options.stateDir ?? STATE_DIR;
    const hosts = new Set<number>();
    for (const s of specs) {
      if (!/^[a-z0-9]{1,5}$/.test(s.name) || s.name === "sw") {
        throw new Error(`Bad lab member name ${s.name}`);
      }
      if (s.host < 3 || s.host > 254 || hosts.has(s.host)) {
        throw new Error(`Bad or repeated host number ${s.host}`);
      }
      hosts.add(s.host);
    }
    // Runs may start side by side (tests in parallel): cleaning up, picking
    // a prefix and a subnet, and recording them happen under one lock.
    const lab = await withStateLock(stateDir, async () => {
      const { removed, live } = await cleanStaleLocked(stateDir);
      if (removed.length) {
        log(`removed ${removed.length} namespaces of crashed runs`);
      }
      const routes = await sh(["ip", "-4", "route", "show"]);
      const taken = new Set(live.map((r) => r.subnet));
      let subnet = "";
      for (let i = 0; i < 256 && !subnet; i++) {
        const s = `10.77.${i}`;
        if (!routes.includes(`${s}.`) && !taken.has(s)) subnet = s;
      }
      if (!subnet) throw new Error("No free 10.77.x.0/24 subnet");
      const existing = new Set(await listNamespaces());
      const prefixes = new Set(live.map((r) => r.prefix));
      let prefix = "";
      do {
        prefix = `rl${
          Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0")
        }`;
      } while (existing.has(`${prefix}-sw`) || prefixes.has(prefix));
      const made = new NetnsLab(prefix, subnet, stateDir);
      await made.#save();
      return made;
    });
    try {
      await lab.#build(specs);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  async #save(): Promise<void> {
    await Deno.writeTextFile(this.#recordFile, JSON.stringify(this.#record));
  }

  async #build(specs: readonly LabMemberSpec[]): Promise<void> {
    const sw = this.switchNs;
    const gw = `${this.subnet}.1`;
    this.#record.namespaces.push(sw);
    const ctl = `${this.prefix}-ctl`;
    this.#record.hostLinks.push(ctl);
    await this.#save();
    await sh(["ip", "netns", "add", sw]);
    await sh(["ip", "-n", sw, "link", "set", "lo", "up"]);
    await sh(this.wrap("sw", [
      "sh",
      "-c",
      "echo 1 > /proc/sys/net/ipv4/ip_forward",
    ]));
    // The runner's link: root namespace <-> switch.
    await sh([
      "ip",
      "link",
      "add",
      ctl,
      "type",
      "veth",
      "peer",
      "name",
      `${this.prefix}-rt`,
      "netns",
      sw,
    ]);
    await sh(["ip", "addr", "add", `${this.hostAddr}/32`, "dev", ctl]);
    await sh(["ip", "link", "set", ctl, "up"]);
    await sh(["ip", "route", "add", `${gw}/32`, "dev", ctl]);
    await sh([
      "ip",
      "route",
      "add",
      `${this.subnet}.0/24`,
      "via",
      gw,
      "dev",
      ctl,
      "onlink",
    ]);
    await this.#switchSide(`${this.prefix}-rt`, this.hostAddr);
    for (const s of specs) {
      const m: LabMember = {
        name: s.name,
        ns: `${this.prefix}-${s.name}`,
        addr: `${this.subnet}.${s.host}`,
        link: `${this.prefix}-${s.name}`,
      };
      this.#record.namespaces.push(m.ns);
      await this.#save();
      await sh(["ip", "netns", "add", m.ns]);
      await sh(["ip", "-n", m.ns, "link", "set", "lo", "up"]);
      await sh([
        "ip",
        "-n",
        m.ns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        m.link,
        "netns",
        sw,
      ]);
      await sh([
        "ip",
        "-n",
        m.ns,
        "addr",
        "add",
        `${m.addr}/32`,
        "dev",
        "eth0",
      ]);
      await sh(["ip", "-n", m.ns, "link", "set", "eth0", "up"]);
      await sh(["ip", "-n", m.ns, "route", "add", `${gw}/32`, "dev", "eth0"]);
      await sh([
        "ip",
        "-n",
        m.ns,
        "route",
        "add",
        "default",
        "via",
        gw,
        "dev",
        "eth0",
        "onlink",
      ]);
      await this.#switchSide(m.link, m.addr);
      this.#members.set(m.name, m);
    }
  }

  // The switch's end of a link: the gateway address, a host route.
  async #switchSide(link: string, addr: string): Promise<void> {
    const sw = this.switchNs;
    await sh([
      "ip",
      "-n",
      sw,
      "addr",
      "add",
      `${this.subnet}.1/32`,
      "dev",
      link,
    ]);
    await sh(["ip", "-n", sw, "link", "set", link, "up"]);
    await sh(["ip", "-n", sw, "route", "add", `${addr}/32`, "dev", link]);
  }

  /**
   * Kills every process left in the lab's namespaces, deletes them and the
   * runner's link, and forgets the run record. Safe to call twice.
   */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    // Members first: their processes; the switch last.
    for (const ns of [...this.#record.namespaces].reverse()) {
      await removeNamespace(ns);
    }
    for (const l of this.#record.hostLinks) {
      await quiet(["ip", "link", "del", l]);
    }
    await Deno.remove(this.#recordFile).catch(() => {});
  }

  /**
   * Removes the namespaces and links of runs whose runner is gone (their
   * record names a dead pid), and any `rlXXXX-*` namespace no live run
   * records. Resolves with the namespaces removed.
   */
  static async cleanStale(stateDir: string = STATE_DIR): Promise<string[]> {
    return (await withStateLock(stateDir, () => cleanStaleLocked(stateDir)))
      .removed;
  }
}

// Runs `f` holding an exclusive lock on `<stateDir>/.lock`.
async function withStateLock<T>(
  stateDir: string,
  f: () => Promise<T>,
): Promise<T> {
  await Deno.mkdir(stateDir, { recursive: true });
  const file = await Deno.open(`${stateDir}/.lock`, {
    create: true,
    write: true,
  });
  try {
    await file.lock(true);
    return await f();
  } finally {
    file.close(); // releases the lock
  }
}

async function cleanStaleLocked(
  stateDir: string,
): Promise<{ removed: string[]; live: RunRecord[] }> {
  const live: RunRecord[] = [];
  const removed: string[] = [];
  const records: { file: string; rec: RunRecord }[] = [];
  try {
    for await (const e of Deno.readDir(stateDir)) {
      if (!e.name.endsWith(".json")) continue;
      const file = `${stateDir}/${e.name}`;
      try {
        records.push({ file, rec: JSON.parse(await Deno.readTextFile(file)) });
      } catch {
        await Deno.remove(file).catch(() => {});
      }
    }
  } catch { /* no records yet */ }
  for (const { file, rec } of records) {
    if (alive(rec.pid)) {
      live.push(rec);
      continue;
    }
    for (const ns of [...rec.namespaces].reverse()) {
      await removeNamespace(ns);
      removed.push(ns);
    }
    for (const l of rec.hostLinks) await quiet(["ip", "link", "del", l]);
    await Deno.remove(file).catch(() => {});
  }
  // A live run's namespaces all carry its prefix, recorded or not yet.
  const livePrefixes = new Set(live.map((r) => `${r.prefix}-`));
  for (const ns of await listNamespaces()) {
    if (
      PREFIX_RE.test(ns) && !livePrefixes.has(ns.slice(0, 7)) &&
      !removed.includes(ns)
    ) {
      await removeNamespace(ns);
      removed.push(ns);
    }
  }
  return { removed, live };
}
