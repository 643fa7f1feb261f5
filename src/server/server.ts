/**
 * One raftlock server process, assembled: the data directory (WAL and
 * snapshots), the TCP peer transport, the Raft node, the lock service and
 * the HTTP API on our own listener (connection cap, header and idle
 * timeouts, optional TLS; see `http_listener.ts`). `cli/raftd.ts` parses flags into
 * {@linkcode ServerOptions}; tests start servers in-process the same way.
 *
 * @module
 */

import {
  ApiError,
  bindNodeMetrics,
  createApp,
  createMetrics,
  errorResponse,
  type InternalHttp,
} from "../api/mod.ts";
import { type Logger, nullLogger } from "../node/logger.ts";
import { startMemoryTrim } from "./memory_trim.ts";
import { type NodeTestingKnobs, RaftNode } from "../node/node.ts";
import { forceNewCluster } from "../node/force_new_cluster.ts";
import type { ConfState, NodeId } from "../raft/types.ts";
import {
  LockService,
  type ServiceTestingKnobs,
  type WatchQueueLimits,
} from "../service/mod.ts";
import {
  ServiceStateMachine,
  type StateTestingKnobs,
} from "../state/machine.ts";
import { DiskStorage } from "../storage/disk_storage.ts";
import type { FileSystem } from "../storage/fs.ts";
import type { TestingKnobs } from "../raft/raft.ts";
import { MAX_START_VALUE, MAX_TERM } from "../codec/message.ts";
import { TcpTransport, transportMetricsText } from "../transport/tcp.ts";
import { HttpListener } from "./http_listener.ts";
import { httpListenerMetricsText } from "./http_metrics.ts";

/**
 * How a joining node proves to the cluster that it may add itself (root,
 * when client auth is on): a token, or a user and password it logs in
 * with (and again whenever a token stops working).
 */
export type JoinAuth = { token: string } | { user: string; password: string };

