/**
 * Helpers for the checker's tests: a builder of hand-made histories, a
 * generator of histories from a simulated atomic register, and check
 * options whose outcome does not depend on the machine.
 */

import {
  type CheckOptions,
  type ClientId,
  type HistoryEvent,
  HistoryRecorder,
  type Model,
  type Op,
  type Operation,
  toEvents,
  toOperations,
  UNKNOWN,
  type Unknown,
} from "../../src/check/mod.ts";

/**
 * Check options for tests: budgets in search steps and a clock that stands
 * still (so no time budget runs out), so a verdict, and whether a witness
 * is minimal, are the same on every machine however loaded. The search
 * budget is 10 times what the largest generated history needs (about 2
 * million steps). Shrinking nearly always takes under 3 million steps; the
 * rare history that needs more (one generated case takes 40 million, 7 s)
 * is reported not minimal rather than slowing the tests down.
 */
export const STEP_BUDGET: Readonly<CheckOptions> = Object.freeze({
  now: () => 0,
  maxSteps: 20_000_000,
  minimizeMaxSteps: 5_000_000,
});

/** Builds a history from operations given with explicit times. */
export class Hist {
  readonly ops: Operation[] = [];
  #id = 0;

  /** An operation that completed `ok` with `result`. */
  ok(
    client: ClientId,
    op: Op,
    start: number,
    end: number,
    result?: unknown,
  ): this {
    this.ops.push({
      id: this.#id++,
      client,
      op,
      status: "ok",
      result,
      start,
      end,
    });
    return this;
  }

  /** An operation that definitely did not happen. */
  fail(client: ClientId, op: Op, start: number, end: number): this {
    this.ops.push({
      id: this.#id++,
      client,
      op,
      status: "fail",
      error: "refused",
      start,
      end,
    });
    return this;
  }

  /** An operation of unknown outcome (the client gave up at `gaveUp`). */
  info(client: ClientId, op: Op, start: number, gaveUp: number): this {
    this.ops.push({
      id: this.#id++,
      client,
      op,
      status: "info",
      error: "timeout",
      start,
      end: Infinity,
      gaveUpAt: gaveUp,
    });
    return this;
  }

  /** The history as events (invocations first at equal times). */
  events(): HistoryEvent[] {
    return toEvents(this.ops);
  }
}

/** Shorthands for register operations. */
export const r = {
  read: (key: string): Op => ({ f: "read", key }),
  write: (key: string, value: unknown): Op => ({ f: "write", key, value }),
  cas: (key: string, expected: unknown, value: unknown): Op => ({
    f: "cas",
    key,
    expected,
    value,
  }),
  del: (key: string): Op => ({ f: "delete", key }),
};

/** Shorthands for lock operations. */
export const l = {
  acquire: (lock: string): Op => ({ f: "acquire", lock }),
  release: (lock: string, token: number): Op => ({
    f: "release",
    lock,
    token,
  }),
  fenced: (lock: string, token: number, key?: string, value?: unknown): Op =>
    key === undefined
      ? { f: "fencedWrite", lock, token }
      : { f: "fencedWrite", lock, token, key, value },
  holder: (lock: string): Op => ({ f: "holder", lock }),
  validate: (lock: string, token: number): Op => ({
    f: "validate",
    lock,
    token,
  }),
};

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@link simulateRegister}. */
export interface SimOptions {
  /** PRNG seed. */
  seed: number;
  /** Operations to invoke. */
  ops: number;
  /** Concurrent clients. */
  clients: number;
  /** Keys. */
  keys: number;
  /** Share of operations whose outcome is lost (`info`). */
  infoRate?: number;
  /** Share of writes and CAS refused before taking effect (`fail`). */
  failRate?: number;
  /** Share of reads (the rest: writes, CAS, deletes). */
  readRate?: number;
  /** Share of CAS among the non-reads. */
  casRate?: number;
  /** Share of deletes among the non-reads. */
  deleteRate?: number;
  /** Largest clock advance per step (integer; 0 advances make ties). */
  maxTick?: number;
}

/**
 * Runs random clients against a correct atomic register (a map, applied at
 * one instant inside each operation's window) and records the history.
 * Values written are unique. Lost (`info`) operations take effect at a
 * random later instant, or never; refused (`fail`) ones never do.
 */
