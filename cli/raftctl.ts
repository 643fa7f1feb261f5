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
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import {
  Client,
  type ClusterInfo,
  type KeyValue,
  type Lock,
  RaftlockError,
  type TxnRequest,
  type WatchEvent,
} from "../src/client/mod.ts";

const DEFAULT_ENDPOINTS = "http://127.0.0.1:8001";

/** A bad command line: exit code 2. */
class UsageError extends Error {
  /** The command (or group) whose help to point at. */
  readonly command?: string;
  /** Whether to print the command's usage line. */
  readonly showUsage: boolean;
  constructor(message: string, command?: string, showUsage = true) {
    super(message);
    this.name = "UsageError";
    this.command = command;
    this.showUsage = showUsage;
  }
}

/** A failure with a ready message: exit code 1 (or `code`). */
class CliError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.name = "CliError";
    this.code = code;
  }
}

interface Ctx {
  client: Client;
  json: boolean;
  endpoints: string[];
  args: string[];
  flags: Record<string, string | boolean | undefined>;
  /** Tokens after `--`. */
  rest: string[];
}

interface Command {
  /** The command words, e.g. "kv get". */
  name: string;
  /** Arguments and flags after the name. */
  usage: string;
  /** One line of what it does. */
  summary: string;
  /** More lines shown by --help. */
  details?: string;
  /** Its own flags. */
  options?: ParseArgsOptionsConfig;
  /** Least and most positional arguments. */
  args: [number, number];
  run(ctx: Ctx): Promise<number | void>;
}

const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  endpoints: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  timeout: { type: "string" },
};

// ------------------------------------------------------------ formatting

function print(s = ""): void {
  console.log(s);
}

function printJson(v: unknown): void {
  console.log(JSON.stringify(v, null, 2));
}

/** Left-aligned columns, two spaces apart. */
function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) =>
    Math.max(...cells.map((r) => (r[i] ?? "").length))
  );
  return cells
    .map((r) =>
      r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join("  ").trimEnd()
    )
    .join("\n");
}

function clip(s: string, n = 60): string {
  const one = s.replace(/\n/g, "\\n");
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

function positiveInt(name: string, v: string | undefined): number {
  if (v === undefined || !/^\d{1,15}$/.test(v) || Number(v) < 1) {
    throw new UsageError(`${name} must be a positive whole number, not '${v}'`);
  }
  return Number(v);
}

function wholeNumber(name: string, v: string | undefined): number {
  if (v === undefined || !/^\d{1,15}$/.test(v)) {
    throw new UsageError(`${name} must be a whole number, not '${v}'`);
  }
  return Number(v);
}

function optInt(
  name: string,
  v: string | boolean | undefined,
  positive = false,
): number | undefined {
  if (v === undefined) return undefined;
  return positive
    ? positiveInt(`--${name}`, String(v))
    : wholeNumber(`--${name}`, String(v));
}

/** Aborts on Ctrl-C or SIGTERM; `done()` removes the listeners. */
function interrupts(): { signal: AbortSignal; done(): void } {
  const ctl = new AbortController();
  const on = () => ctl.abort();
  const sigs: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const s of sigs) Deno.addSignalListener(s, on);
  return {
    signal: ctl.signal,
    done() {
      for (const s of sigs) Deno.removeSignalListener(s, on);
    },
  };
}

function eventLine(e: WatchEvent): string {
  return e.type === "put"
    ? `PUT     ${e.key} = ${clip(e.value, 200)}  (revision ${e.revision})`
    : `DELETE  ${e.key}  (revision ${e.revision})`;
}

// -------------------------------------------------------------- commands