/** How to run a server. */
export interface ServerOptions {
  /** This node's id. */
  id: NodeId;
  /** Its data directory. */
  dataDir: string;
  /** Peer (Raft) listen address, host:port (port 0 picks one). */
  listen: string;
  /** HTTP API listen address, host:port (port 0 picks one). */
  http: string;
  /** Initial voters id → peer address (a new cluster); absent for a single node or a join. */
  peers?: Record<NodeId, string>;
  /** Join an existing cluster through this member's HTTP URL. */
  join?: string;
  /** Credentials for the join's calls when the cluster has auth on. */
  joinAuth?: JoinAuth;
  /** The peer address other nodes should dial (default: the bound `listen` address). */
  advertisePeer?: string;
  /** The HTTP address clients should use (default: the bound `http` address). */
  advertiseHttp?: string;
  /**
   * Peers of another cluster id are refused (default "raftlock"); the data
   * directory records it, and refuses to start with another.
   */
  clusterId?: string;
  /**
   * Disaster recovery: make this node the only member of its cluster before
   * it starts, keeping all its data (see `src/node/force_new_cluster.ts`).
   * For when the quorum is lost for good; start without it afterwards.
   */
  forceNewCluster?: boolean;
  /** Raft tick in ms (default 10). */
  tickMs?: number;
  /** Minimum election timeout in ticks (default 15). */
  electionTicks?: number;
  /** Heartbeat interval in ticks (default 5). */
  heartbeatTicks?: number;
  /** Snapshot after this many applied entries (default 10 000). */
  snapshotEvery?: number;
  /** Leader lease reads (default true); false: a ReadIndex round per batch. */
  readLease?: boolean;
  /** Peer TLS files. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** Serve the HTTP API over HTTPS with these files (PEM). */
  httpTls?: { certFile: string; keyFile: string };
  /**
   * The CA (PEM file) that signs the members' HTTPS certificates, trusted
   * for this node's own calls to them (forwarding to the leader, `join`).
   * Default: the peer CA (`tls.caFile`), else the system's roots.
   */
  httpCaFile?: string;
  /** Most HTTP connections open at once (default: 4096, lowered below the file-descriptor limit). */
  maxConnections?: number;
  /** A new HTTP connection that sends no request within this is closed, ms (default 10 000). */
  httpHeaderTimeoutMs?: number;
  /** An HTTP connection with no request in flight for this long is closed, ms (default 60 000). */
  httpIdleTimeoutMs?: number;
  /**
   * Whether client authentication is on (users, roles, tokens). Read once
   * the node runs, to warn when the API is reachable from the network over
   * TLS but anyone may use it. Until auth exists, absent means off.
   */
  authEnabled?: () => boolean;
  /**
   * Serve clients from the network while client auth is off (`--insecure`).
   * Without it, a node whose HTTP address is not loopback answers only
   * loopback clients (and /healthz, /readyz, /metrics) until auth is on, so
   * that root can be created and auth enabled from the host itself.
   */
  insecure?: boolean;
  /**
   * The cluster secret peers must prove they know (two during a rotation:
   * the first proves this node, either is accepted); none: no peer
   * authentication. See `--peer-secret-file`.
   */
  peerSecrets?: readonly string[];
  /** Structured logs. */
  logger?: Logger;
  /** Called when storage fails; the process should exit. */
  onFatal?: (e: Error) => void;
  /** Called when this node learns it was removed from the cluster. */
  onRemoved?: () => void;
  /** File operations for storage (default: the real file system); chaos runs inject faults here. */
  fs?: FileSystem;
  /** Watch streams served at once; more get 429 (default 10 000; `raftd --max-watchers`). */
  maxWatchers?: number;
  /**
   * Bounds of each watcher's send queue (default 1 MiB and 10 000 events;
   * `raftd --watch-queue-bytes`, `--watch-queue-events`).
   */
  watchQueue?: WatchQueueLimits;
  /** Lifetime of client tokens in seconds (default 600; `raftd --token-ttl`). */
  tokenTtlSeconds?: number;
  /**
   * The state size past which the leader raises the space alarm (default
   * 2 GiB; `raftd --quota-bytes`).
   */
  quotaBytes?: number;
  /** Lock acquires that may wait at once on this node (default 10 000; `raftd --max-lock-waiters`). */
  maxLockWaiters?: number;
  /** Waiters one lock may queue (default 1 000; `raftd --max-lock-waiters-per-lock`). */
  maxLockWaitersPerLock?: number;
  /**
   * Disk kept in reserve in the data directory, freed when the disk fills
   * up so the node can go on (default 0 here; `raftd --disk-reserve-bytes`
   * defaults to 16 MiB).
   */
  diskReserveBytes?: number;
  /** Planted bugs, only for showing that the chaos suite catches them. */
  testingKnobs?:
    & TestingKnobs
    & NodeTestingKnobs
    & ServiceTestingKnobs
    & StateTestingKnobs;
}

/** A running server. */
export interface Server {
  /** The node. */
  node: RaftNode;
  /** The lock service. */
  service: LockService;
  /** The bound HTTP address, host:port. */
  httpAddress: string;
  /** `http` or `https`. */
  httpScheme: "http" | "https";
  /** The HTTP listener (its counters are in `/metrics`). */
  http: HttpListener;
  /** The bound peer address, host:port. */
  peerAddress: string;
  /** Stops HTTP, the service, the node, the transport and the store. */
  stop(): Promise<void>;
}

/**
 * Opens the data directory, recovers, and starts the node and its HTTP API.
 *
 * @example
 * ```ts
 * import { startServer } from "./server.ts";
 *
 * // A single-node cluster on free ports.
 * async function serveOne(dataDir: string): Promise<void> {
 *   const server = await startServer({
 *     id: "n1",
 *     dataDir,
 *     listen: "127.0.0.1:0",
 *     http: "127.0.0.1:0",
 *   });
 *   console.log(`serving on http://${server.httpAddress}`);
 *   await server.stop();
 * }
 * ```
 */
