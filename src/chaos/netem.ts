/**
 * Network faults between the members of a {@linkcode NetnsLab}, made in
 * its switch namespace:
 *
 * - cuts (`drop`: packets vanish, TCP stalls; `reject`: TCP resets) and
 *   random loss, with iptables `filter` rules (chain `RL-FAULT`);
 * - duplication with the `TEE` target (`mangle`, chain `RL-NETEM`): a copy
 *   of each chosen packet goes to the destination too;
 * - delay with jitter, and reordering, by the packet delayer
 *   (`netem_daemon.ts`) that `NFQUEUE` rules feed: the kernel here may lack
 *   `sch_netem`, and the queue works everywhere iptables does;
 * - bandwidth limits with `tc qdisc tbf` on both ends of a member's veth.
 *
 * Every fault is directed (`from` → `to`), so one-way loss or a one-way
 * cut is a fault with one direction only. {@linkcode NetFaults.apply}
 * replaces the whole set at once (one `iptables-restore`), so faults
 * never pile up by accident; {@linkcode NetFaults.setBase} holds delays
 * that stay for the whole run (the WAN profile's distances), to which a
 * fault's delay adds.
 *
 * @module
 */

import type { DelayRule } from "./netem_daemon.ts";
import { type NetnsLab, sh } from "./netns.ts";

/** One directed fault between groups of lab members. */
export interface LinkFault {
  /** Senders (member names). */
  from: readonly string[];
  /** Receivers (member names). */
  to: readonly string[];
  /** Cut the link: `drop` (silence) or `reject` (TCP reset). */
  cut?: "drop" | "reject";
  /** Share of packets lost (0–1). */
  loss?: number;
  /** Share of packets duplicated (0–1). */
  duplicate?: number;
  /** Delay, ms. */
  delayMs?: number;
  /** Jitter around the delay, ms. */
  jitterMs?: number;
  /** Share of packets sent at once, overtaking delayed ones (0–1). */
  reorder?: number;
}

/** A delay that stays for the whole run (one direction). */
export interface BaseDelay {
  /** Sender. */
  from: string;
  /** Receiver. */
  to: string;
  /** Delay, ms. */
  delayMs: number;
  /** Jitter, ms. */
  jitterMs: number;
}

/** The chains the lab's faults live in. */
export const CHAINS = { filter: "RL-FAULT", mangle: "RL-NETEM" } as const;

/** The `iptables-restore` input that creates the chains (once, at start). */
export function chainSetup(): string {
  return [
    "*filter",
    `:${CHAINS.filter} - [0:0]`,
    `-A FORWARD -j ${CHAINS.filter}`,
    "COMMIT",
    "*mangle",
    `:${CHAINS.mangle} - [0:0]`,
    `-A FORWARD -j ${CHAINS.mangle}`,
    "COMMIT",
    "",
  ].join("\n");
}

function pairs(f: LinkFault): [string, string][] {
  const out: [string, string][] = [];
  for (const a of f.from) {
    for (const b of f.to) if (a !== b) out.push([a, b]);
  }
  return out;
}

const prob = (p: number) => Math.min(1, Math.max(0, p)).toFixed(4);

/**
 * The delayer's rules for `faults` on top of `base`: per directed pair of
 * addresses, the base delay plus the largest fault delay, the larger
 * jitter, and the larger reorder share.
 */
export function delayRules(
  faults: readonly LinkFault[],
  base: readonly BaseDelay[],
  addr: (member: string) => string,
): DelayRule[] {
  const rules = new Map<string, DelayRule>();
  const get = (a: string, b: string) => {
    const key = `${a}>${b}`;
    let r = rules.get(key);
    if (!r) {
      r = { src: addr(a), dst: addr(b), delayMs: 0, jitterMs: 0, reorder: 0 };
      rules.set(key, r);
    }
    return r;
  };
  for (const d of base) {
    const r = get(d.from, d.to);
    r.delayMs += d.delayMs;
    r.jitterMs = Math.max(r.jitterMs, d.jitterMs);
  }
  const extra = new Map<string, number>();
  for (const f of faults) {
    if (!f.delayMs && !f.reorder && !f.jitterMs) continue;
    for (const [a, b] of pairs(f)) {
      const r = get(a, b);
      const key = `${a}>${b}`;
      extra.set(key, Math.max(extra.get(key) ?? 0, f.delayMs ?? 0));
      r.jitterMs = Math.max(r.jitterMs, f.jitterMs ?? 0);
      r.reorder = Math.max(r.reorder, f.reorder ?? 0);
    }
  }
  for (const [key, ms] of extra) rules.get(key)!.delayMs += ms;
  return [...rules.values()].filter((r) =>
    r.delayMs > 0 || r.jitterMs > 0 || r.reorder > 0
  );
}

