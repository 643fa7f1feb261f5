/**
 * raftctl, the raftlock command line, one file per command group:
 * `cluster.ts`, `kv.ts`, `lease.ts`, `lock.ts`, `snapshot.ts`, `auth.ts`,
 * `user.ts`, `role.ts`. Who raftctl is to the cluster comes from
 * `credentials.ts`. To add a
 * group, write a file exporting a {@linkcode CommandGroup} and list it in
 * `registry.ts`. `cli/raftctl.ts` is the program.
 *
 * @module
 */

export { main } from "./main.ts";
export type { Command, CommandGroup, Ctx } from "./command.ts";
export { CliError, UsageError } from "./errors.ts";
export { COMMANDS, GROUPS } from "./registry.ts";
