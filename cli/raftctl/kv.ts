/**
 * Key-value commands: `kv get`, `put`, `del`, `ls`, `watch`, and `txn`.
 *
 * @module
 */

import type { KeyValue, TxnRequest, WatchEvent } from "../../src/client/mod.ts";
import { type CommandGroup, interrupts, optInt } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { clip, print, printJson, table } from "./output.ts";

/** The key-value commands. */
export const kvCommands: CommandGroup = {
  name: "kv",
  commands: [
    {
      name: "kv get",
      usage: "<key> [--serializable]",
      summary: "print a key's value",
      details:
        "Prints the value alone (--json: the key with its revisions). Exits 1 if\nthe key does not exist. --serializable reads the answering node's state\nwithout a Raft round (faster, possibly stale).",
      options: { serializable: { type: "boolean" } },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const kv = await client.get(args[0], {
          serializable: flags.serializable === true,
        });
        if (!kv) {
          if (json) printJson(null);
          throw new CliError(`key ${args[0]} does not exist`);
        }
        if (json) return printJson(kv);
        print(kv.value);
      },
    },
    {
      name: "kv put",
      usage:
        "<key> <value> [--lease id | --ttl s] [--if-mod-revision n] [--if-version n]",
      summary: "write a key",
      details:
        "--if-mod-revision n / --if-version n write only if the key's modRevision /\nversion equals n (0: only if the key does not exist). --ttl s gives the key\nits own lease of s seconds (made, or renewed by a later put with --ttl):\nthe key is deleted when it is not put again in time.",
      options: {
        lease: { type: "string" },
        ttl: { type: "string" },
        "if-mod-revision": { type: "string" },
        "if-version": { type: "string" },
      },
      args: [2, 2],
      async run({ client, json, args, flags }) {
        const lease = optInt("lease", flags.lease, true);
        const ttl = optInt("ttl", flags.ttl, true);
        if (lease !== undefined && ttl !== undefined) {
          throw new UsageError("give --lease or --ttl, not both", "kv put");
        }
        const r = await client.put(args[0], args[1], {
          lease,
          ttl,
          ifModRevision: optInt("if-mod-revision", flags["if-mod-revision"]),
          ifVersion: optInt("if-version", flags["if-version"]),
        });
        if (json) return printJson(r);
        print(
          `OK (revision ${r.revision}${
            r.lease === undefined ? "" : `, lease ${r.lease}`
          })`,
        );
      },
    },
    {
      name: "kv del",
      usage: "<key> [--prefix] [--if-mod-revision n]",
      summary: "delete a key, or every key under a prefix",
      options: {
        prefix: { type: "boolean" },
        "if-mod-revision": { type: "string" },
      },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const r = await client.delete(args[0], {
          prefix: flags.prefix === true,
          ifModRevision: optInt("if-mod-revision", flags["if-mod-revision"]),
        });
        if (json) return printJson(r);
        print(
          `deleted ${r.deleted} key${
            r.deleted === 1 ? "" : "s"
          } (revision ${r.revision})`,
        );
      },
    },
    {
      name: "kv ls",
      usage: "[prefix] [--limit n]",
      summary: "list keys (all of them, or the first n)",
      options: { limit: { type: "string" } },
      args: [0, 1],
      async run({ client, json, args, flags }) {
        const limit = optInt("limit", flags.limit, true);
        const r = limit === undefined
          ? await client.list(args[0] ?? "", { all: true })
          : await client.list(args[0] ?? "", { limit });
        if (json) return printJson(r);
        if (r.kvs.length === 0) {
          print(`no keys${args[0] ? ` under ${args[0]}` : ""}`);
          return;
        }
        print(table(
          ["KEY", "VALUE", "MOD", "VERSION", "LEASE"],
          r.kvs.map((kv: KeyValue) => [
            kv.key,
            clip(kv.value),
            kv.modRevision,
            kv.version,
            kv.lease ?? "-",
          ]),
        ));
        if (r.more) {
          console.error(
            `(more keys follow; raise --limit or leave it out to list them all)`,
          );
        }
      },
    },
    {
      name: "kv watch",
      usage: "<key> | --prefix p [--from-revision r]",
      summary: "print changes as they happen, until Ctrl-C",
      details:
        "Resumes on another endpoint after a disconnect without missing or\nrepeating an event. --from-revision r replays events from revision r on.",
      options: {
        prefix: { type: "string" },
        "from-revision": { type: "string" },
      },
      args: [0, 1],
      async run({ client, json, args, flags }) {
        const prefix = flags.prefix as string | undefined;
        if ((prefix === undefined) === (args[0] === undefined)) {
          throw new UsageError(
            "give a key or --prefix p (not both)",
            "kv watch",
          );
        }
        const from = optInt("from-revision", flags["from-revision"], true);
        const stop = interrupts();
        try {
          const w = client.watch(
            prefix !== undefined ? { prefix } : { key: args[0] },
            { fromRevision: from, signal: stop.signal },
          );
          for await (const e of w) {
            print(json ? JSON.stringify(e) : eventLine(e));
          }
        } finally {
          stop.done();
        }
      },
    },
    {
      name: "txn",
      usage: "<file.json|->",
      summary: "run a transaction read from a file (or - for stdin)",
      details:
        `The file holds {"compare": [...], "success": [...], "failure": [...]}, e.g.
  {"compare": [{"key": "a", "target": "value", "op": "==", "value": "1"}],
   "success": [{"put": {"key": "b", "value": "2"}}],
   "failure": [{"get": {"key": "a"}}]}`,
      args: [1, 1],
      async run({ client, json, args }) {
        let text: string;
        try {
          text = args[0] === "-"
            ? await new Response(Deno.stdin.readable).text()
            : await Deno.readTextFile(args[0]);
        } catch (e) {
          throw new CliError(
            `cannot read ${args[0]}: ${(e as Error).message}`,
          );
        }
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw new CliError(
            `${args[0]} is not valid JSON: ${(e as Error).message}`,
          );
        }
        if (typeof body !== "object" || body === null || Array.isArray(body)) {
          throw new CliError(
            `${args[0]} must hold an object with compare, success and failure`,
          );
        }
        const r = await client.txn(body as TxnRequest);
        if (json) return printJson(r);
        print(
          `${r.succeeded ? "succeeded" : "failed"} (ran the ${
            r.succeeded ? "success" : "failure"
          } branch; revision ${r.revision})`,
        );
        for (const op of r.results) {
          if (op.type === "put") print(`put     revision ${op.revision}`);
          else if (op.type === "delete") print(`delete  ${op.deleted} deleted`);
          else {
            print(`get     ${op.kvs.length} key(s)${op.more ? " (more)" : ""}`);
            for (const kv of op.kvs) print(`  ${kv.key} = ${clip(kv.value)}`);
          }
        }
      },
    },
  ],
};

function eventLine(e: WatchEvent): string {
  return e.type === "put"
    ? `PUT     ${e.key} = ${clip(e.value, 200)}  (revision ${e.revision})`
    : `DELETE  ${e.key}  (revision ${e.revision})`;
}