const COMMANDS: Command[] = [
  {
    name: "status",
    usage: "",
    summary: "every member's role, term, leader, commit and applied index",
    details:
      "Asks /v1/cluster for the members, then each member's own /v1/status.\nAlias: state.",
    args: [0, 0],
    async run({ client, json, endpoints }) {
      const info = await membership(client, endpoints);
      const rows = await Promise.all(info.members.map(async (m) => {
        if (!m.httpAddress) {
          return { member: m, error: "no HTTP address published" };
        }
        try {
          const s = await client.status({
            endpoint: m.httpAddress,
            timeoutMs: 2000,
          });
          return { member: m, status: s };
        } catch (e) {
          return {
            member: m,
            error: e instanceof RaftlockError && e.code === "unreachable"
              ? (e.message.match(/\): (.*)$/)?.[1] ?? e.message)
              : (e as Error).message,
          };
        }
      }));
      if (json) {
        printJson({
          leader: info.leader,
          term: info.term,
          members: rows.map((r) => ({
            id: r.member.id,
            membership: r.member.role,
            httpAddress: r.member.httpAddress ?? null,
            peerAddress: r.member.peerAddress ?? null,
            ...(r.status ? { status: r.status } : { error: r.error }),
          })),
        });
        return;
      }
      print(table(
        [
          "ID",
          "ADDRESS",
          "ROLE",
          "TERM",
          "LEADER",
          "COMMIT",
          "APPLIED",
          "REVISION",
        ],
        rows.map((r) =>
          r.status
            ? [
              r.member.id,
              r.member.httpAddress ?? "-",
              r.status.role + (r.member.role === "learner" ? " (learner)" : ""),
              r.status.term,
              r.status.leader || "-",
              r.status.commit,
              r.status.applied,
              r.status.revision,
            ]
            : [
              r.member.id,
              r.member.httpAddress ?? "-",
              "unreachable",
              "-",
              "-",
              "-",
              "-",
              "-",
            ]
        ),
      ));
      const down = rows.filter((r) => !r.status);
      for (const r of down) {
        console.error(
          `warning: ${r.member.id} (${
            r.member.httpAddress ?? "no address"
          }) did not answer: ${r.error}`,
        );
      }
      if (!info.leader) {
        console.error(
          "warning: no leader is elected right now; writes will fail until one is",
        );
      }
    },
  },
  {
    name: "leader",
    usage: "",
    summary: "the leader's id and addresses",
    args: [0, 0],
    async run({ client, json }) {
      const info = await client.cluster();
      const m = info.members.find((x) => x.id === info.leader);
      if (!info.leader || !m) {
        throw new CliError(
          "no leader is elected right now: the cluster may be electing one or have lost its quorum; check `raftctl status`",
        );
      }
      if (json) {
        return printJson({
          id: m.id,
          term: info.term,
          peerAddress: m.peerAddress ?? null,
          httpAddress: m.httpAddress ?? null,
        });
      }
      print(table(["ID", "TERM", "HTTP", "PEER"], [[
        m.id,
        info.term,
        m.httpAddress ?? "-",
        m.peerAddress ?? "-",
      ]]));
    },
  },
  {
    name: "leader transfer",
    usage: "<id>",
    summary: "move leadership to voter <id>",
    args: [1, 1],
    async run({ client, json, args }) {
      const r = await client.transferLeader(args[0]);
      if (json) return printJson(r);
      print(`leadership moved to ${r.leader}`);
    },
  },
  {
    name: "members",
    usage: "",
    summary: "list the members",
    args: [0, 0],
    async run({ client, json }) {
      const info = await client.cluster();
      if (json) return printJson(info);
      print(table(
        ["ID", "ROLE", "LEADER", "HTTP", "PEER", "MATCH"],
        info.members.map((m) => [
          m.id,
          m.role,
          m.id === info.leader ? "*" : "",
          m.httpAddress ?? "-",
          m.peerAddress ?? "-",
          m.progress?.match ?? "-",
        ]),
      ));
    },
  },
  {
    name: "members add",
    usage: "<id> <peerAddress> [httpAddress] [--voter]",
    summary: "add a member (a learner unless --voter)",
    details:
      "Start the new node with --join (or add it here first), let it catch up,\nthen `raftctl members promote <id>`.",
    options: { voter: { type: "boolean" } },
    args: [2, 3],
    async run({ client, json, args, flags }) {
      const r = await client.addMember(args[0], args[1], {
        httpAddress: args[2],
        voter: flags.voter === true,
      });
      if (json) return printJson(r);
      print(`added ${r.id} as a ${r.role}`);
    },
  },
  {
    name: "members remove",
    usage: "<id>",
    summary: "remove a member",
    args: [1, 1],
    async run({ client, json, args }) {
      const r = await client.removeMember(args[0]);
      if (json) return printJson(r);
      print(`removed ${r.id}`);
    },
  },
  {
    name: "members promote",
    usage: "<id>",
    summary: "promote a learner to voter",
    args: [1, 1],
    async run({ client, json, args }) {
      const r = await client.promote(args[0]);
      if (json) return printJson(r);
      print(`promoted ${r.id} to voter`);
    },
  },
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
    usage: "<key> <value> [--lease id] [--if-mod-revision n] [--if-version n]",
    summary: "write a key",
    details:
      "--if-mod-revision n / --if-version n write only if the key's modRevision /\nversion equals n (0: only if the key does not exist).",
    options: {
      lease: { type: "string" },
      "if-mod-revision": { type: "string" },
      "if-version": { type: "string" },
    },
    args: [2, 2],
    async run({ client, json, args, flags }) {
      const r = await client.put(args[0], args[1], {
        lease: optInt("lease", flags.lease, true),
        ifModRevision: optInt("if-mod-revision", flags["if-mod-revision"]),
        ifVersion: optInt("if-version", flags["if-version"]),
      });
      if (json) return printJson(r);
      print(`OK (revision ${r.revision})`);
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
        throw new UsageError("give a key or --prefix p (not both)", "kv watch");
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
  {
    name: "lock acquire",
    usage: "<name> [--ttl s] [--wait ms] [--owner o] [--lease id]",
    summary: "acquire a lock; prints its fencing token and lease",
    details:
      "The lock is held by a lease of --ttl seconds (default 10) that this\ncommand does not keep alive: renew it with `raftctl lease keepalive <lease>\n--forever`, or use `raftctl lock run` to hold a lock while a command runs.\n--wait ms waits in the queue that long (default: fail at once if held).",
    options: {
      ttl: { type: "string" },
      wait: { type: "string" },
      owner: { type: "string" },
      lease: { type: "string" },
    },
    args: [1, 1],
    async run({ client, json, args, flags }) {
      const lease = optInt("lease", flags.lease, true);
      if (lease !== undefined && flags.ttl !== undefined) {
        throw new UsageError("give --ttl or --lease, not both", "lock acquire");
      }
      const g = await client.acquire(args[0], {
        ttl: optInt("ttl", flags.ttl, true) ?? 10,
        lease,
        wait: optInt("wait", flags.wait) ?? 0,
        owner: flags.owner as string | undefined,
      });
      if (json) return printJson(g);
      print(table(["NAME", "TOKEN", "LEASE", "OWNER"], [[
        g.name,
        g.token,
        g.lease,
        g.owner || "-",
      ]]));
      if (lease === undefined) {
        console.error(
          `note: lease ${g.lease} expires in ${
            optInt("ttl", flags.ttl, true) ?? 10
          } s unless kept alive (raftctl lease keepalive ${g.lease} --forever)`,
        );
      }
    },
  },
  {
    name: "lock release",
    usage: "<name> <token>",
    summary: "release a lock held with <token>",
    args: [2, 2],
    async run({ client, json, args }) {
      const r = await client.release(args[0], positiveInt("token", args[1]));
      if (json) return printJson(r);
      print(`released lock ${args[0]}`);
    },
  },
  {
    name: "lock status",
    usage: "<name>",
    summary: "a lock's holder and waiters",
    args: [1, 1],
    async run({ client, json, args }) {
      const l = await client.lockInfo(args[0]);
      if (json) return printJson(l);
      if (!l.holder) {
        print(
          `lock ${l.name} is free${
            l.waiters ? ` (${l.waiters} waiting, lock-delay pending)` : ""
          }`,
        );
        return;
      }
      print(table(["NAME", "TOKEN", "LEASE", "OWNER", "WAITERS"], [[
        l.name,
        l.holder.token,
        l.holder.lease,
        l.holder.owner || "-",
        l.waiters,
      ]]));
    },
  },
  {
    name: "lock ls",
    usage: "",
    summary: "list locks that are held or waited for",
    args: [0, 0],
    async run({ client, json }) {
      const ls = await client.locks();
      if (json) return printJson(ls);
      if (ls.length === 0) return print("no locks");
      print(table(
        ["NAME", "TOKEN", "LEASE", "OWNER", "WAITERS"],
        ls.map((l) => [
          l.name,
          l.holder?.token ?? "-",
          l.holder?.lease ?? "-",
          l.holder?.owner || "-",
          l.waiters,
        ]),
      ));
    },
  },
  {
    name: "lock run",
    usage: "<name> [--ttl s] [--wait ms] [--owner o] -- <command...>",
    summary: "hold a lock while a command runs",
    details:
      "Acquires the lock (waiting up to --wait ms), keeps its lease alive, runs\nthe command with RAFTLOCK_LOCK_NAME, RAFTLOCK_LOCK_TOKEN and\nRAFTLOCK_LOCK_LEASE set, releases the lock when it exits, and exits with\nits exit code. If the lock is lost while the command runs, the command\ngets SIGTERM and raftctl exits 1. Pass RAFTLOCK_LOCK_TOKEN to whatever the\ncommand writes (fencing) so a stale holder cannot overwrite newer work.",
    options: {
      ttl: { type: "string" },
      wait: { type: "string" },
      owner: { type: "string" },
    },
    args: [1, Infinity],
    async run({ client, args, flags, rest }) {
      const argv = rest.length > 0 ? rest : args.slice(1);
      if (argv.length === 0) {
        throw new UsageError(
          "give the command to run after --",
          "lock run",
        );
      }
      const name = args[0];
      const ttl = optInt("ttl", flags.ttl, true) ?? 10;
      let child: Deno.ChildProcess | undefined;
      let lostMessage: string | undefined;
      const lock: Lock = await client.lock(name, {
        ttl,
        wait: optInt("wait", flags.wait) ?? 0,
        owner: (flags.owner as string | undefined) ?? defaultOwner(),
        onLost: (e) => {
          lostMessage = e.message;
          try {
            child?.kill("SIGTERM");
          } catch {
            // Already gone.
          }
        },
      });
      const forward = (sig: Deno.Signal) => () => {
        try {
          child?.kill(sig);
        } catch {
          // Already gone.
        }
      };
      const handlers: [Deno.Signal, () => void][] = Deno.build.os === "windows"
        ? []
        : [["SIGINT", forward("SIGINT")], ["SIGTERM", forward("SIGTERM")]];
      let status: Deno.CommandStatus;
      try {
        try {
          child = new Deno.Command(argv[0], {
            args: argv.slice(1),
            env: {
              RAFTLOCK_LOCK_NAME: name,
              RAFTLOCK_LOCK_TOKEN: String(lock.token),
              RAFTLOCK_LOCK_LEASE: String(lock.lease),
            },
            stdin: "inherit",
            stdout: "inherit",
            stderr: "inherit",
          }).spawn();
        } catch (e) {
          throw new CliError(
            `cannot run ${argv[0]}: ${
              e instanceof Deno.errors.NotFound
                ? "command not found"
                : (e as Error).message
            }`,
            127,
          );
        }
        for (const [s, h] of handlers) Deno.addSignalListener(s, h);
        if (lock.lost) child.kill("SIGTERM");
        status = await child.status;
      } finally {
        for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
        await lock.release().catch((e) => {
          console.error(
            `warning: could not release lock ${name}: ${
              (e as Error).message
            } (its lease expires in ${ttl} s)`,
          );
        });
      }
      if (lostMessage !== undefined || lock.lost) {
        throw new CliError(
          `${
            lostMessage ?? `lock ${name} was lost`
          }; the command was stopped with SIGTERM`,
        );
      }
      if (status.signal) {
        const n = ({
          SIGHUP: 1,
          SIGINT: 2,
          SIGQUIT: 3,
          SIGKILL: 9,
          SIGTERM: 15,
        } as Record<string, number>)[status.signal] ?? 0;
        return 128 + n;
      }
      return status.code;
    },
  },
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
        throw new CliError(`cannot write ${args[0]}: ${(e as Error).message}`);
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
];