export function simulateRegister(options: SimOptions): HistoryEvent[] {
  const rand = prng(options.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const infoRate = options.infoRate ?? 0.02;
  const failRate = options.failRate ?? 0.02;
  const readRate = options.readRate ?? 0.5;
  const casRate = options.casRate ?? 0.25;
  const deleteRate = options.deleteRate ?? 0.05;
  const maxTick = options.maxTick ?? 3;
  let now = 0;
  const rec = new HistoryRecorder({ clock: () => now });
  const keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
  const store = new Map<string, unknown>();
  const written: unknown[] = [];
  let serial = 0;

  type Outcome = "ok" | "fail" | "info";
  interface Pending {
    id: number;
    op: Op;
    outcome: Outcome;
    applied: boolean;
    result?: unknown;
  }
  const apply = (op: Op): unknown => {
    const key = op.key as string;
    const cur = store.get(key) ?? null;
    switch (op.f) {
      case "read":
        return cur;
      case "write":
        store.set(key, op.value);
        return undefined;
      case "delete":
        store.delete(key);
        return undefined;
      case "cas":
        if (cur === (op.expected ?? null)) {
          store.set(key, op.value);
          return true;
        }
        return false;
    }
    throw new Error(`Unknown f ${op.f}`);
  };

  const clients: (Pending | undefined)[] = new Array(options.clients).fill(
    undefined,
  );
  const ghosts: Op[] = []; // lost operations that may still take effect
  let invoked = 0;
  while (invoked < options.ops || clients.some((c) => c !== undefined)) {
    now += Math.floor(rand() * (maxTick + 1));
    if (ghosts.length > 0 && rand() < 0.05) {
      const g = ghosts.splice(Math.floor(rand() * ghosts.length), 1)[0];
      if (rand() < 0.5) apply(g);
    }
    const c = Math.floor(rand() * clients.length);
    const p = clients[c];
    if (p === undefined) {
      if (invoked >= options.ops) continue;
      invoked++;
      const key = pick(keys);
      let op: Op;
      const x = rand();
      if (x < readRate) op = { f: "read", key };
      else {
        const y = rand();
        const value = `v${serial++}`;
        if (y < casRate) {
          const expected = rand() < 0.6
            ? store.get(key) ?? null
            : written.length > 0
            ? pick(written)
            : null;
          op = { f: "cas", key, expected, value };
        } else if (y < casRate + deleteRate) {
          op = { f: "delete", key };
        } else {
          op = { f: "write", key, value };
        }
        if (op.value !== undefined) written.push(op.value);
      }
      const z = rand();
      const outcome: Outcome = z < infoRate
        ? "info"
        : z < infoRate + failRate && op.f !== "read"
        ? "fail"
        : "ok";
      clients[c] = {
        id: rec.invoke(`c${c}`, op),
        op,
        outcome,
        applied: false,
      };
      continue;
    }
    if (p.outcome === "fail") {
      rec.fail(p.id, "conflict");
      clients[c] = undefined;
    } else if (p.outcome === "info") {
      if (!p.applied && rand() < 0.3) {
        apply(p.op);
        p.applied = true;
      } else {
        rec.info(p.id, "timeout");
        if (!p.applied) ghosts.push(p.op);
        clients[c] = undefined;
      }
    } else if (!p.applied) {
      p.result = apply(p.op);
      p.applied = true;
    } else {
      rec.ok(p.id, p.result);
      clients[c] = undefined;
    }
  }
  return rec.events();
}

/**
 * Injects a stale read: a read that returns the value of a write that was
 * overwritten (by a write completed before the read began, itself begun
 * after the first write completed). Returns undefined when the history has
 * no such read.
 */
export function injectStaleRead(
  events: readonly HistoryEvent[],
  seed: number,
): { events: HistoryEvent[]; readId: number } | undefined {
  const ops = toOperations(events);
  const writes = ops.filter((o) => o.status === "ok" && o.op.f === "write");
  const reads = ops.filter((o) => o.status === "ok" && o.op.f === "read");
  const rand = prng(seed);
  const start = Math.floor(rand() * Math.max(1, reads.length));
  for (let k = 0; k < reads.length; k++) {
    const rd = reads[(start + k) % reads.length];
    const key = rd.op.key;
    for (const wb of writes) {
      if (wb.op.key !== key || !(wb.end < rd.start)) continue;
      const wa = writes.find((w) =>
        w.op.key === key && w.end < wb.start && w.op.value !== rd.result
      );
      if (wa === undefined) continue;
      const out = events.map((e) =>
        e.id === rd.id && e.type === "ok" ? { ...e, result: wa.op.value } : e
      );
      return { events: out, readId: rd.id };
    }
  }
  return undefined;
}

/**
 * A brute-force linearizability check for tiny histories: tries every
 * order (and every choice of which optional operations happen). `optional`
 * names `ok` operations to treat as may-or-may-not-have-happened within
 * their window (as minimization's honesty check does).
 */
export function bruteForce<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation[],
  optional: ReadonlySet<number> = new Set(),
): boolean {
  const ops = operations.filter((o) => o.status !== "fail");
  const parts = model.partition ? model.partition(ops) : [{
    key: "",
    entries: ops.map((o) => ({
      operation: o,
      input: o.op as Input,
      output: o.result as Output,
    })),
  }];
  for (const part of parts) {
    interface Item {
      input: Input;
      output: Output | Unknown;
      required: boolean;
      start: number;
      end: number;
    }
    const items: Item[] = part.entries.map((e) => {
      const o = e.operation;
      const known = o.status === "ok";
      return {
        input: e.input,
        output: known ? e.output : UNKNOWN,
        required: known && !optional.has(o.id),
        start: o.start,
        end: known ? o.end : Infinity,
      };
    });
    // Memo of failed (remaining operations, state) pairs.
    const failed = new Set<string>();
    const go = (remaining: Item[], state: State): boolean => {
      if (!remaining.some((x) => x.required)) return true;
      const key = remaining.map((x) => items.indexOf(x)).join(",") + "|" +
        JSON.stringify(state);
      if (failed.has(key)) return false;
      for (const x of remaining) {
        // Everything that must precede x: required ones block it; optional
        // ones are skipped (they did not happen).
        const before = remaining.filter((y) => y !== x && y.end < x.start);
        if (before.some((y) => y.required)) continue;
        const r = model.step(state, x.input, x.output);
        if (!r.ok) continue;
        const rest = remaining.filter((y) => y !== x && !before.includes(y));
        if (go(rest, r.state)) return true;
      }
      failed.add(key);
      return false;
    };
    if (!go(items, model.init())) return false;
  }
  return true;
}

