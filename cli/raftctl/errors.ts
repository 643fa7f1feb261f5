/**
 * raftctl's two kinds of failure, and the messages it prints for errors
 * from the cluster.
 *
 * @module
 */

import { RaftlockError } from "../../src/client/mod.ts";

/** A bad command line: exit code 2. */
export class UsageError extends Error {
  /** The command (or group) whose help to point at. */
  readonly command?: string;
  /** Whether to print the command's usage line. */
  readonly showUsage: boolean;
  /** Creates the error; `command` names the help to point at. */
  constructor(message: string, command?: string, showUsage = true) {
    super(message);
    this.name = "UsageError";
    this.command = command;
    this.showUsage = showUsage;
  }
}

/** A failure with a ready message: exit code 1 (or `code`). */
export class CliError extends Error {
  /** The exit code. */
  readonly code: number;
  /** Creates the error; raftctl exits with `code`. */
  constructor(message: string, code = 1) {
    super(message);
    this.name = "CliError";
    this.code = code;
  }
}

/**
 * The message for a failed command: for a {@linkcode RaftlockError}, what
 * went wrong and what to do about it; `endpoints` are the ones tried.
 */
export function describeError(e: unknown, endpoints: string[]): string {
  if (!(e instanceof RaftlockError)) return (e as Error)?.message ?? String(e);
  const list = endpoints
    .map((x) => (/^[a-z]+:\/\//i.test(x) ? x : `http://${x}`))
    .join(", ");
  switch (e.code) {
    case "unreachable":
      return `cannot reach any endpoint (${list}): is raftd running? start one with \`deno task start\`, or point --endpoints at a running node`;
    case "timeout":
      return `the cluster did not answer in time (${list}): ${e.message}; check \`raftctl status\` and retry`;
    case "unavailable":
      return `the cluster is unavailable: ${e.message}; it may be electing a leader or have lost its quorum (check \`raftctl status\`)`;
    case "lock_held": {
      const h = e.holder;
      // Elections, semaphores and read-write locks name no holder.
      return h === undefined
        ? `${e.message}; wait for it with --wait ms`
        : h
        ? `${e.message} (holder token ${h.token}, lease ${h.lease}${
          h.owner ? `, owner ${JSON.stringify(h.owner)}` : ""
        }); wait for it with --wait ms`
        : `${e.message} (a lock-delay is running); wait for it with --wait ms`;
    }
    case "conflict": {
      const cur = e.current;
      return cur === undefined
        ? e.message
        : cur === null
        ? `${e.message} (the key does not exist)`
        : `${e.message} (now modRevision ${cur.modRevision}, version ${cur.version})`;
    }
    case "stale_token":
      return `${e.message}: the grant it names has ended`;
    case "compacted":
      return `${e.message}; watch from a later --from-revision`;
    case "bad_request":
      return `invalid request: ${e.message}`;
    case "unauthenticated":
      return `${e.message}; auth is on: give --user with --password-file, or a token in --token or $RAFTLOCK_TOKEN`;
    case "permission_denied":
      return `permission denied: ${e.message}`;
    case "too_many_requests":
      return `${e.message}; the node is busy checking passwords, retry in a moment`;
    default:
      return e.message;
  }
}
