/**
 * Snapshot commands: `snapshot save`, a backup of the whole state.
 *
 * @module
 */

import type { CommandGroup } from "./command.ts";
import { CliError } from "./errors.ts";
import { print, printJson } from "./output.ts";

/** The snapshot commands. */
export const snapshotCommands: CommandGroup = {
  name: "snapshot",
  commands: [
    {
      name: "snapshot save",
      usage: "<file>",
      summary: "download a consistent snapshot of the whole state (a backup)",
      args: [1, 1],
      async run({ client, json, args }) {
        const bytes = await client.snapshot();
        try {
          await Deno.writeFile(args[0], bytes);
        } catch (e) {
          throw new CliError(
            `cannot write ${args[0]}: ${(e as Error).message}`,
          );
        }
        if (json) {
          return printJson({
            file: args[0],
            bytes: bytes.byteLength,
            revision: client.revision,
          });
        }
        print(`saved ${bytes.byteLength} bytes to ${args[0]}`);
      },
    },
  ],
};
