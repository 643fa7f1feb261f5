/**
 * raftctl's help: the overview, one group's commands, one command's usage.
 *
 * @module
 */

import type { Command } from "./command.ts";
import { COMMANDS, DEFAULT_ENDPOINTS } from "./registry.ts";

/** `raftctl <name> <usage>`: how to call `c`. */
export function usageLine(c: Command): string {
  return `raftctl ${c.name}${c.usage ? ` ${c.usage}` : ""}`;
}

// A command's name and arguments without its flags, for overviews.
function brief(c: Command): string {
  return `${c.name} ${c.usage.replace(/\s*\[--[^\]]*\]/g, "")}`.trim();
}

/** The overview: every command and the global flags. */
export function generalHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => brief(c).length));
  return [
    "raftctl: control a raftlock cluster",
    "",
    "Usage: raftctl [--endpoints urls] [--json] <command> [args] [flags]",
    "       raftctl <command> --help   (flags and details of one command)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${brief(c).padEnd(w)}  ${c.summary}`),
    "",
    "Global flags:",
    `  --endpoints urls  comma-separated member URLs (default $RAFTLOCK_ENDPOINTS or ${DEFAULT_ENDPOINTS})`,
    "  --json            machine-readable output",
    "  --timeout ms      deadline of each request, retries included (default 10000)",
    "  --ca-file file    CA certificate (PEM) that signs the cluster's HTTPS certificates (default $RAFTLOCK_CA_FILE)",
    "  --user name       log in as this user when auth is on (default $RAFTLOCK_USER); the token is renewed as needed",
    "  --password-file f its password, first line of the file (default $RAFTLOCK_PASSWORD_FILE; typed at a prompt when",
    "                    stdin is a terminal)",
    "  --token t         send this bearer token instead (default $RAFTLOCK_TOKEN; get one with raftctl auth token)",
    "  --no-discover     talk only to --endpoints, not to the members the cluster lists (for a node that serves",
    "                    only local clients until auth is on)",
    "  -h, --help        help for any command: raftctl <command> --help",
    "",
    "Exit codes: 0 success, 1 error, 2 usage error.",
  ].join("\n");
}

/** One command's usage, summary and details. */
export function commandHelp(c: Command): string {
  return [
    `Usage: ${usageLine(c)}`,
    "",
    `${c.summary[0].toUpperCase()}${c.summary.slice(1)}.`,
    ...(c.details ? ["", c.details] : []),
    "",
    "Global flags: --endpoints urls, --json, --timeout ms, --ca-file file, --user name,",
    "  --password-file file, --token t, --no-discover, --help (see raftctl --help)",
  ].join("\n");
}

/** The commands that start with the word `group` ("kv", "members"). */
export function groupHelp(group: string): string {
  const cs = COMMANDS.filter((c) =>
    c.name === group || c.name.startsWith(`${group} `)
  );
  const w = Math.max(...cs.map((c) => brief(c).length));
  return [
    `Usage: raftctl ${group} <command>`,
    "",
    ...cs.map((c) => `  raftctl ${brief(c).padEnd(w)}  ${c.summary}`),
    "",
    `Run 'raftctl ${group} <command> --help' for details.`,
  ].join("\n");
}