export async function startServer(options: ServerOptions): Promise<Server> {
  const log = options.logger ?? nullLogger;
  const id = options.id;
  let conf: ConfState | undefined;
  if (options.peers) {
    conf = { voters: Object.keys(options.peers).sort(), learners: [] };
  } else if (!options.join) conf = { voters: [id], learners: [] };

  // Filled in once started; the transport's callbacks run only after that.
  const ref: {
    node?: RaftNode;
    app?: ReturnType<typeof createApp>;
    service?: LockService;
  } = {};
  const stopping = new AbortController();
  const clusterId = options.clusterId ?? "raftlock";
  const storage = await DiskStorage.open(options.dataDir, {
    conf,
    identity: { clusterId, nodeId: id },
    fs: options.fs,
    // Routine storage events are info; cuts, removals of damage and fatal
    // errors are warnings or errors.
    log: (event, fields) =>
      log(event.startsWith("storage.") ? event : `storage.${event}`, {
        level: event === "storage.fatal"
          ? "error"
          : /torn|broken|orphan|temp_removed|no_space|reserve_rel/.test(event)
          ? "warn"
          : "info",
        ...fields,
      }),
    onFatal: (e) => options.onFatal?.(e),
    reserveBytes: options.diskReserveBytes,
    onNoSpace: () => ref.service?.spaceChanged(),
  });
  const fresh = storage.lastIndex() === 0 &&
    storage.initialState().hardState.term === 0;
  const unusable = unusableState(id, storage);
  if (unusable !== undefined) {
    await storage.close();
    throw new Error(unusable);
  }
  if (options.forceNewCluster) {
    if (fresh) {
      await storage.close();
      throw new Error(
        `--force-new-cluster needs the data directory of a surviving member, but ${options.dataDir} holds no log; ` +
          "point --data-dir at that member's directory",
      );
    }
    const forced = await forceNewCluster(storage, id);
    log("server.forceNewCluster", {
      level: "warn",
      id,
      changed: forced.changed,
      removed: forced.removed,
      votersBefore: forced.before.voters,
      learnersBefore: forced.before.learners,
      term: forced.term,
      commitBefore: forced.commitBefore,
      commit: forced.commit,
      hint:
        "This node is now the only member of a new one-member cluster with all of its data. " +
        "Never start the removed members again with their old data directories; add members back " +
        "with empty data directories (raftd --join). Restart this node without --force-new-cluster",
    });
  }
  if (storage.initialState().hardState.term > MAX_TERM) {
    log("server.termBeyondWireLimit", {
      level: "warn",
      term: storage.initialState().hardState.term,
      limit: MAX_TERM,
      hint:
        "Peers refuse messages with this term; rebuild this member (remove it, wipe its data directory, add it back)",
    });
  }

  const peers: Record<string, string> = {};
  for (const [pid, addr] of Object.entries(options.peers ?? {})) {
    if (pid !== id) peers[pid] = addr;
  }
  let transport: TcpTransport;
  try {
    transport = await TcpTransport.listen({
      id,
      clusterId,
      listen: options.listen,
      peers,
      tls: options.tls,
      secrets: options.peerSecrets,
      logger: (level, message, fields) =>
        log("transport", { level, message, ...fields }),
      onSnapshotStatus: (to, ok) => ref.node?.reportSnapshot(to, ok),
      onUnreachable: (to) => ref.node?.reportUnreachable(to),
      onRefused: (to, reason) => ref.node?.reportRefused(to, reason),
    });
  } catch (e) {
    await storage.close();
    throw new Error(
      `Cannot listen for peers on ${options.listen}: ${(e as Error).message}`,
    );
  }
  const peerAddress = options.advertisePeer ?? transport.addr;
  if (/^(0\.0\.0\.0|\[::\]|::):/.test(peerAddress)) {
    await transport.close();
    await storage.close();
    throw new Error(
      `Peers cannot dial ${peerAddress}; give --advertise-peer with this machine's reachable host:port`,
    );
  }

  const metrics = createMetrics();
  metrics.registry.add({
    render: () => transportMetricsText(transport.stats()),
  });
  const state = new ServiceStateMachine({
    testingKnobs: options.testingKnobs?.semaphoreExtraPermit
      ? { semaphoreExtraPermit: true }
      : undefined,
  });
  const authOn = options.authEnabled ?? (() => state.auth.enabled);
  // A network-facing API serves only loopback clients until auth is on.
  // Before auth is on, a gated node serves this host (loopback, or one of
  // its own addresses: a node bound to one address sees local clients
  // come from it) and the hosts of the cluster's members (a follower
  // forwards some requests to the leader over HTTP).
  const ownAddresses = new Set<string>();
  try {
    for (const i of Deno.networkInterfaces()) ownAddresses.add(i.address);
  } catch { /* no --allow-sys: loopback only */ }
  const trustedBeforeAuth = (host: string): boolean => {
    if (isLoopbackHost(host) || ownAddresses.has(host)) return true;
    for (const m of ref.node?.status().members ?? []) {
      for (const a of [m.httpAddress, m.peerAddress]) {
        if (
          a && a.slice(0, a.lastIndexOf(":")).replace(/^\[|\]$/g, "") === host
        ) {
          return true;
        }
      }
    }
    return false;
  };
  const gated = !options.insecure && !isLoopbackHost(
    options.http.slice(0, options.http.lastIndexOf(":")) || "127.0.0.1",
  );
  // The HTTP listener starts before the node so its bound address can be
  // published; requests arriving before the node exists get 503.
  const [hostname, portText] = splitHostPort(options.http);
  let httpListener: HttpListener;
  let internalClient: Deno.HttpClient | undefined;
  const env: { internalHttp: InternalHttp } = { internalHttp: {} };
  try {
    const tls = options.httpTls
      ? {
        cert: await Deno.readTextFile(options.httpTls.certFile),
        key: await Deno.readTextFile(options.httpTls.keyFile),
      }
      : undefined;
    const caFile = options.httpCaFile ?? options.tls?.caFile;
    if (caFile !== undefined) {
      internalClient = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(caFile)],
      });
    }
    env.internalHttp = {
      scheme: tls ? "https" : "http",
      client: internalClient,
    };
    httpListener = HttpListener.listen({
      hostname,
      port: Number(portText),
      tls,
      maxConnections: options.maxConnections,
      headerTimeoutMs: options.httpHeaderTimeoutMs,
      idleTimeoutMs: options.httpIdleTimeoutMs,
      logger: log,
      onError: (e) => errorResponse(e),
      handler: (req, info) => {
        if (!ref.app) {
          return errorResponse(
            new ApiError("unavailable", "The node is starting; retry shortly"),
          );
        }
        if (
          gated && !authOn() && !trustedBeforeAuth(info.remoteAddr.hostname)
        ) {
          const path = new URL(req.url).pathname;
          if (!OPEN_PATHS.has(path)) {
            return errorResponse(
              new ApiError(
                "permission_denied",
                "Client authentication is off and this node's API listens on a network address, so only clients on this host (and the cluster's members) are served: create the root user and enable auth from here (raftctl --no-discover user add root, raftctl --no-discover auth enable), or restart raftd with --insecure to serve everyone without auth",
              ),
            );
          }
        }
        return ref.app.fetch(req, env);
      },
    });
  } catch (e) {
    internalClient?.close();
    await transport.close();
    await storage.close();
    throw new Error(
      `Cannot serve HTTP on ${options.http}: ${(e as Error).message}`,
    );
  }
  metrics.registry.add({
    render: () => httpListenerMetricsText(httpListener.stats()),
  });
  const addr = httpListener.addr;
  const httpAddress = options.advertiseHttp ?? `${addr.hostname}:${addr.port}`;

  const node = RaftNode.start({
    id,
    storage,
    transport,
    stateMachine: state,
    self: { peerAddress, httpAddress },
    peers: Object.entries(options.peers ?? {}).map(([pid, a]) => ({
      id: pid,
      peerAddress: a,
    })),
    tickMs: options.tickMs,
    snapshotEvery: options.snapshotEvery,
    readLease: options.readLease,
    logger: log,
    // A node stopped while it waits for disk space gives up that write:
    // not a failure to report.
    onFatal: (e) => {
      if (!stopping.signal.aborted) options.onFatal?.(e);
    },
    onRemoved: options.onRemoved,
    onPersisted: (s) => metrics.persist.observe(s),
    testingKnobs: options.testingKnobs,
    raft: {
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      testingKnobs: options.testingKnobs,
    },
  });
  const service = new LockService({
    node,
    state,
    logger: log,
    quotaBytes: options.quotaBytes,
    maxLockWaiters: options.maxLockWaiters,
    maxLockWaitersPerLock: options.maxLockWaitersPerLock,
    noSpace: () => storage.noSpace,
    testingKnobs: options.testingKnobs,
  });
  ref.service = service;
  bindNodeMetrics(metrics, node, service);
  ref.node = node;
  ref.app = createApp({
    service,
    metrics,
    https: httpListener.scheme === "https",
    shutdown: stopping.signal,
    clusterId,
    authOptions: { tokenTtlSeconds: options.tokenTtlSeconds },
    maxWatchers: options.maxWatchers,
    watchQueue: options.watchQueue,
  });
  // Once this node has caught up with the log, it knows whether auth is on.
  if (!isLoopbackHost(addr.hostname)) {
    node.waitForLeader(30_000).then(async () => {
      while (!stopping.signal.aborted && node.applied < node.status().commit) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (stopping.signal.aborted || authOn()) return;
      log("server.authOff", {
        level: "warn",
        http: `${httpListener.scheme}://${addr.hostname}:${addr.port}`,
        hint: httpListener.scheme === "https"
          ? "The HTTP API is reachable from the network and client authentication is off: anyone who reaches it can read and write every key, release any lock, change membership and download the whole state. TLS only hides the traffic"
          : "The HTTP API is reachable from the network with neither TLS nor client authentication: anyone who reaches it can read and write every key, release any lock, change membership and download the whole state, and anyone on the path can read and alter the traffic",
      });
    }).catch(() => {/* no leader yet: nothing to say */});
  }
  log("server.ready", {
    level: "info",
    id,
    http: httpAddress,
    peer: peerAddress,
    dataDir: options.dataDir,
    fresh,
  });

  const stopTrim = startMemoryTrim({ log });

  let joining: Promise<void> | undefined;
  if (options.join && fresh) {
    joining = join(options.join, {
      id,
      auth: options.joinAuth,
      client: internalClient,
      peerAddress,
      httpAddress,
      node,
      transport,
      log,
      signal: stopping.signal,
    });
  }

  return {
    node,
    service,
    httpAddress,
    httpScheme: httpListener.scheme,
    http: httpListener,
    peerAddress,
    async stop() {
      // End watches and waiting lock acquires, then stop the node so every
      // request still in flight is answered (503) at once; only then wait
      // for the HTTP server to drain.
      stopping.abort();
      stopTrim();
      service.close();
      // A write waiting for disk space would hold the node's loop forever.
      storage.abortWaitingForSpace();
      await node.stop();
      await httpListener.shutdown().catch(() => {});
      await joining?.catch(() => {});
      internalClient?.close();
    },
  };
}

