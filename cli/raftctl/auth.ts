/**
 * Auth commands: `auth status`, `auth enable`, `auth disable`,
 * `auth rotate-key` and `auth token` (print a token for
 * `RAFTLOCK_TOKEN`).
 *
 * @module
 */

import type { CommandGroup } from "./command.ts";
import { UsageError } from "./errors.ts";
import { print, printJson } from "./output.ts";

/** The auth commands. */
export const authCommands: CommandGroup = {
  name: "auth",
  commands: [
    {
      name: "auth status",
      usage: "",
      summary: "whether client authentication is on",
      args: [0, 0],
      async run({ client, json }) {
        const r = await client.auth.status();
        if (json) return printJson(r);
        print(`auth is ${r.enabled ? "on" : "off"}`);
      },
    },
    {
      name: "auth enable",
      usage: "",
      summary: "turn client authentication on (user root must exist)",
      details:
        "Make the root user first: raftctl user add root --roles root.\n" +
        "From then on every request needs --user (with --password-file) or a token.",
      args: [0, 0],
      async run({ client, json }) {
        const r = await client.auth.enable();
        if (json) return printJson(r);
        print("auth is on: requests need a token now");
      },
    },
    {
      name: "auth disable",
      usage: "",
      summary: "turn client authentication off (users and roles are kept)",
      args: [0, 0],
      async run({ client, json }) {
        const r = await client.auth.disable();
        if (json) return printJson(r);
        print("auth is off: anyone who reaches the API may do anything");
      },
    },
    {
      name: "auth rotate-key",
      usage: "",
      summary:
        "sign new tokens with a new key (the previous key still verifies)",
      details:
        "Tokens signed with the previous key stay valid until they expire; those of\n" +
        "the key before it fail at once. Rotate at most once per token lifetime, or\n" +
        "twice in a row to cut off every token.",
      args: [0, 0],
      async run({ client, json }) {
        const r = await client.auth.rotateKey();
        if (json) return printJson(r);
        print(`new signing key ${r.kid}`);
      },
    },
    {
      name: "auth token",
      usage: "",
      summary: "log in and print a token (for RAFTLOCK_TOKEN)",
      details:
        "Needs --user (with --password-file, or typed at the prompt):\n" +
        "  export RAFTLOCK_TOKEN=$(raftctl auth token --user app --password-file app.password)\n" +
        "--json prints {token, expiresAt, ttl}.",
      args: [0, 0],
      async run({ client, json, credentials }) {
        if (credentials.user === undefined) {
          throw new UsageError("auth token needs --user", "auth token");
        }
        const r = await client.auth.token(
          credentials.user,
          credentials.password!,
        );
        if (json) return printJson(r);
        print(r.token);
      },
    },
  ],
};