const ALIASES: Record<string, string> = { state: "status" };

/**
 * The membership as the leader sees it; without a leader, as the first
 * configured endpoint that answers sees it.
 */
async function membership(
  client: Client,
  endpoints: string[],
): Promise<ClusterInfo> {
  try {
    return await client.cluster({ timeoutMs: 3000 });
  } catch (e) {
    if (!(e instanceof RaftlockError) || e.code === "unreachable") throw e;
    for (const endpoint of endpoints) {
      try {
        const info = await client.cluster({
          local: true,
          endpoint,
          timeoutMs: 2000,
        });
        console.error(
          `warning: the leader did not answer (${e.message}); membership as ${endpoint} sees it`,
        );
        return info;
      } catch {
        // Try the next one.
      }
    }
    throw e;
  }
}

function defaultOwner(): string {
  let host = "";
  try {
    host = Deno.hostname();
  } catch {
    // No permission to read the host name.
  }
  return `raftctl${host ? ` on ${host}` : ""} pid ${Deno.pid}`;
}
const GROUPS = ["kv", "lease", "lock", "members", "leader", "snapshot"];

// ------------------------------------------------------------------ help

function usageLine(c: Command): string {
  return `raftctl ${c.name}${c.usage ? ` ${c.usage}` : ""}`;
}

