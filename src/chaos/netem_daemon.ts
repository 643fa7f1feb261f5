/**
 * The packet delayer of namespaced chaos runs, a stand-in for
 * `tc qdisc netem` (which many kernels are built without): run inside the
 * switch namespace, it takes the packets that iptables rules send to
 * netfilter queue 0 and lets each go after the delay its (source,
 * destination) pair is given, plus or minus the jitter; a share of them
 * (`reorder`) goes at once, overtaking the delayed ones.
 *
 * Protocol: one JSON object a line on stdin, one answer a line on stdout.
 *
 * - `{"rules": [{"src", "dst", "delayMs", "jitterMs", "reorder"}]}`
 *   replaces every rule; answers `{"ok": true, "rules": n}`.
 * - `{"stats": true}` answers `{"ok": true, "packets": n, "delayed": n,
 *   "reordered": n, "maxHeld": n}`.
 *
 * It answers `{"ready": true}` once the queue is bound, or `{"error":
 * "..."}` and exits 1 when it cannot bind. It exits when stdin closes.
 *
 * ```sh
 * ip netns exec rl1234-sw deno run -A src/chaos/netem_daemon.ts
 * ```
 *
 * @module
 */

import { NF_ACCEPT, NfQueue } from "./nfqueue.ts";

/** One delay rule of the daemon. */
export interface DelayRule {
  /** Source IPv4 address. */
  src: string;
  /** Destination IPv4 address. */
  dst: string;
  /** Mean delay, ms. */
  delayMs: number;
  /** Up to this much more or less, uniformly (ms). */
  jitterMs: number;
  /** Share of packets (0–1) that go at once. */
  reorder: number;
}

/**
 * How long to hold a packet under `rule` (0: let it go now), given a
 * uniform random number source.
 */
export function holdFor(rule: DelayRule, random: () => number): number {
  if (rule.reorder > 0 && random() < rule.reorder) return 0;
  const jitter = rule.jitterMs * (2 * random() - 1);
  return Math.max(0, rule.delayMs + jitter);
}

async function main(): Promise<void> {
  const enc = new TextEncoder();
  const say = (o: unknown) =>
    Deno.stdout.writeSync(enc.encode(JSON.stringify(o) + "\n"));
  let q: NfQueue;
  try {
    q = NfQueue.open(0);
  } catch (e) {
    say({ error: (e as Error).message });
    Deno.exit(1);
  }
  let rules = new Map<string, DelayRule>();
  const stats = { packets: 0, delayed: 0, reordered: 0, held: 0, maxHeld: 0 };
  say({ ready: true });

  (async () => {
    const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
    let buf = "";
    for await (const chunk of lines) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          const m = JSON.parse(line);
          if (Array.isArray(m.rules)) {
            const next = new Map<string, DelayRule>();
            for (const r of m.rules as DelayRule[]) {
              next.set(`${r.src}>${r.dst}`, r);
            }
            rules = next;
            say({ ok: true, rules: next.size });
          } else if (m.stats) {
            const { held: _, ...rest } = stats;
            say({ ok: true, ...rest });
          }
        } catch (e) {
          say({ error: (e as Error).message });
        }
      }
    }
    q.close();
    Deno.exit(0);
  })();

  const release = (id: number) => {
    stats.held--;
    q.verdict(id, NF_ACCEPT);
  };
  for (;;) {
    const packets = await q.next();
    for (const p of packets) {
      stats.packets++;
      const rule = rules.get(`${p.src}>${p.dst}`);
      const ms = rule ? holdFor(rule, Math.random) : 0;
      if (ms <= 0) {
        if (rule) stats.reordered++;
        q.verdict(p.id, NF_ACCEPT);
        continue;
      }
      stats.delayed++;
      stats.held++;
      if (stats.held > stats.maxHeld) stats.maxHeld = stats.held;
      setTimeout(release, ms, p.id);
    }
  }
}

if (import.meta.main) main();
