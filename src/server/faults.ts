/**
 * Fault injection for chaos runs against real processes, switched on by
 * the `RAFTLOCK_FAULTS` environment variable (never set it in production):
 *
 * ```sh
 * RAFTLOCK_FAULTS="slow-sync=200,sync-record=/tmp/n1.synced,knob=skipReadIndexQuorum" raftd ...
 * ```
 *
 * - `slow-sync=MS`: SIGUSR2 toggles a slow disk: while on, every sync
 *   waits MS more (the chaos nemesis sends it twice).
 * - `sync-record=PATH`: after each sync, write how many bytes of each file
 *   are durable to PATH, so a chaos run can cut the WAL after `kill -9`
 *   only where a power loss could (see `src/storage/fault_fs.ts`).
 * - `knob=NAME`: plant a bug (`TestingKnobs`, `NodeTestingKnobs`,
 *   `ServiceTestingKnobs`), to show the chaos suite catches it. Repeat for
 *   several.
 *
 * @module
 */

import type { NodeTestingKnobs } from "../node/node.ts";
import type { TestingKnobs } from "../raft/raft.ts";
import type { ServiceTestingKnobs } from "../service/service.ts";
import type { StateTestingKnobs } from "../state/machine.ts";
import { FaultInjectingFs } from "../storage/fault_fs.ts";

/** Parsed `RAFTLOCK_FAULTS`. */
export interface FaultSettings {
  /** The file system with faults, when any disk fault is asked for. */
  fs?: FaultInjectingFs;
  /** Planted bugs. */
  knobs?: AllKnobs;
  /** Whether SIGUSR2 toggles slow syncs. */
  slowSyncSignals: boolean;
}

/** Every planted bug: the core's, the node's, the service's and the state machine's. */
export type AllKnobs =
  & TestingKnobs
  & NodeTestingKnobs
  & ServiceTestingKnobs
  & StateTestingKnobs;

/** The bugs `knob=NAME` can plant: the core's, the node's and the service's. */
export const KNOBS: readonly (keyof AllKnobs)[] = [
  "voteTwice",
  "commitPreviousTermByCounting",
  "skipReadIndexQuorum",
  "followerReadsWithoutReadIndex",
  "expireLeasesAtHalfTtl",
  "semaphoreExtraPermit",
];

/**
 * Parses a `RAFTLOCK_FAULTS` value (undefined or "" means no faults).
 * Throws an `Error` naming the bad part.
 */
export function parseFaults(spec: string | undefined): FaultSettings {
  const out: FaultSettings = { slowSyncSignals: false };
  if (!spec) return out;
  let slowMs: number | undefined;
  let record: string | undefined;
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (name === "slow-sync") {
      slowMs = Number(value);
      if (!Number.isInteger(slowMs) || slowMs < 1 || slowMs > 60_000) {
        throw new Error(
          `RAFTLOCK_FAULTS: slow-sync takes 1-60000 ms, got "${value}"`,
        );
      }
    } else if (name === "sync-record" && value !== "") {
      record = value;
    } else if (name === "knob" && (KNOBS as string[]).includes(value)) {
      out.knobs = { ...out.knobs, [value]: true };
    } else {
      throw new Error(
        `RAFTLOCK_FAULTS: unknown part "${part}"; use slow-sync=MS, sync-record=PATH or knob=${
          KNOBS.join("|")
        }`,
      );
    }
  }
  if (slowMs !== undefined || record !== undefined) {
    out.fs = new FaultInjectingFs({
      slowSyncMs: slowMs,
      syncRecordFile: record,
    });
    out.slowSyncSignals = slowMs !== undefined;
  }
  return out;
}