// A store this node could not run with: a term or index so large that the
// next election or append would not be exact. Only an older version, which
// took any safe integer from the wire, could have written one.
function unusableState(
  id: NodeId,
  storage: DiskStorage,
): string | undefined {
  const { term, commit } = storage.initialState().hardState;
  const values: [string, number][] = [
    ["term", term],
    ["commit index", commit],
    ["last log index", storage.lastIndex()],
  ];
  for (const [what, v] of values) {
    if (v > MAX_START_VALUE) {
      return `The persisted ${what} ${v} is beyond the largest this node can run with (${MAX_START_VALUE}); ` +
        `an older version accepted it from a peer message. This member cannot recover by itself: ` +
        `restore its data directory from a backup, or rebuild it: remove it from the cluster ` +
        `(raftctl members remove ${id}), wipe its data directory, and add it back (raftd --join)`;
    }
  }
  return undefined;
}

function splitHostPort(a: string): [string, string] {
  const i = a.lastIndexOf(":");
  if (i < 0) throw new Error(`Address ${a} must be host:port`);
  return [a.slice(0, i).replace(/^\[|\]$/g, "") || "127.0.0.1", a.slice(i + 1)];
}

// Paths served to anyone even while a network-facing node is gated.
const OPEN_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * Whether `host` (a name or IP literal, IPv6 with or without brackets)
 * is reachable only from this machine.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

