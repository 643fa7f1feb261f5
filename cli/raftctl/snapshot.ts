/**
 * Snapshot commands: `snapshot save` (a verified backup of the whole
 * state, written atomically), `snapshot status` (check a backup file and
 * show its header) and `snapshot restore` (offline: a fresh data directory
 * for a member of a new cluster, like `etcdutl snapshot restore`).
 *
 * The file format is in `src/storage/backup.ts`; the restore in
 * `src/server/restore.ts`.
 *
 * @module
 */

import {
  type Backup,
  BackupError,
  decodeBackup,
} from "../../src/storage/backup.ts";
import { denoFs, writeFileAtomic } from "../../src/storage/fs.ts";
import { restoreBackup } from "../../src/server/restore.ts";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import type { CommandGroup } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { print, printJson } from "./output.ts";

/** The snapshot commands. */
export const snapshotCommands: CommandGroup = {
  name: "snapshot",
  commands: [
    {
      name: "snapshot save",
      usage: "<file>",
      summary: "download a consistent backup of the whole state",
      details:
        "The leader writes it (header, state, SHA-256); raftctl checks the checksum\n" +
        "before it replaces <file> (temp file, sync, rename).",
      args: [1, 1],
      async run({ client, json, args }) {
        const t0 = performance.now();
        const bytes = await client.snapshot();
        const backup = await verify(bytes, "the downloaded backup");
        try {
          await writeFileAtomic(denoFs, args[0], bytes);
        } catch (e) {
          throw new CliError(
            `cannot write ${args[0]}: ${(e as Error).message}`,
          );
        }
        const ms = Math.round(performance.now() - t0);
        if (json) return printJson({ file: args[0], ...summary(backup), ms });
        print(
          `saved ${bytes.byteLength} bytes to ${args[0]}: ${
            describe(backup)
          } (${ms} ms)`,
        );
      },
    },
    {
      name: "snapshot status",
      usage: "<file>",
      summary: "check a backup file and show what it holds",
      args: [1, 1],
      offline: true,
      async run({ json, args }) {
        const backup = await verify(await readFile(args[0]), args[0]);
        const sm = new ServiceStateMachine();
        sm.restore(backup.state);
        const counts = sm.counts();
        if (json) {
          return printJson({
            file: args[0],
            ...summary(backup),
            counts,
            members: backup.header.members,
            leases: backup.header.leases,
          });
        }
        print(`${args[0]}: ${describe(backup)}`);
        print(`sha256 ${backup.sha256}`);
        print(
          `members ${
            backup.header.members.map((m) => `${m.id} (${m.role})`).join(", ")
          }`,
        );
        print(`state ${JSON.stringify(counts)}`);
      },
    },
    {
      name: "snapshot restore",
      usage:
        "<file> --data-dir <dir> --id <id> --peers <id=host:port,...> [--cluster-id <id>]",
      summary: "write a fresh data directory for a new cluster from a backup",
      details:
        "Offline. Run it once per member of the new cluster, with the same file and\n" +
        "--peers and each member's --id and --data-dir, then start every member with\n" +
        "those --peers. The backup is checked first (a damaged one is refused with\n" +
        "the byte offset of the damage); the data directory must be new or empty.\n" +
        "--cluster-id defaults to the backup's. Leases get their full TTL again once\n" +
        "the new cluster has a leader.",
      offline: true,
      options: {
        "data-dir": { type: "string" },
        id: { type: "string" },
        peers: { type: "string" },
        "cluster-id": { type: "string" },
      },
      args: [1, 1],
      async run({ json, args, flags }) {
        const dataDir = required(flags, "data-dir");
        const id = required(flags, "id");
        const peers = parsePeers(required(flags, "peers"));
        const t0 = performance.now();
        const file = await readFile(args[0]);
        let r;
        try {
          r = await restoreBackup(file, {
            dataDir,
            id,
            peers,
            clusterId: flags["cluster-id"] as string | undefined,
          });
        } catch (e) {
          if (e instanceof BackupError) {
            throw new CliError(`${args[0]}: ${e.message}`);
          }
          throw new CliError(`cannot restore: ${(e as Error).message}`);
        }
        const ms = Math.round(performance.now() - t0);
        if (json) {
          return printJson({
            file: args[0],
            dataDir,
            id,
            clusterId: r.clusterId,
            voters: r.conf.voters,
            index: r.header.index,
            term: r.header.term,
            revision: r.header.revision,
            sha256: r.sha256,
            ms,
          });
        }
        print(
          `restored ${
            args[0]
          } into ${dataDir} for ${id} of cluster ${r.clusterId} ` +
            `(voters ${r.conf.voters.join(", ")}; index ${r.header.index}, ` +
            `revision ${r.header.revision}; ${ms} ms). Start it with --id ${id} ` +
            `--data-dir ${dataDir} --peers ${flags.peers} --cluster-id ${r.clusterId}`,
        );
      },
    },
  ],
};

async function verify(bytes: Uint8Array, what: string): Promise<Backup> {
  try {
    return await decodeBackup(bytes);
  } catch (e) {
    if (e instanceof BackupError) throw new CliError(`${what}: ${e.message}`);
    throw e;
  }
}

async function readFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function required(
  flags: Record<string, string | boolean | undefined>,
  name: string,
): string {
  const v = flags[name];
  if (typeof v !== "string" || v === "") {
    throw new UsageError(`--${name} is required`, "snapshot restore");
  }
  return v;
}

function parsePeers(v: string): Record<string, string> {
  const peers: Record<string, string> = {};
  for (const part of v.split(",")) {
    const m = part.trim().match(/^([A-Za-z0-9_.-]{1,64})=(\S+:\d{1,5})$/);
    if (!m) {
      throw new UsageError(
        `--peers takes id=host:port,..., not '${part}'`,
        "snapshot restore",
      );
    }
    peers[m[1]] = m[2];
  }
  return peers;
}

function summary(b: Backup) {
  const h = b.header;
  return {
    bytes: b.bytes,
    clusterId: h.clusterId,
    nodeId: h.nodeId,
    index: h.index,
    term: h.term,
    revision: h.revision,
    time: h.time,
    sha256: b.sha256,
  };
}

function describe(b: Backup): string {
  const h = b.header;
  return `cluster ${h.clusterId}, index ${h.index}, term ${h.term}, revision ${h.revision}, taken ${h.time} by ${h.nodeId}`;
}
