/**
 * Lease commands: `lease grant`, `keepalive`, `revoke` and `ls`.
 *
 * @module
 */

import { RaftlockError } from "../../src/client/mod.ts";
import { type CommandGroup, interrupts, positiveInt } from "./command.ts";
import { CliError } from "./errors.ts";
import { print, printJson, table } from "./output.ts";

/** The lease commands. */
export const leaseCommands: CommandGroup = {
  name: "lease",
  commands: [
    {
      name: "lease grant",
      usage: "<ttl>",
      summary: "grant a lease of <ttl> seconds",
      args: [1, 1],
      async run({ client, json, args }) {
        const r = await client.grantLease(positiveInt("ttl", args[0]));
        if (json) return printJson(r);
        print(`lease ${r.id} granted (ttl ${r.ttl} s)`);
      },
    },
    {
      name: "lease keepalive",
      usage: "<id> [--forever]",
      summary: "renew a lease once, or every ttl/3 until Ctrl-C",
      options: { forever: { type: "boolean" } },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const id = positiveInt("lease id", args[0]);
        const show = (r: { id: number; ttl: number }) =>
          json
            ? print(JSON.stringify(r))
            : print(`lease ${r.id} renewed (ttl ${r.ttl} s)`);
        const once = async () => {
          try {
            return await client.keepAlive(id);
          } catch (e) {
            if (e instanceof RaftlockError && e.code === "not_found") {
              throw new CliError(
                `lease ${id} does not exist: it expired or was revoked`,
              );
            }
            throw e;
          }
        };
        const r = await once();
        show(r);
        if (!flags.forever) return;
        const stop = interrupts();
        try {
          let every = (r.ttl * 1000) / 3;
          let lastOk = Date.now();
          while (!stop.signal.aborted) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, every);
              stop.signal.addEventListener("abort", () => {
                clearTimeout(t);
                resolve();
              }, { once: true });
            });
            if (stop.signal.aborted) break;
            try {
              const sent = Date.now();
              const x = await once();
              lastOk = sent;
              every = (x.ttl * 1000) / 3;
              show(x);
            } catch (e) {
              if (e instanceof CliError) throw e;
              if (Date.now() - lastOk > r.ttl * 1000) {
                throw new CliError(
                  `lease ${id} was probably lost: no keepalive succeeded for its ${r.ttl} s TTL (${
                    (e as Error).message
                  })`,
                );
              }
              console.error(
                `warning: keepalive failed, retrying: ${(e as Error).message}`,
              );
              every = 250;
            }
          }
        } finally {
          stop.done();
        }
      },
    },
    {
      name: "lease revoke",
      usage: "<id>",
      summary: "revoke a lease (deletes its keys, releases its locks)",
      args: [1, 1],
      async run({ client, json, args }) {
        const r = await client.revokeLease(positiveInt("lease id", args[0]));
        if (json) return printJson(r);
        print(
          `lease ${r.id} revoked (${r.deleted} key${
            r.deleted === 1 ? "" : "s"
          } deleted)`,
        );
      },
    },
    {
      name: "lease ls",
      usage: "",
      summary: "list leases",
      args: [0, 0],
      async run({ client, json }) {
        const ls = await client.leases();
        if (json) return printJson(ls);
        if (ls.length === 0) return print("no leases");
        print(table(
          ["ID", "TTL"],
          ls.map((l) => [l.id, `${l.ttl} s`]),
        ));
      },
    },
  ],
};
