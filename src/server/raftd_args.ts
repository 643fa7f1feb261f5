/**
 * The command line that starts one `raftd` member of a local cluster, for
 * the tools that launch clusters (`cli/cluster.ts`, the chaos cluster in
 * `src/chaos/`, the load bench). It names the `cli/raftd.ts` program by
 * path but imports nothing from `cli/`.
 *
 * @module
 */

/**
 * V8 flags every launcher gives `raftd` (deno.json's `start` and
 * `compile:raftd` tasks carry the same; a test keeps them equal). V8's
 * memory reducer, which gives an idle heap back to the system with
 * incremental collections (no stop-the-world pause), may start 1 s after
 * start-up instead of 30 s and looks again 2 s after a busy spell instead of
 * 8 s: a node that restored 100 000 keys or took a burst of writes drops to
 * its live size within seconds instead of holding twice that. Costs no
 * throughput: the reducer acts only while the node allocates little.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RAFTD_V8_FLAGS } from "./raftd_args.ts";
 *
 * assert.ok(RAFTD_V8_FLAGS.every((f) => f.startsWith("--")));
 * ```
 */
export const RAFTD_V8_FLAGS: readonly string[] = [
  "--gc-memory-reducer-start-delay-ms=1000",
  "--memory-reducer-delay-ms=2000",
];

/**
 * Environment every launcher gives `raftd` (deno.json's `start` task and
 * the systemd unit carry the same). glibc raises its mmap threshold each
 * time a large block (a snapshot file read whole, a WAL segment) is freed,
 * so later buffers up to that size come from its heap, whose freed holes it
 * keeps: 30–60 MB of resident memory after a restart with 100 000 keys. A
 * fixed threshold (128 KiB, glibc's default) keeps large buffers in their
 * own mappings, returned to the system when freed.
 *
 * @example
 * ```ts
 * import { RAFTD_ENV } from "./raftd_args.ts";
 *
 * const cmd = new Deno.Command(Deno.execPath(), {
 *   args: ["run", "-A", "cli/raftd.ts"],
 *   env: { ...RAFTD_ENV },
 * });
 * ```
 */
export const RAFTD_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: "131072",
};

/** One member of a local cluster. */
export interface LocalMember {
  /** Node id, e.g. `n1`. */
  id: string;
  /** Its data directory. */
  dataDir: string;
  /** Peer address, host:port. */
  peer: string;
  /** HTTP address, host:port. */
  http: string;
}

/** The `--peers` value for `members`. */
export function peersFlag(members: readonly LocalMember[]): string {
  return members.map((m) => `${m.id}=${m.peer}`).join(",");
}

/** Cluster-wide settings of {@linkcode raftdArgs}. */
export interface RaftdArgsOptions {
  /** The cluster's peer secret file (`--peer-secret-file`); see `ensurePeerSecretFile`. */
  peerSecretFile?: string;
}

/**
 * Arguments for `Deno.execPath()` that run `cli/raftd.ts` as `member` of a
 * cluster of `members`, with extra flags appended (e.g. `--log-level warn`).
 * Run them with {@linkcode RAFTD_ENV} in the environment.
 *
 * @example
 * ```ts
 * import { localMembers, RAFTD_ENV, raftdArgs } from "./raftd_args.ts";
 *
 * const members = localMembers(3, 7000, "/tmp/raftlock");
 * const cmd = new Deno.Command(Deno.execPath(), {
 *   args: raftdArgs(members[0], members, ["--log-level", "warn"]),
 *   env: { ...RAFTD_ENV },
 * });
 * ```
 */
export function raftdArgs(
  member: LocalMember,
  members: readonly LocalMember[],
  extra: readonly string[] = [],
  options: RaftdArgsOptions = {},
): string[] {
  return [
    "run",
    "-A",
    `--v8-flags=${RAFTD_V8_FLAGS.join(",")}`,
    new URL("../../cli/raftd.ts", import.meta.url).pathname,
    "--id",
    member.id,
    "--data-dir",
    member.dataDir,
    "--listen",
    member.peer,
    "--http",
    member.http,
    "--peers",
    peersFlag(members),
    ...(options.peerSecretFile
      ? ["--peer-secret-file", options.peerSecretFile]
      : []),
    ...extra,
  ];
}

/** Members `n1..nN` on loopback: peers from `basePort`, HTTP from `basePort + 50`. */
export function localMembers(
  n: number,
  basePort: number,
  dataDir: string,
): LocalMember[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `n${i + 1}`,
    dataDir: `${dataDir}/n${i + 1}`,
    peer: `127.0.0.1:${basePort + i}`,
    http: `127.0.0.1:${basePort + 50 + i}`,
  }));
}
