/**
 * Running a command line while a grant is held (`elect run`, `sem run`,
 * `rwlock run`): the child gets the grant in its environment, Ctrl-C and
 * SIGTERM are passed on to it, and when the grant is lost it is stopped —
 * SIGTERM, then SIGKILL if it has not exited after a grace period. The
 * grant is given back when the child exits.
 *
 * @module
 */

import { CliError } from "./errors.ts";

/** A held grant, as `runHeld` needs it. */
export interface HeldGrant {
  /** Aborts when the grant is lost or released. */
  readonly signal: AbortSignal;
  /** Whether the grant was lost. */
  readonly lost: boolean;
  /** Gives the grant back and revokes its lease. */
  release(): Promise<void>;
}

/** How `runHeld` runs the command. */
export interface RunHeldOptions {
  /** The command line. */
  argv: string[];
  /** Extra environment variables for the child. */
  env: Record<string, string>;
  /** What is held, for messages ("leadership of election x"). */
  what: string;
  /** Ms between SIGTERM and SIGKILL when the grant is lost. */
  graceMs: number;
  /** The lease TTL (s), for the warning when the release fails. */
  ttl: number;
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/**
 * Runs `options.argv` while `held` is held and answers raftctl's exit
 * code: the child's (128 + n when a signal ended it), or 1 (a
 * {@linkcode CliError}) when the grant was lost and the child stopped.
 */
export async function runHeld(
  held: HeldGrant,
  options: RunHeldOptions,
): Promise<number> {
  const { argv, what } = options;
  let child: Deno.ChildProcess | undefined;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const kill = (sig: Deno.Signal) => {
    try {
      child?.kill(sig);
    } catch {
      // Already gone.
    }
  };
  const onLost = () => {
    if (!held.lost) return; // released, not lost
    kill("SIGTERM");
    killTimer = setTimeout(() => kill("SIGKILL"), options.graceMs);
  };
  const forward = (sig: Deno.Signal) => () => kill(sig);
  const handlers: [Deno.Signal, () => void][] = Deno.build.os === "windows"
    ? []
    : [["SIGINT", forward("SIGINT")], ["SIGTERM", forward("SIGTERM")]];
  let status: Deno.CommandStatus;
  try {
    try {
      child = new Deno.Command(argv[0], {
        args: argv.slice(1),
        env: options.env,
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
    } catch (e) {
      throw new CliError(
        `cannot run ${argv[0]}: ${
          e instanceof Deno.errors.NotFound
            ? "command not found"
            : (e as Error).message
        }`,
        127,
      );
    }
    for (const [s, h] of handlers) Deno.addSignalListener(s, h);
    held.signal.addEventListener("abort", onLost, { once: true });
    if (held.signal.aborted) onLost();
    status = await child.status;
  } finally {
    clearTimeout(killTimer);
    held.signal.removeEventListener("abort", onLost);
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    await held.release().catch((e) => {
      console.error(
        `warning: could not give back ${what}: ${
          (e as Error).message
        } (its lease expires in ${options.ttl} s)`,
      );
    });
  }
  if (held.lost) {
    const reason = held.signal.reason as Error | undefined;
    throw new CliError(
      `${reason?.message ?? `${what} was lost`}; the command was stopped`,
    );
  }
  if (status.signal) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
  return status.code;
}

/** The default owner or value: this host and process. */
export function defaultOwner(): string {
  let host = "";
  try {
    host = Deno.hostname();
  } catch {
    // No permission to read the host name.
  }
  return `raftctl${host ? ` on ${host}` : ""} pid ${Deno.pid}`;
}