/**
 * The `iptables-restore --noflush` input that makes the chains hold
 * exactly `faults` (and queue every pair of `delays` to the delayer).
 */
export function faultRules(
  faults: readonly LinkFault[],
  delays: readonly DelayRule[],
  addr: (member: string) => string,
): string {
  const filter: string[] = [];
  const mangle: string[] = [];
  const sd = (a: string, b: string) => `-s ${addr(a)}/32 -d ${addr(b)}/32`;
  for (const f of faults) {
    for (const [a, b] of pairs(f)) {
      if (f.cut === "reject") {
        filter.push(
          `-A ${CHAINS.filter} ${
            sd(a, b)
          } -p tcp -j REJECT --reject-with tcp-reset`,
        );
      }
      if (f.cut) filter.push(`-A ${CHAINS.filter} ${sd(a, b)} -j DROP`);
      if (f.loss) {
        filter.push(
          `-A ${CHAINS.filter} ${
            sd(a, b)
          } -m statistic --mode random --probability ${prob(f.loss)} -j DROP`,
        );
      }
      if (f.duplicate) {
        mangle.push(
          `-A ${CHAINS.mangle} ${
            sd(a, b)
          } -m statistic --mode random --probability ${
            prob(f.duplicate)
          } -j TEE --gateway ${addr(b)}`,
        );
      }
    }
  }
  // The queue is a final verdict for the hook: after every TEE.
  for (const r of delays) {
    mangle.push(
      `-A ${CHAINS.mangle} -s ${r.src}/32 -d ${r.dst}/32 -j NFQUEUE --queue-num 0 --queue-bypass`,
    );
  }
  return [
    "*filter",
    `-F ${CHAINS.filter}`,
    ...filter,
    "COMMIT",
    "*mangle",
    `-F ${CHAINS.mangle}`,
    ...mangle,
    "COMMIT",
    "",
  ].join("\n");
}

/** The `tc` commands that limit a device to `kbit` (or lift the limit). */
export function bandwidthCommand(dev: string, kbit?: number): string[] {
  return kbit === undefined ? ["tc", "qdisc", "del", "dev", dev, "root"] : [
    "tc",
    "qdisc",
    "replace",
    "dev",
    dev,
    "root",
    "tbf",
    "rate",
    `${kbit}kbit`,
    "burst",
    "16kb",
    "latency",
    "400ms",
  ];
}

/** Counts from the packet delayer. */
export interface DelayerStats {
  /** Packets queued to it. */
  packets: number;
  /** Packets it held back. */
  delayed: number;
  /** Packets it let go at once under a reorder share. */
  reordered: number;
  /** Most packets held at once. */
  maxHeld: number;
}

/**
 * The faults of one lab: see the module documentation.
 *
 * @example
 * ```ts ignore
 * const faults = await NetFaults.start(lab);
 * // n1 cannot send to n2 or n3; n3 sees 200 ± 50 ms from the clients.
 * await faults.apply([
 *   { from: ["n1"], to: ["n2", "n3"], cut: "drop" },
 *   { from: ["l0", "l1"], to: ["n3"], delayMs: 200, jitterMs: 50 },
 * ]);
 * await faults.apply([]); // healed
 * await faults.stop();
 * ```
 */
export class NetFaults {
  readonly #lab: NetnsLab;
  readonly #daemon: Deno.ChildProcess | undefined;
  readonly #lines: AsyncIterator<string> | undefined;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Why delay, jitter and reordering are unavailable, if they are. */
  readonly delayUnavailable: string | undefined;
  #base: BaseDelay[] = [];
  #faults: LinkFault[] = [];
  #limited = new Set<string>();
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(
    lab: NetnsLab,
    daemon: Deno.ChildProcess | undefined,
    lines: AsyncIterator<string> | undefined,
    why: string | undefined,
  ) {
    this.#lab = lab;
    this.#daemon = daemon;
    this.#lines = lines;
    this.#writer = daemon?.stdin.getWriter();
    this.delayUnavailable = why;
  }

  /** Creates the chains and starts the packet delayer in the switch. */
  static async start(lab: NetnsLab): Promise<NetFaults> {
    await lab.inSwitch(["iptables-restore", "--noflush"], chainSetup());
    const daemon = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        lab.switchNs,
        Deno.execPath(),
        "run",
        "-A",
        new URL("./netem_daemon.ts", import.meta.url).pathname,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = daemon.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(splitLines())[Symbol.asyncIterator]();
    const first = await Promise.race([
      lines.next(),
      new Promise<IteratorResult<string>>((r) =>
        setTimeout(() => r({ done: true, value: undefined }), 30_000)
      ),
    ]);
    let why: string | undefined;
    try {
      const m = first.done ? {} : JSON.parse(first.value);
      if (!m.ready) why = m.error ?? "the packet delayer did not start";
    } catch {
      why = `the packet delayer said ${JSON.stringify(first.value)}`;
    }
    if (why) {
      try {
        daemon.kill("SIGKILL");
      } catch { /* gone */ }
      await daemon.status;
      return new NetFaults(lab, undefined, undefined, why);
    }
    return new NetFaults(lab, daemon, lines, undefined);
  }

