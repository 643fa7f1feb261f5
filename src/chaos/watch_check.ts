/**
 * The watch check of a chaos run: every watcher must see every event of
 * the revisions it covered exactly once, in revision order, with the same
 * key and value every other watcher saw, and every acknowledged write that
 * falls in its range; and (given the writes clients attempted) every put
 * must be one of them, applied once.
 *
 * A watcher covers the revisions from where it started to the last event
 * it received, minus the ranges it was told were compacted (the cluster no
 * longer held them when it resumed); skipping those is allowed, and each
 * one is counted.
 *
 * @module
 */

/** One event as a watcher received it. */
export interface SeenEvent {
  /** The event's revision. */
  revision: number;
  /** The key. */
  key: string;
  /** `put` or `delete`. */
  type: string;
  /** The value of a put. */
  value?: string;
}

/** Everything one watcher saw. */
export interface WatcherLog {
  /** The watcher's name, for reports. */
  name: string;
  /** The first revision it asked for. */
  fromRevision: number;
  /** Events in the order received. */
  events: SeenEvent[];
  /** Revision ranges it skipped because they were compacted, inclusive. */
  compacted: { from: number; to: number }[];
}

/** A write the cluster acknowledged, with the revision it answered. */
export interface AckedWrite {
  /** Its revision. */
  revision: number;
  /** The key. */
  key: string;
  /** The value written. */
  value: string;
}

/** The verdict. */
export interface WatchCheckResult {
  /** True when no anomaly was found. */
  ok: boolean;
  /** Events delivered, all watchers together. */
  delivered: number;
  /** Distinct (revision, key) events seen by any watcher. */
  distinct: number;
  /** How many compacted skips the watchers took. */
  compactedSkips: number;
  /** Readable anomalies (at most 20 kept). */
  anomalies: string[];
}

const id = (revision: number, key: string) => `${revision}\u0000${key}`;

/** How {@linkcode checkWatches} names an attempted write of `value` to `key`. */
export const writeId = (key: string, value: string): string =>
  `${key}\u0000${value}`;

/** Checks the watchers' logs against each other and the acknowledged writes. */
export function checkWatches(
  watchers: readonly WatcherLog[],
  acked: readonly AckedWrite[] = [],
  attempted?: ReadonlySet<string>,
): WatchCheckResult {
  const anomalies: string[] = [];
  const note = (s: string) => {
    if (anomalies.length < 20) anomalies.push(s);
  };
  // Every event anyone saw or was told about, by (revision, key).
  const known = new Map<string, SeenEvent>();
  const learn = (e: SeenEvent, who: string) => {
    const k = id(e.revision, e.key);
    const had = known.get(k);
    if (!had) known.set(k, e);
    else if (had.type !== e.type || had.value !== e.value) {
      note(
        `${who} saw ${e.type} ${e.key}=${e.value} at revision ${e.revision}, but ${had.type} ${had.key}=${had.value} is recorded there`,
      );
    }
  };
  for (const a of acked) learn({ ...a, type: "put" }, "an acknowledged write");
  let delivered = 0;
  let compactedSkips = 0;
  for (const w of watchers) {
    delivered += w.events.length;
    compactedSkips += w.compacted.length;
    const seen = new Set<string>();
    let last = 0;
    for (const e of w.events) {
      if (e.revision < last) {
        note(
          `${w.name} got revision ${e.revision} after ${last}: out of order`,
        );
      }
      if (e.revision < w.fromRevision) {
        note(
          `${w.name} got revision ${e.revision}, before its start ${w.fromRevision}`,
        );
      }
      const k = id(e.revision, e.key);
      if (seen.has(k)) {
        note(`${w.name} got ${e.key}@${e.revision} twice`);
      }
      seen.add(k);
      last = Math.max(last, e.revision);
      learn(e, w.name);
    }
  }
  // Every put must be a write some client attempted, applied once: a
  // value nobody wrote, or one applied at two revisions, is corruption or
  // a replayed command.
  if (attempted) {
    const at = new Map<string, number>();
    for (
      const e of [...known.values()].sort((a, b) => a.revision - b.revision)
    ) {
      if (e.type !== "put") continue;
      const w = writeId(e.key, e.value ?? "");
      if (!attempted.has(w)) {
        note(
          `put ${e.key}=${e.value} at revision ${e.revision} was never written by a client`,
        );
      }
      const first = at.get(w);
      if (first !== undefined) {
        note(
          `put ${e.key}=${e.value} was applied twice, at revisions ${first} and ${e.revision}`,
        );
      } else at.set(w, e.revision);
    }
  }
  // Gaps: what a watcher should have seen in its covered range.
  for (const w of watchers) {
    if (w.events.length === 0) continue;
    const end = w.events.reduce((m, e) => Math.max(m, e.revision), 0);
    const seen = new Set(w.events.map((e) => id(e.revision, e.key)));
    const skipped = (r: number) =>
      w.compacted.some((c) => r >= c.from && r <= c.to);
    for (const [k, e] of known) {
      if (e.revision < w.fromRevision || e.revision > end) continue;
      if (seen.has(k) || skipped(e.revision)) continue;
      note(
        `${w.name} missed ${e.type} ${e.key}=${e.value} at revision ${e.revision} (it covered ${w.fromRevision}..${end})`,
      );
    }
  }
  return {
    ok: anomalies.length === 0,
    delivered,
    distinct: known.size,
    compactedSkips,
    anomalies,
  };
}
