/**
 * The command line that starts one `raftd` member of a local cluster, for
 * the tools that launch clusters (`cli/cluster.ts`, the chaos cluster in
 * `src/chaos/`, the load bench). It names the `cli/raftd.ts` program by
 * path but imports nothing from `cli/`.
 *
 * @module
 */

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
 *
 * @example
 * ```ts
 * import { localMembers, raftdArgs } from "./raftd_args.ts";
 *
 * const members = localMembers(3, 7000, "/tmp/raftlock");
 * const cmd = new Deno.Command(Deno.execPath(), {
 *   args: raftdArgs(members[0], members, ["--log-level", "warn"]),
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
