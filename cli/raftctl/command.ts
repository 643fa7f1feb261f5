/**
 * What a raftctl command is, how commands come in groups, and the helpers
 * commands share to read their arguments and to stop on Ctrl-C.
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import type { Client } from "../../src/client/mod.ts";
import type { Credentials } from "./credentials.ts";
import { UsageError } from "./errors.ts";

/** What a command runs with. */
export interface Ctx {
  /** A client over the endpoints. */
  client: Client;
  /** Whether `--json` was given. */
  json: boolean;
  /** The endpoints, as given. */
  endpoints: string[];
  /** Positional arguments after the command's words. */
  args: string[];
  /** Global and command flags. */
  flags: Record<string, string | boolean | undefined>;
  /** Tokens after `--`. */
  rest: string[];
  /** Who raftctl is to the cluster (from the global flags and environment). */
  credentials: Credentials;
}

/** One command: its words, help text, flags and what it does. */
export interface Command {
  /** The command words, e.g. "kv get". */
  name: string;
  /** Other names of the command, e.g. "state" for "status". */
  aliases?: string[];
  /** Arguments and flags after the name. */
  usage: string;
  /** One line of what it does. */
  summary: string;
  /** More lines shown by --help. */
  details?: string;
  /** Its own flags. */
  options?: ParseArgsOptionsConfig;
  /** Least and most positional arguments. */
  args: [number, number];
  /** True when it does not talk to the cluster (no credentials are read). */
  offline?: boolean;
  /**
   * True when the tokens after `--` are a command line to run (in `rest`)
   * rather than more positional arguments.
   */
  passThrough?: boolean;
  /** Runs the command; resolves with the exit code (default 0). */
  run(ctx: Ctx): Promise<number | void>;
}

/**
 * The commands of one topic, kept in one file and listed in
 * `registry.ts`. Help and dispatch come from the commands themselves.
 *
 * @example
 * ```ts
 * export const pingCommands: CommandGroup = {
 *   name: "ping",
 *   commands: [{
 *     name: "ping",
 *     usage: "",
 *     summary: "check that the cluster answers",
 *     args: [0, 0],
 *     async run({ client }) {
 *       await client.status();
 *     },
 *   }],
 * };
 * ```
 */
export interface CommandGroup {
  /** The topic, e.g. "kv". */
  name: string;
  /** Its commands, in the order help lists them. */
  commands: Command[];
}

/** `v` as a positive whole number, or a {@linkcode UsageError} naming `name`. */
export function positiveInt(name: string, v: string | undefined): number {
  if (v === undefined || !/^\d{1,15}$/.test(v) || Number(v) < 1) {
    throw new UsageError(`${name} must be a positive whole number, not '${v}'`);
  }
  return Number(v);
}

/** `v` as a whole number (0 allowed), or a {@linkcode UsageError}. */
export function wholeNumber(name: string, v: string | undefined): number {
  if (v === undefined || !/^\d{1,15}$/.test(v)) {
    throw new UsageError(`${name} must be a whole number, not '${v}'`);
  }
  return Number(v);
}

/** The number in flag `--name`, or `undefined` when it was not given. */
export function optInt(
  name: string,
  v: string | boolean | undefined,
  positive = false,
): number | undefined {
  if (v === undefined) return undefined;
  return positive
    ? positiveInt(`--${name}`, String(v))
    : wholeNumber(`--${name}`, String(v));
}

/** Aborts on Ctrl-C or SIGTERM; `done()` removes the listeners. */
export function interrupts(): { signal: AbortSignal; done(): void } {
  const ctl = new AbortController();
  const on = () => ctl.abort();
  const sigs: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const s of sigs) Deno.addSignalListener(s, on);
  return {
    signal: ctl.signal,
    done() {
      for (const s of sigs) Deno.removeSignalListener(s, on);
    },
  };
}