// A command's name and arguments without its flags, for overviews.
function brief(c: Command): string {
  return `${c.name} ${c.usage.replace(/\s*\[--[^\]]*\]/g, "")}`.trim();
}

function generalHelp(): string {
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
    "  -h, --help        help for any command: raftctl <command> --help",
    "",
    "Exit codes: 0 success, 1 error, 2 usage error.",
  ].join("\n");
}

function commandHelp(c: Command): string {
  return [
    `Usage: ${usageLine(c)}`,
    "",
    `${c.summary[0].toUpperCase()}${c.summary.slice(1)}.`,
    ...(c.details ? ["", c.details] : []),
    "",
    "Global flags: --endpoints urls, --json, --timeout ms, --help",
  ].join("\n");
}

function groupHelp(group: string): string {
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

// ------------------------------------------------------------ dispatch

const VALUE_FLAGS = new Set([
  "--endpoints",
  "--timeout",
  "--lease",
  "--if-mod-revision",
  "--if-version",
  "--limit",
  "--from-revision",
  "--ttl",
  "--wait",
  "--owner",
]);

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
  const first = ALIASES[ws[0]] ?? ws[0];
  if (ws.length >= 2) {
    const two = COMMANDS.find((c) => c.name === `${first} ${ws[1]}`);
    if (two) return { command: two };
  }
  const one = COMMANDS.find((c) => c.name === first);
  // "members foo": an unknown subcommand, not an argument.
  if (one && ws.length >= 2 && one.args[1] === 0 && GROUPS.includes(first)) {
    return { group: first };
  }
  if (one) return { command: one };
  if (GROUPS.includes(first)) return { group: first };
  return {};
}

