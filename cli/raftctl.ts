/**
 * raftctl: the raftlock command line. Talks to a cluster through the typed
 * client (`src/client/`), with failover across `--endpoints`.
 *
 * ```sh
 * deno task ctl status
 * deno task ctl kv put app/mode on
 * deno task ctl lock run nightly --ttl 10 -- ./backup.sh
 * ```
 *
 * Human-friendly tables by default, `--json` for scripts. Exit codes: 0
 * success, 1 error, 2 usage error (`lock run` exits with its command's
 * code).
 *
 * This file is the program; the commands live in `cli/raftctl/`, one file
 * per group.
 *
 * @module
 */

import { main } from "./raftctl/mod.ts";

export { main };

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
