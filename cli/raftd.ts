/**
 * `raftd`: one raftlock node — the Raft core over a durable WAL, TCP to its
 * peers, and the HTTP API.
 *
 * ```sh
 * deno run -A cli/raftd.ts                        # single-node cluster on defaults
 * deno run -A cli/raftd.ts --id n1 --data-dir ./data/n1 \
 *   --listen 127.0.0.1:7001 --http 127.0.0.1:8001 \
 *   --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 \
 *   --peer-secret-file ./data/peer.secret
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type JoinAuth,
  type Server,
  startServer,
} from "../src/server/server.ts";
import { type FaultSettings, parseFaults } from "../src/server/faults.ts";
import { createLogger, LEVELS, type LogLevel } from "../src/node/logger.ts";
import { LOG_FORMATS, type LogFormat } from "../src/node/log_format.ts";
import { readPeerSecretFile } from "../src/transport/tcp.ts";

const USAGE = `Usage: raftd [options]

Runs one raftlock node. With no --peers (and no --join) it starts a
single-node cluster; the data directory keeps its state across restarts.

  --id ID              this node's id (default n1)
  --data-dir DIR       data directory (default ./data/<id>)
  --listen HOST:PORT   peer (Raft) address (default 127.0.0.1:7001)
  --http HOST:PORT     HTTP API address (default 127.0.0.1:8001)
  --peers LIST         initial voters: id=host:port,... including this node
  --join URL           join an existing cluster through any member's HTTP API
                       (this node is added as a learner, then promoted).
                       With auth on, joining needs root: give --join-user
                       and --join-password-file, or --join-token-file
  --join-user NAME     log in as NAME (root) to join; also RAFTLOCK_USER
  --join-password-file FILE
                       its password (first line); also RAFTLOCK_PASSWORD_FILE
  --join-token-file FILE
                       a root token to join with (first line; it must not
                       expire before the join is done); also RAFTLOCK_TOKEN
                       (the token itself)
  --advertise-peer H:P the peer address others dial (default: --listen; needed
                       when listening on 0.0.0.0 or behind a proxy)
  --advertise-http H:P the HTTP address clients are told (default: --http)
  --cluster-id NAME    refuse peers of another cluster (default raftlock); the
                       data directory records it and refuses another
  --force-new-cluster  disaster recovery, when the quorum is lost for good:
                       make this node the only member of its cluster, keeping
                       all its data; add members back later with --join.
                       Start it without this flag afterwards
  --tick-ms N          Raft tick (default 10)
  --election-ticks N   minimum election timeout in ticks (default 15)
  --heartbeat-ticks N  heartbeat interval in ticks (default 5)
  --snapshot-every N   snapshot after N applied entries (default 10000)
  --read-mode MODE     how the leader confirms linearizable reads: lease
                       (default; no round trip while its leadership lease
                       holds) or index (a heartbeat round for every batch of
                       reads, as etcd does by default)
  --quota-bytes N      space quota of the state (keys, values, history,
                       leases, locks, dedupe, auth; default 2GiB): past it
                       the leader raises the space alarm and writes that add
                       data get 507 quota_exceeded until usage is back under
                       95 %. Suffixes KiB, MiB, GiB (or K, M, G) allowed
  --disk-reserve-bytes N
                       disk kept in reserve in the data directory (default
                       16MiB; 0: none): freed when the disk fills up, so the
                       node keeps going under the space alarm
  --max-lock-waiters N lock acquires that may wait at once on this node
                       (default 10000); more get 429 too_many_waiters
  --max-lock-waiters-per-lock N
                       waiters one lock may queue (default 1000); more get
                       429 too_many_waiters
  --peer-cert FILE     TLS certificate for peer traffic (with --peer-key, --peer-ca)
  --peer-key FILE      TLS private key for peer traffic
  --peer-ca FILE       CA that signs every peer's certificate
  --peer-secret-file FILE
                       the cluster secret (one line, at least 16 bytes; a
                       second line is also accepted, for rotation): every peer
                       connection proves both ends know it. Also
                       RAFTLOCK_PEER_SECRET_FILE (the flag wins). Needed when
                       --listen is not a loopback address
  --cert-file FILE     serve the HTTP API over HTTPS with this certificate
                       (chain, PEM; with --key-file)
  --key-file FILE      the private key of --cert-file (PEM)
  --http-ca-file FILE  CA that signs the other members' HTTPS certificates,
                       trusted for this node's own calls to them (forwarding
                       to the leader, --join); default --peer-ca, else the
                       system's roots
  --max-connections N  most HTTP connections open at once; more are closed at
                       once with a 503 (default 4096, lowered to stay 256
                       below the open-file limit, ulimit -n)
  --http-header-timeout-ms N
                       a new HTTP connection that sends no request within N
                       ms is closed (default 10000)
  --http-idle-timeout-ms N
                       a keep-alive HTTP connection with no request in flight
                       for N ms is closed (default 60000)
  --token-ttl SECONDS  lifetime of the client tokens this node issues
                       (default 600)
  --insecure           allow a non-loopback --listen without a peer secret
                       and a non-loopback --http without TLS, and serve
                       network clients while client auth is off (otherwise a
                       network-facing node serves only clients on this host
                       until auth is enabled): anyone who reaches the ports
                       can take over the node
  --max-watchers N     watch streams this node serves at once; more are
                       refused with 429 too_many_requests (default 10000)
  --watch-queue-bytes N
                       bytes of events queued for one watcher before it is
                       told "lagging" and dropped; it resumes from the
                       history (default 1048576)
  --watch-queue-events N
                       the same bound in events (default 10000)
  --log-level LEVEL    debug, info, warn or error (default info)
  --log-format FORMAT  pretty (one readable line an event), json (JSON
                       lines) or auto (default: pretty when stderr is a
                       terminal, json when piped; NO_COLOR turns colors off)
  -h, --help           show this help

Signals: SIGINT and SIGTERM shut down cleanly. SIGKILL is safe at any instant:
every acknowledged write is durable before it is acknowledged.`;

function fail(message: string): never {
  console.error(`raftd: ${message}\n\nRun with --help for the options.`);
  Deno.exit(2);
}

function address(flag: string, v: string): { hostname: string; port: number } {
  const m = v.match(/^(.*):(\d+)$/);
  if (!m || Number(m[2]) > 65535) fail(`--${flag} takes host:port, got "${v}"`);
  return { hostname: m[1] || "127.0.0.1", port: Number(m[2]) };
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

// What --insecure leaves open, one sentence each, for the start-up banner.
function insecureExposures(
  o: { listen?: string; http?: string },
): string[] {
  const out: string[] = [];
  if (o.listen) {
    out.push(
      `peers on ${o.listen} are not authenticated (no --peer-secret-file): anyone who reaches the port can send Raft messages as a member, make the leader step down, and write into the log`,
    );
  }
  if (o.http) {
    out.push(
      `the HTTP API on ${o.http} is served without TLS (no --cert-file): anyone on the network path can read and change every request and answer, lock tokens included`,
      `the HTTP API on ${o.http} asks no one who they are: anyone who reaches it can read and write every key, release any lock, change membership and download the whole state`,
    );
  }
  return out;
}

// A byte count: a whole number, optionally with K, M or G (KiB, MiB, GiB).
function byteCount(flag: string, v: string, min: number): number {
  const m = v.trim().match(/^(\d+)\s*(k|m|g|kib|mib|gib)?$/i);
  const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<
    string,
    number
  >;
  const n = m ? Number(m[1]) * (m[2] ? unit[m[2][0].toLowerCase()] : 1) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    fail(
      `--${flag} takes a byte count of at least ${min} (for example 2GiB or 1048576), got "${v}"`,
    );
  }
  return n;
}

function positive(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    fail(`--${flag} takes a positive whole number, got "${v}"`);
  }
  return n;
}

// The first line of a credentials file, or exit naming the flag.
async function firstLine(flag: string, file: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    fail(`${flag}: cannot read ${file}: ${(e as Error).message}`);
  }
  const line = text.replace(/\r?\n[\s\S]*$/, "");
  if (line === "") fail(`${flag}: ${file} is empty`);
  return line;
}

// How a joining node proves it may add itself (root) when auth is on:
// flags first, then RAFTLOCK_USER with RAFTLOCK_PASSWORD_FILE, then
// RAFTLOCK_TOKEN. None: join as anyone (auth off).
async function joinCredentials(
  v: Record<string, string | boolean | undefined>,
): Promise<JoinAuth | undefined> {
  const user = v["join-user"] as string | undefined;
  const passwordFile = v["join-password-file"] as string | undefined;
  const tokenFile = v["join-token-file"] as string | undefined;
  if (tokenFile && (user || passwordFile)) {
    fail(
      "give either --join-token-file or --join-user with --join-password-file",
    );
  }
  if (tokenFile) {
    return { token: await firstLine("--join-token-file", tokenFile) };
  }
  if (user || passwordFile) {
    if (!user || !passwordFile) {
      fail("--join-user and --join-password-file go together");
    }
    return {
      user,
      password: await firstLine("--join-password-file", passwordFile),
    };
  }
  const envUser = Deno.env.get("RAFTLOCK_USER");
  const envFile = Deno.env.get("RAFTLOCK_PASSWORD_FILE");
  if (envUser && envFile) {
    return {
      user: envUser,
      password: await firstLine("RAFTLOCK_PASSWORD_FILE", envFile),
    };
  }
  const envToken = Deno.env.get("RAFTLOCK_TOKEN");
  if (envToken) return { token: envToken.trim() };
  return undefined;
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({
      args: Deno.args,
      options: {
        id: { type: "string", default: "n1" },
        "data-dir": { type: "string" },
        listen: { type: "string", default: "127.0.0.1:7001" },
        http: { type: "string", default: "127.0.0.1:8001" },
        peers: { type: "string" },
        join: { type: "string" },
        "join-user": { type: "string" },
        "join-password-file": { type: "string" },
        "join-token-file": { type: "string" },
        "token-ttl": { type: "string", default: "600" },
        "advertise-peer": { type: "string" },
        "advertise-http": { type: "string" },
        "cluster-id": { type: "string", default: "raftlock" },
        "force-new-cluster": { type: "boolean", default: false },
        "tick-ms": { type: "string", default: "10" },
        "election-ticks": { type: "string", default: "15" },
        "heartbeat-ticks": { type: "string", default: "5" },
        "snapshot-every": { type: "string", default: "10000" },
        "read-mode": { type: "string", default: "lease" },
        "quota-bytes": { type: "string", default: "2GiB" },
        "disk-reserve-bytes": { type: "string", default: "16MiB" },
        "max-lock-waiters": { type: "string", default: "10000" },
        "max-lock-waiters-per-lock": { type: "string", default: "1000" },
        "max-watchers": { type: "string", default: "10000" },
        "watch-queue-bytes": { type: "string", default: "1048576" },
        "watch-queue-events": { type: "string", default: "10000" },
        "peer-cert": { type: "string" },
        "peer-key": { type: "string" },
        "peer-ca": { type: "string" },
        "peer-secret-file": { type: "string" },
        "cert-file": { type: "string" },
        "key-file": { type: "string" },
        "http-ca-file": { type: "string" },
        "max-connections": { type: "string" },
        "http-header-timeout-ms": { type: "string", default: "10000" },
        "http-idle-timeout-ms": { type: "string", default: "60000" },
        insecure: { type: "boolean", default: false },
        "log-level": { type: "string", default: "info" },
        "log-format": { type: "string", default: "auto" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const id = v.id!;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) {
    fail(`--id must be 1-64 letters, digits, '_', '.' or '-', got "${id}"`);
  }
  if (!(LEVELS as readonly string[]).includes(v["log-level"]!)) {
    fail(`--log-level must be one of ${LEVELS.join(", ")}`);
  }
  if (!(LOG_FORMATS as readonly string[]).includes(v["log-format"]!)) {
    fail(`--log-format must be one of ${LOG_FORMATS.join(", ")}`);
  }
  if (v["read-mode"] !== "lease" && v["read-mode"] !== "index") {
    fail(`--read-mode must be lease or index, got "${v["read-mode"]}"`);
  }
  const listenHost = address("listen", v.listen!).hostname;
  const httpHost = address("http", v.http!).hostname;
  if (v["advertise-peer"]) address("advertise-peer", v["advertise-peer"]);
  if (v["advertise-http"]) address("advertise-http", v["advertise-http"]);
  const peers: Record<string, string> = {};
  if (v.peers) {
    for (const part of v.peers.split(",")) {
      const m = part.trim().match(/^([A-Za-z0-9_.-]+)=(.+:\d+)$/);
      if (!m) fail(`--peers takes id=host:port,..., got "${part}"`);
      peers[m[1]] = m[2];
    }
    if (!(id in peers)) {
      fail(`--peers must include this node (${id}=${v.listen})`);
    }
  }
  if (v.peers && v.join) {
    fail(
      "use either --peers (a new cluster) or --join (an existing one), not both",
    );
  }
  if (v["force-new-cluster"]) {
    if (v.join) fail("--force-new-cluster and --join cannot be used together");
    console.error(
      `raftd: WARNING: --force-new-cluster: ${id} becomes the ONLY member of its cluster, ` +
        "with the data in its data directory; every other member is removed. Use it only when " +
        "the quorum is lost for good. Never restart the removed members with their old data; " +
        "add new members with empty data directories (raftd --join). Restart this node " +
        "without --force-new-cluster.",
    );
  }
  const tlsFlags = [v["peer-cert"], v["peer-key"], v["peer-ca"]];
  if (tlsFlags.some((f) => f) && !tlsFlags.every((f) => f)) {
    fail("peer TLS needs all three of --peer-cert, --peer-key and --peer-ca");
  }

  if (!v["cert-file"] !== !v["key-file"]) {
    fail("HTTPS needs both --cert-file and --key-file");
  }
  const httpTls = v["cert-file"]
    ? { certFile: v["cert-file"], keyFile: v["key-file"]! }
    : undefined;
  if (!httpTls && !isLoopback(httpHost) && !v.insecure) {
    fail(
      `--http ${v.http} is not a loopback address: give --cert-file and ` +
        "--key-file so clients talk to this node over TLS, or --insecure to " +
        "serve the API in the clear to anyone who reaches the port",
    );
  }
  const maxConnections = v["max-connections"] === undefined
    ? undefined
    : positive("max-connections", v["max-connections"]);
  const headerTimeoutMs = positive(
    "http-header-timeout-ms",
    v["http-header-timeout-ms"]!,
  );
  const idleTimeoutMs = positive(
    "http-idle-timeout-ms",
    v["http-idle-timeout-ms"]!,
  );

  const secretFile = v["peer-secret-file"] ||
    Deno.env.get("RAFTLOCK_PEER_SECRET_FILE") || undefined;
  let peerSecrets: string[] | undefined;
  let secretWarning: string | undefined;
  if (secretFile) {
    try {
      ({ secrets: peerSecrets, warning: secretWarning } =
        await readPeerSecretFile(secretFile));
    } catch (e) {
      fail((e as Error).message);
    }
  } else if (!isLoopback(listenHost) && !v.insecure) {
    fail(
      `--listen ${v.listen} is not a loopback address: give --peer-secret-file ` +
        "(the same secret on every node) so peers must prove who they are, " +
        "or --insecure to accept anyone who reaches the port",
    );
  }

  const tokenTtlSeconds = positive("token-ttl", v["token-ttl"]!);
  if (tokenTtlSeconds > 86_400) {
    fail(`--token-ttl takes at most 86400 (a day), got "${v["token-ttl"]}"`);
  }
  const joinAuth = v.join ? await joinCredentials(v) : undefined;
  if (
    !v.join &&
    (v["join-user"] || v["join-password-file"] || v["join-token-file"])
  ) {
    fail(
      "--join-user, --join-password-file and --join-token-file go with --join",
    );
  }

  let faults: FaultSettings;
  try {
    faults = parseFaults(Deno.env.get("RAFTLOCK_FAULTS"));
  } catch (e) {
    fail((e as Error).message);
  }
  const logger = createLogger({
    format: v["log-format"] as LogFormat,
    minLevel: v["log-level"] as LogLevel,
    base: { node: id },
  });
  if (faults.slowSyncSignals) {
    // SIGUSR2 toggles (SIGUSR1 would start Deno's inspector). Listening
    // before start-up means a node that answers HTTP has the handler.
    const fs = faults.fs!;
    Deno.addSignalListener("SIGUSR2", () => {
      fs.slow = !fs.slow;
      logger("raftd.faults.slowSync", { level: "warn", on: fs.slow });
    });
  }
  if (secretWarning) {
    logger("raftd.peerSecret", { level: "warn", warning: secretWarning });
  }
  const exposed = insecureExposures({
    listen: !peerSecrets && !isLoopback(listenHost) ? v.listen! : undefined,
    http: !httpTls && !isLoopback(httpHost) ? v.http! : undefined,
  });
  if (exposed.length > 0) {
    console.error(
      [
        "raftd: WARNING: running with --insecure. This node is open to anyone who can reach it:",
        ...exposed.map((e) => `  - ${e}`),
        "  Use --peer-secret-file, --cert-file/--key-file and loopback or private addresses; see docs/security.md.",
      ].join("\n"),
    );
    logger("raftd.insecure", {
      level: "warn",
      listen: v.listen,
      http: v.http,
      exposed,
    });
  }
  // Set once started; a removal noticed during start-up waits for it.
  const started: { server?: Server } = {};
  let stopping = false;
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    logger("raftd.shutdown", { level: "info", signal });
    const force = setTimeout(() => Deno.exit(1), 5000);
    while (!started.server) await new Promise((r) => setTimeout(r, 50));
    await started.server.stop();
    clearTimeout(force);
    Deno.exit(0);
  }
  // Listening before start-up: a signal while starting stops the node
  // once it has started (shutdown waits for it).
  Deno.addSignalListener("SIGINT", () => shutdown("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => shutdown("SIGTERM"));
  started.server = await startServer({
    id,
    dataDir: v["data-dir"] ?? `./data/${id}`,
    listen: v.listen!,
    http: v.http!,
    peers: v.peers ? peers : undefined,
    join: v.join,
    joinAuth,
    tokenTtlSeconds,
    advertisePeer: v["advertise-peer"],
    advertiseHttp: v["advertise-http"],
    clusterId: v["cluster-id"]!,
    forceNewCluster: v["force-new-cluster"],
    tickMs: positive("tick-ms", v["tick-ms"]!),
    electionTicks: positive("election-ticks", v["election-ticks"]!),
    heartbeatTicks: positive("heartbeat-ticks", v["heartbeat-ticks"]!),
    snapshotEvery: positive("snapshot-every", v["snapshot-every"]!),
    readLease: v["read-mode"] === "lease",
    quotaBytes: byteCount("quota-bytes", v["quota-bytes"]!, 1),
    diskReserveBytes: byteCount(
      "disk-reserve-bytes",
      v["disk-reserve-bytes"]!,
      0,
    ),
    maxLockWaiters: positive("max-lock-waiters", v["max-lock-waiters"]!),
    maxLockWaitersPerLock: positive(
      "max-lock-waiters-per-lock",
      v["max-lock-waiters-per-lock"]!,
    ),
    maxWatchers: positive("max-watchers", v["max-watchers"]!),
    watchQueue: {
      maxBytes: positive("watch-queue-bytes", v["watch-queue-bytes"]!),
      maxEvents: positive("watch-queue-events", v["watch-queue-events"]!),
    },
    peerSecrets,
    httpTls,
    httpCaFile: v["http-ca-file"],
    maxConnections,
    httpHeaderTimeoutMs: headerTimeoutMs,
    httpIdleTimeoutMs: idleTimeoutMs,
    insecure: v.insecure,
    tls: v["peer-cert"]
      ? {
        certFile: v["peer-cert"]!,
        keyFile: v["peer-key"]!,
        caFile: v["peer-ca"]!,
      }
      : undefined,
    logger,
    fs: faults.fs,
    testingKnobs: faults.knobs,
    onRemoved: () => {
      console.error(
        "raftd: this node was removed from the cluster; stopping. Wipe its data directory before adding it back.",
      );
      shutdown("removed");
    },
    onFatal: (e) => {
      logger("raftd.fatal", {
        level: "error",
        error: e.message,
        hint:
          "The node stopped to protect its data; fix the cause (disk full or failing?) and restart it",
      });
      Deno.exit(1);
    },
  }).catch((e) => {
    logger("raftd.startFailed", {
      level: "error",
      error: (e as Error).message,
    });
    console.error(`raftd: could not start: ${(e as Error).message}`);
    Deno.exit(1);
  });

  if (faults.knobs || faults.fs) {
    logger("raftd.faults", {
      level: "warn",
      faults: Deno.env.get("RAFTLOCK_FAULTS"),
      hint: "RAFTLOCK_FAULTS is for chaos testing only",
    });
  }
}

if (import.meta.main) main();