/** Options of {@link simulateLocks}. */
export interface LockSimOptions {
  /** PRNG seed. */
  seed: number;
  /** Operations to invoke. */
  ops: number;
  /** Concurrent clients. */
  clients: number;
  /** Lock names. */
  locks: number;
  /** Whether leases expire at random instants (default true). */
  expiry?: boolean;
  /** Share of operations whose outcome is lost (`info`). */
  infoRate?: number;
}

/**
 * Runs random clients against a correct lock service (try-lock acquire,
 * release, fenced writes, holder queries; tokens from one global counter;
 * leases expiring at random instants) and records the history.
 */
export function simulateLocks(options: LockSimOptions): HistoryEvent[] {
  const rand = prng(options.seed);
  const expiry = options.expiry ?? true;
  const infoRate = options.infoRate ?? 0.03;
  let now = 0;
  const rec = new HistoryRecorder({ clock: () => now });
  const names = Array.from({ length: options.locks }, (_, i) => `L${i}`);
  const holder = new Map<string, number | null>();
  let revision = 0;
  interface Pending {
    id: number;
    op: Op;
    info: boolean;
    applied: boolean;
    ok?: boolean;
    result?: unknown;
  }
  const clients: (Pending | undefined)[] = new Array(options.clients).fill(
    undefined,
  );
  // The token each client believes it holds, per lock.
  const mine: Map<string, number>[] = clients.map(() => new Map());
  const ghosts: Op[] = [];
  const apply = (op: Op): { ok: boolean; result?: unknown } => {
    const lock = op.lock as string;
    const h = holder.get(lock) ?? null;
    switch (op.f) {
      case "acquire":
        if (h !== null) return { ok: false };
        revision++;
        holder.set(lock, revision);
        return { ok: true, result: { token: revision } };
      case "release":
        if (h !== op.token) return { ok: false };
        holder.set(lock, null);
        return { ok: true };
      case "fencedWrite":
        if (h !== op.token) return { ok: false };
        revision++;
        return { ok: true };
      case "holder":
        return { ok: true, result: h === null ? null : { token: h } };
    }
    throw new Error(`Unknown f ${op.f}`);
  };
  let invoked = 0;
  while (invoked < options.ops || clients.some((c) => c !== undefined)) {
    now += Math.floor(rand() * 3);
    if (expiry && rand() < 0.03) {
      holder.set(names[Math.floor(rand() * names.length)], null);
    }
    if (ghosts.length > 0 && rand() < 0.05) {
      const g = ghosts.splice(Math.floor(rand() * ghosts.length), 1)[0];
      if (rand() < 0.5) apply(g);
    }
    const c = Math.floor(rand() * clients.length);
    const p = clients[c];
    if (p === undefined) {
      if (invoked >= options.ops) continue;
      invoked++;
      const lock = names[Math.floor(rand() * names.length)];
      const t = mine[c].get(lock);
      const x = rand();
      let op: Op;
      if (t === undefined) {
        op = x < 0.8 ? { f: "acquire", lock } : { f: "holder", lock };
      } else if (x < 0.6) op = { f: "fencedWrite", lock, token: t };
      else if (x < 0.9) op = { f: "release", lock, token: t };
      else op = { f: "holder", lock };
      clients[c] = {
        id: rec.invoke(`c${c}`, op),
        op,
        info: rand() < infoRate,
        applied: false,
      };
      continue;
    }
    if (!p.applied && (!p.info || rand() < 0.3)) {
      const out = apply(p.op);
      p.applied = true;
      p.ok = out.ok;
      p.result = out.result;
      continue;
    }
    const lock = p.op.lock as string;
    if (p.info) {
      rec.info(p.id, "timeout");
      if (!p.applied) ghosts.push(p.op);
      if (p.op.f === "release") mine[c].delete(lock);
    } else if (p.ok) {
      rec.ok(p.id, p.result);
      if (p.op.f === "acquire") {
        mine[c].set(lock, (p.result as { token: number }).token);
      }
      if (p.op.f === "release") mine[c].delete(lock);
    } else {
      rec.fail(p.id, "refused");
      // A refused fenced write or release: the lease is gone.
      if (p.op.f !== "acquire") mine[c].delete(lock);
    }
    clients[c] = undefined;
  }
  return rec.events();
}