  /** The faults in force. */
  get faults(): readonly LinkFault[] {
    return this.#faults;
  }

  /** Sets the delays that stay for the run (the WAN profile's). */
  setBase(base: readonly BaseDelay[]): Promise<void> {
    this.#base = [...base];
    return this.#sync();
  }

  /** Replaces the faults in force with `faults` ([] heals the network). */
  apply(faults: readonly LinkFault[]): Promise<void> {
    if (
      this.delayUnavailable &&
      faults.some((f) => f.delayMs || f.jitterMs || f.reorder)
    ) {
      return Promise.reject(
        new Error(`Delays are unavailable: ${this.delayUnavailable}`),
      );
    }
    this.#faults = [...faults];
    return this.#sync();
  }

  /** Limits `member`'s link to `kbit` both ways (undefined: no limit). */
  bandwidth(member: string, kbit?: number): Promise<void> {
    return this.#serial(async () => {
      const m = this.#lab.member(member);
      if (kbit === undefined && !this.#limited.has(member)) return;
      const run = kbit === undefined
        ? (c: string[]) => sh(c).catch(() => "")
        : (c: string[]) => sh(c);
      await run(this.#lab.wrap("sw", bandwidthCommand(m.link, kbit)));
      await run(this.#lab.wrap(member, bandwidthCommand("eth0", kbit)));
      if (kbit === undefined) this.#limited.delete(member);
      else this.#limited.add(member);
    });
  }

  /** Heals everything but the base delays. */
  async heal(): Promise<void> {
    await this.apply([]);
    for (const m of [...this.#limited]) await this.bandwidth(m);
  }

  /** Counts from the delayer (zeros when it is not running). */
  async stats(): Promise<DelayerStats> {
    const none = { packets: 0, delayed: 0, reordered: 0, maxHeld: 0 };
    if (!this.#writer) return none;
    const m = await this.#serial(() => this.#ask({ stats: true })).catch(
      () => none,
    );
    return {
      packets: m.packets ?? 0,
      delayed: m.delayed ?? 0,
      reordered: m.reordered ?? 0,
      maxHeld: m.maxHeld ?? 0,
    };
  }

  /** Stops the delayer (the queue rules let packets through once it is gone). */
  async stop(): Promise<void> {
    await this.#writer?.close().catch(() => {});
    if (this.#daemon) {
      const t = setTimeout(() => {
        try {
          this.#daemon!.kill("SIGKILL");
        } catch { /* gone */ }
      }, 2000);
      await this.#daemon.status;
      clearTimeout(t);
    }
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(f, f);
    this.#lock = next.catch(() => {});
    return next;
  }

  // deno-lint-ignore no-explicit-any
  async #ask(message: unknown): Promise<any> {
    await this.#writer!.write(
      new TextEncoder().encode(JSON.stringify(message) + "\n"),
    );
    const r = await Promise.race([
      this.#lines!.next(),
      new Promise<IteratorResult<string>>((_, reject) =>
        setTimeout(
          () => reject(new Error("The packet delayer did not answer")),
          5000,
        )
      ),
    ]);
    if (r.done) throw new Error("The packet delayer has stopped");
    const m = JSON.parse(r.value);
    if (m.error) throw new Error(`The packet delayer: ${m.error}`);
    return m;
  }

  #sync(): Promise<void> {
    return this.#serial(async () => {
      const addr = (n: string) =>
        n === "host" ? this.#lab.hostAddr : this.#lab.member(n).addr;
      const delays = this.#writer
        ? delayRules(this.#faults, this.#base, addr)
        : [];
      // The delayer learns new pairs before packets are queued to it;
      // a pair it does not know goes through at once.
      if (this.#writer) await this.#ask({ rules: delays });
      await this.#lab.inSwitch(
        ["iptables-restore", "--noflush"],
        faultRules(this.#faults, delays, addr),
      );
    });
  }
}

/** A transform stream from text chunks to lines (without the newline). */
export function splitLines(): TransformStream<string, string> {
  let buf = "";
  return new TransformStream({
    transform(chunk, ctl) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        ctl.enqueue(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    },
    flush(ctl) {
      if (buf) ctl.enqueue(buf);
    },
  });
}
