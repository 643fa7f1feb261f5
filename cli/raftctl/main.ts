/**
 * raftctl's dispatch: finds the command in the argument list, parses its
 * flags with `node:util` `parseArgs`, builds a client over the endpoints,
 * runs the command, and turns failures into messages and exit codes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client, RaftlockError } from "../../src/client/mod.ts";
import { type Command, optInt } from "./command.ts";
import { credentialsFrom } from "./credentials.ts";
import { CliError, describeError, UsageError } from "./errors.ts";
import { commandHelp, generalHelp, groupHelp, usageLine } from "./help.ts";
import { print } from "./output.ts";
import {
  ALIASES,
  DEFAULT_ENDPOINTS,
  findCommand,
  GLOBAL_OPTIONS,
  GROUP_WORDS,
  VALUE_FLAGS,
} from "./registry.ts";

/** The leading words of the command line (flags and their values skipped). */
function words(head: string[], max = 2): string[] {
  const out: string[] = [];
  for (let i = 0; i < head.length && out.length < max; i++) {
    const t = head[i];
    if (t.startsWith("-")) {
      if (VALUE_FLAGS.has(t)) i++;
      continue;
    }
    out.push(t);
  }
  return out;
}

function resolve(ws: string[]): { command?: Command; group?: string } {
  const first = Object.hasOwn(ALIASES, ws[0]) ? ALIASES[ws[0]] : ws[0];
  if (ws.length >= 2) {
    const two = findCommand(`${first} ${ws[1]}`);
    if (two) return { command: two };
  }
  const one = findCommand(first);
  // "members foo": an unknown subcommand, not an argument.
  if (one && ws.length >= 2 && one.args[1] === 0 && GROUP_WORDS.has(first)) {
    return { group: first };
  }
  if (one) return { command: one };
  if (GROUP_WORDS.has(first)) return { group: first };
  return {};
}

/**
 * Runs raftctl with `argv` (without the program name); answers the exit
 * code.
 *
 * @example
 * ```ts
 * const code = await main(["kv", "get", "app/mode"]);
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf("--");
  const head = dash < 0 ? argv : argv.slice(0, dash);
  const rest = dash < 0 ? [] : argv.slice(dash + 1);
  let json = head.includes("--json");
  let endpoints: string[] = [];
  try {
    const ws = words(head);
    if (ws[0] === "help") {
      const r = resolve(words(head, 3).slice(1));
      print(
        r.command
          ? commandHelp(r.command)
          : r.group
          ? groupHelp(r.group)
          : generalHelp(),
      );
      return 0;
    }
    const { command, group } = resolve(ws);
    const wantsHelp = head.includes("--help") || head.includes("-h");
    if (!command) {
      if (wantsHelp || ws.length === 0) {
        print(group ? groupHelp(group) : generalHelp());
        return ws.length === 0 && !wantsHelp ? 2 : 0;
      }
      if (group) {
        throw new UsageError(
          ws[1]
            ? `unknown command '${group} ${ws[1]}'`
            : `'${group}' needs a command`,
          group,
          false,
        );
      }
      throw new UsageError(`unknown command '${ws[0]}'`);
    }
    if (wantsHelp) {
      print(commandHelp(command));
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: head,
        options: { ...GLOBAL_OPTIONS, ...(command.options ?? {}) },
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      const msg = (e as Error).message
        .replace(/^Unknown option/, "unknown flag")
        .replace(/\. To specify a positional argument.*$/s, "");
      throw new UsageError(
        /'-\d/.test(msg)
          ? `${msg} (put a value that starts with '-' after --)`
          : msg,
        command.name,
      );
    }
    const flags = parsed.values as Record<string, string | boolean | undefined>;
    json = flags.json === true;
    const nWords = command.name.split(" ").length;
    // After `--` come positionals (a value like "-5"), except for a
    // command like `lock run`, whose command line follows it.
    const args = command.passThrough
      ? parsed.positionals.slice(nWords)
      : [...parsed.positionals.slice(nWords), ...rest];
    const [min, max] = command.args;
    if (args.length < min || args.length > max) {
      throw new UsageError(
        args.length < min
          ? "missing arguments"
          : `unexpected argument '${args[max]}'`,
        command.name,
      );
    }
    const raw = (flags.endpoints as string | undefined) ??
      Deno.env.get("RAFTLOCK_ENDPOINTS") ?? DEFAULT_ENDPOINTS;
    endpoints = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (endpoints.length === 0) {
      throw new UsageError("--endpoints must list at least one URL");
    }
    for (const ep of endpoints) {
      try {
        const u = new URL(/^[a-z]+:\/\//i.test(ep) ? ep : `http://${ep}`);
        if (u.protocol !== "http:" && u.protocol !== "https:") {
          throw new Error();
        }
      } catch {
        throw new UsageError(
          `'${ep}' is not an endpoint URL (like http://127.0.0.1:8001)`,
        );
      }
    }
    const timeoutMs = optInt("timeout", flags.timeout, true);
    const caFile = (flags["ca-file"] as string | undefined) ||
      Deno.env.get("RAFTLOCK_CA_FILE") || undefined;
    let caCerts: string[] | undefined;
    if (caFile !== undefined) {
      try {
        caCerts = [await Deno.readTextFile(caFile)];
      } catch (e) {
        throw new UsageError(
          `cannot read the CA file ${caFile}: ${(e as Error).message}`,
        );
      }
    }
    const credentials = command.offline ? {} : await credentialsFrom(flags);
    const client = new Client({
      endpoints,
      timeoutMs,
      caCerts,
      discover: flags["no-discover"] !== true,
      ...credentials,
    });
    try {
      const code = await command.run({
        client,
        json,
        endpoints,
        args,
        flags,
        rest,
        credentials,
      });
      return typeof code === "number" ? code : 0;
    } finally {
      client.close();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`raftctl: ${e.message}`);
      const c = findCommand(e.command);
      if (c && e.showUsage) console.error(`usage: ${usageLine(c)}`);
      console.error(
        `Run 'raftctl ${e.command ? `${e.command} ` : ""}--help' for help.`,
      );
      return 2;
    }
    const ep = endpoints.length
      ? endpoints
      : (Deno.env.get("RAFTLOCK_ENDPOINTS") ?? DEFAULT_ENDPOINTS).split(",");
    const message = describeError(e, ep);
    if (json) {
      console.error(JSON.stringify({
        error: {
          code: e instanceof RaftlockError ? e.code : "error",
          message,
        },
      }));
    } else {
      console.error(`error: ${message}`);
    }
    return e instanceof CliError ? e.code : 1;
  }
}