function describe(e: unknown, endpoints: string[]): string {
  if (!(e instanceof RaftlockError)) return (e as Error)?.message ?? String(e);
  const list = endpoints
    .map((x) => (/^[a-z]+:\/\//i.test(x) ? x : `http://${x}`))
    .join(", ");
  switch (e.code) {
    case "unreachable":
      return `cannot reach any endpoint (${list}): is raftd running? start one with \`deno task start\`, or point --endpoints at a running node`;
    case "timeout":
      return `the cluster did not answer in time (${list}): ${e.message}; check \`raftctl status\` and retry`;
    case "unavailable":
      return `the cluster is unavailable: ${e.message}; it may be electing a leader or have lost its quorum (check \`raftctl status\`)`;
    case "lock_held": {
      const h = e.holder;
      return h
        ? `${e.message} (holder token ${h.token}, lease ${h.lease}${
          h.owner ? `, owner ${JSON.stringify(h.owner)}` : ""
        }); wait for it with --wait ms`
        : `${e.message} (a lock-delay is running); wait for it with --wait ms`;
    }
    case "conflict": {
      const cur = e.current;
      return cur === undefined
        ? e.message
        : cur === null
        ? `${e.message} (the key does not exist)`
        : `${e.message} (now modRevision ${cur.modRevision}, version ${cur.version})`;
    }
    case "stale_token":
      return `${e.message}: the token no longer holds the lock`;
    case "compacted":
      return `${e.message}; watch from a later --from-revision`;
    case "bad_request":
      return `invalid request: ${e.message}`;
    default:
      return e.message;
  }
}

/**
 * Runs raftctl with `argv` (without the program name); answers the exit
 * code.
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
    // After `--` come positionals (a value like "-5"), except for `lock
    // run`, whose command follows it.
    const args = command.name === "lock run"
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
    const client = new Client({ endpoints, timeoutMs });
    try {
      const code = await command.run({
        client,
        json,
        endpoints,
        args,
        flags,
        rest,
      });
      return typeof code === "number" ? code : 0;
    } finally {
      client.close();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`raftctl: ${e.message}`);
      const c = COMMANDS.find((x) => x.name === e.command);
      if (c && e.showUsage) console.error(`usage: ${usageLine(c)}`);
      console.error(
        `Run 'raftctl ${e.command ? `${e.command} ` : ""}--help' for help.`,
      );
      return 2;
    }
    const ep = endpoints.length
      ? endpoints
      : (Deno.env.get("RAFTLOCK_ENDPOINTS") ?? DEFAULT_ENDPOINTS).split(",");
    const message = describe(e, ep);
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

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