// Learns the members from the cluster (so this node accepts the leader's
// connection), asks a member to add this node as a learner, waits until
// this node has caught up, then asks for its promotion to voter.
async function join(
  url: string,
  self: {
    id: NodeId;
    auth: JoinAuth | undefined;
    client: Deno.HttpClient | undefined;
    peerAddress: string;
    httpAddress: string;
    node: RaftNode;
    transport: TcpTransport;
    log: Logger;
    signal: AbortSignal;
  },
): Promise<void> {
  const { id, client, peerAddress, httpAddress, node, transport, log, signal } =
    self;
  const base = url.replace(/\/$/, "");
  const authorization = joinAuthorization(base, self.auth, client);
  // A 409 to the add means this node is a member already (an earlier try
  // got through); to the promote it may also mean "not caught up yet".
  const post = async (path: string, body?: unknown, accept409 = true) => {
    const auth = await authorization.header();
    const r = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
      client,
    });
    const text = await r.text();
    if (r.status === 401) authorization.refused(auth);
    if (r.ok || (r.status === 409 && accept409)) return;
    if (r.status === 409 && /already a voter/.test(text)) return;
    throw new Error(`${r.status} ${text}`);
  };
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const auth = await authorization.header();
      const r = await fetch(`${base}/v1/cluster`, {
        headers: auth,
        signal: AbortSignal.timeout(10_000),
        client,
      });
      if (r.status === 401) authorization.refused(auth);
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      const cluster = await r.json() as {
        members: { id: string; peerAddress?: string }[];
      };
      for (const m of cluster.members) {
        if (m.id !== id && m.peerAddress) {
          transport.addPeer(m.id, m.peerAddress);
        }
      }
      await post("/v1/cluster/members", {
        id,
        peerAddress,
        httpAddress,
        learner: true,
      });
      log("server.join", {
        level: "info",
        step: "added as learner",
        via: base,
      });
      break;
    } catch (e) {
      log("server.join", {
        level: "warn",
        step: "add failed, retrying",
        attempt,
        error: String(e),
        ...(/\b40[13]\b/.test(String(e))
          ? {
            hint:
              "The cluster has client auth on: joining needs root (raftd --join-user root --join-password-file FILE, or --join-token-file FILE)",
          }
          : {}),
      });
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * attempt)));
    }
  }
  // Promote once this node has applied close to what the leader has.
  for (let attempt = 1; !signal.aborted; attempt++) {
    const s = node.status();
    if (s.members.find((m) => m.id === id)?.role === "voter") return;
    if (s.leader && s.applied > 0 && s.applied >= s.commit) {
      try {
        await post(
          `/v1/cluster/members/${encodeURIComponent(id)}/promote`,
          undefined,
          false,
        );
        log("server.join", { level: "info", step: "promoted to voter" });
        return;
      } catch (e) {
        log("server.join", {
          level: "warn",
          step: "promote failed, retrying",
          error: String(e),
        });
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
  }
}

// The Authorization header of a join's calls: a fixed token, or a token
// got with a user and password and got again once it is refused or near
// its end. None while the cluster says auth is off (409 to a login).
function joinAuthorization(
  base: string,
  auth: JoinAuth | undefined,
  client: Deno.HttpClient | undefined,
): {
  header(): Promise<Record<string, string>>;
  refused(header: Record<string, string>): void;
} {
  let held: { header: Record<string, string>; renewAt: number } | undefined;
  return {
    async header() {
      if (!auth) return {};
      if ("token" in auth) return { authorization: `Bearer ${auth.token}` };
      if (held && Date.now() < held.renewAt) return held.header;
      const sentAt = Date.now();
      const r = await fetch(`${base}/v1/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: auth.user, password: auth.password }),
        signal: AbortSignal.timeout(10_000),
        client,
      });
      const text = await r.text();
      if (r.status === 409) return {};
      if (!r.ok) {
        throw new Error(`Cannot log in as ${auth.user}: ${r.status} ${text}`);
      }
      const t = JSON.parse(text) as { token: string; ttl: number };
      // Whole seconds on the node's clock: a second may be gone already.
      const life = Math.max(0, t.ttl * 1000 - 1000);
      held = {
        header: { authorization: `Bearer ${t.token}` },
        renewAt: sentAt + life / 2,
      };
      return held.header;
    },
    refused(header) {
      if (held?.header === header) held = undefined;
    },
  };
}
