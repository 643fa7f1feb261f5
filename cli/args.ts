/**
 * The command-line tools' shared argument handling: parse the flags (with
 * `-h`/`--help`), and on a mistake print it with the usage text and exit
 * with status 2.
 *
 * @example
 * ```ts
 * import { type CommandLine, commandLine } from "./args.ts";
 *
 * // Annotated, so that the type checker knows `cli.fail()` never returns.
 * const cli: CommandLine = commandLine("sim", "Usage: deno task sim --seed N");
 *
 * function seedFlag(): number | undefined {
 *   const flags = cli.parse({ seed: { type: "string" } });
 *   if (flags === undefined) return undefined; // --help was printed
 *   if (flags.seed === undefined) cli.fail("--seed is required");
 *   return Number(flags.seed);
 * }
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One flag, as `node:util`'s `parseArgs` takes it. */
export interface FlagConfig {
  /** A string flag or a boolean switch. */
  type: "string" | "boolean";
  /** A one-letter alias. */
  short?: string;
  /** Whether the flag may repeat. */
  multiple?: boolean;
  /** The value when the flag is absent. */
  default?: string | boolean | string[] | boolean[];
}

const HELP = { help: { type: "boolean", short: "h" } } as const;

/** The values `parseArgs` gives for the flags `O`. */
export type Flags<O extends Record<string, FlagConfig>> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O }>
>["values"];

/** A tool's argument handling; see {@linkcode commandLine}. */
export interface CommandLine {
  /** Prints `<tool>: <message>` and the usage to stderr, then exits with status 2. */
  fail(message: string): never;
  /**
   * Parses `Deno.args` against `options` plus `-h`/`--help`. An unknown
   * flag or a missing value fails; `--help` prints the usage to stdout and
   * gives undefined (the tool then returns).
   */
  parse<const O extends Record<string, FlagConfig>>(
    options: O,
  ): Flags<O> | undefined;
}

/** The argument handling of the tool `name`, whose help text is `usage`. */
export function commandLine(name: string, usage: string): CommandLine {
  function fail(message: string): never {
    console.error(`${name}: ${message}\n\n${usage}`);
    Deno.exit(2);
  }
  const parse = <const O extends Record<string, FlagConfig>>(
    options: O,
  ): Flags<O> | undefined => {
    let values: Record<string, unknown>;
    try {
      values = parseArgs({
        args: Deno.args,
        options: { ...options, ...HELP },
      }).values;
    } catch (e) {
      fail((e as Error).message);
    }
    if (values.help) {
      console.log(usage);
      return undefined;
    }
    return values as Flags<O>;
  };
  return { fail, parse };
}
