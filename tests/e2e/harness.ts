/**
 * End-to-end test harness: real `raftd` processes (`cli/raftd.ts` run by
 * the current Deno binary), real TCP on 127.0.0.1, real data directories in
 * a temp dir.
 *
 * - {@linkcode RaftdProcess}: one node's process, its flags and its log
 *   lines (kept across restarts); start, SIGKILL / SIGTERM, restart with
 *   the same data directory.
 * - {@linkcode E2ECluster}: n nodes with reserved free ports, HTTP helpers
 *   that never throw, polling helpers (leader agreement, catch-up, logs).
 * - {@linkcode withCluster} runs a test body, prints every node's log tail
 *   when it fails, and always kills the processes and removes the data.
 * - With client auth on, {@linkcode E2ECluster.auth} gives the helpers a
 *   token, or a user and password they log in with (and again after a
 *   401), so `status`, `waitForLeader`, `put`, `get` and `list` still work.
 *
 * The benchmarks in `bench/` reuse this module.
 *
 * @module
 */

import type { KeyValue, NodeStatus as Status } from "../../src/wire/types.ts";

// The API's JSON shapes, defined once with the client's types.
export type { KeyValue, Status };

/**
 * Path of the node entry point: this checkout's `cli/raftd.ts`, or the
 * file named by `RAFTLOCK_E2E_RAFTD` (to run the suite against a patched
 * copy of the project).
 */
export const RAFTD: string = envOr(
  "RAFTLOCK_E2E_RAFTD",
  new URL("../../cli/raftd.ts", import.meta.url).pathname,
);

/** The project's deno.json next to `cli/` (so imports resolve from any cwd). */
const CONFIG: string = RAFTD.replace(/cli\/raftd\.ts$/, "deno.json");

function envOr(name: string, fallback: string): string {
  try {
    return Deno.env.get(name) || fallback;
  } catch {
    return fallback;
  }
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Reserves `n` distinct free ports on 127.0.0.1. All listeners are held
 * open together (so the ports differ) and closed just before returning.
 */
export function reservePorts(n: number): number[] {
  const held = holdPorts(n);
  held.release();
  return held.ports;
}

/**
 * Holds `n` distinct free ports on 127.0.0.1 until `release()`: while they
 * are held, a proxy or relay that listens on port 0 cannot be given one of
 * them (which would leave a node unable to listen).
 */
export function holdPorts(n: number): { ports: number[]; release(): void } {
  const ls = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  return {
    ports: ls.map((l) => (l.addr as Deno.NetAddr).port),
    release: () => {
      for (const l of ls) l.close();
    },
  };
}

/** One parsed log line of a node (JSON lines on stderr), or the raw text. */
export interface LogRecord {
  /** The event name (`node.leadership`, `transport`, …) when the line is JSON. */
  event?: string;
  /** Every field of a JSON line. */
  [field: string]: unknown;
  /** The raw line. */
  raw: string;
}

/** How to run one node. */
export interface NodeConfig {
  /** Node id. */
  id: string;
  /** Peer listen address, host:port. */
  listen: string;
  /** HTTP API address, host:port. */
  http: string;
  /** Data directory. */
  dataDir: string;
  /** `--peers` map (must include this node); omit with `join`. */
  peers?: Record<string, string>;
  /** `--join URL`. */
  join?: string;
  /** `--snapshot-every N`. */
  snapshotEvery?: number;
  /** More flags. */
  extraArgs?: string[];
}

/** An HTTP answer; `status` 0 means the request failed or timed out. */
export interface HttpResult<T = Record<string, unknown>> {
  /** HTTP status, or 0 on a network error or timeout. */
  status: number;
  /** The parsed JSON body (or `{}`). */
  body: T;
  /** The error text when status is 0. */
  error?: string;
  /** Milliseconds the request took. */
  ms: number;
}

/**
 * Sends a request and parses the JSON answer. Never throws: network errors
 * and timeouts come back as status 0. The body is always consumed so
 * keep-alive connections are reused.
 */
export async function http<T = Record<string, unknown>>(
  url: string,
  init: {
    method?: string;
    body?: unknown;
    timeoutMs?: number;
    signal?: AbortSignal;
    /** Sent as `Authorization: Bearer <token>`. */
    token?: string;
    /** More request headers. */
    headers?: Record<string, string>;
    /** A `Deno.HttpClient` (for HTTPS with a test CA). */
    client?: Deno.HttpClient;
  } = {},
): Promise<HttpResult<T>> {
  const t0 = performance.now();
  try {
    const r = await fetch(url, {
      method: init.method ?? "GET",
      headers: {
        ...(init.body === undefined
          ? {}
          : { "content-type": "application/json" }),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...init.headers,
      },
      client: init.client,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal
        ? AbortSignal.any([
          init.signal,
          AbortSignal.timeout(init.timeoutMs ?? 3000),
        ])
        : AbortSignal.timeout(init.timeoutMs ?? 3000),
    });
    const text = await r.text();
    let body = {} as T;
    try {
      body = text ? JSON.parse(text) : {} as T;
    } catch {
      body = { text } as T;
    }
    return { status: r.status, body, ms: performance.now() - t0 };
  } catch (e) {
    return {
      status: 0,
      body: {} as T,
      error: (e as Error).message,
      ms: performance.now() - t0,
    };
  }
}

/** A raftd child process (restartable with the same config and data). */
export class RaftdProcess {
  /** Node id. */
  readonly id: string;
  /** Its flags. */
  config: NodeConfig;
  /** How many times it was started. */
  starts = 0;
  #child: Deno.ChildProcess | undefined;
  #status: Promise<Deno.CommandStatus> | undefined;
  #exit: Deno.CommandStatus | undefined;
  #readers: Promise<void>[] = [];
  readonly #lines: LogRecord[] = [];
  readonly #logWaiters = new Set<() => void>();

  /** Wraps a config; call {@linkcode RaftdProcess.start} to run it. */
  constructor(config: NodeConfig) {
    this.id = config.id;
    this.config = config;
  }

  /** The command-line flags. */
  args(): string[] {
    const c = this.config;
    const a = [
      "run",
      "-A",
      "--config",
      CONFIG,
      RAFTD,
      "--id",
      c.id,
      "--data-dir",
      c.dataDir,
      "--listen",
      c.listen,
      "--http",
      c.http,
    ];
    if (c.peers) {
      a.push(
        "--peers",
        Object.entries(c.peers).map(([id, addr]) => `${id}=${addr}`).join(","),
      );
    }
    if (c.join) a.push("--join", c.join);
    if (c.snapshotEvery) a.push("--snapshot-every", String(c.snapshotEvery));
    a.push(...(c.extraArgs ?? []));
    return a;
  }

  /** Base URL of its HTTP API. */
  get url(): string {
    return `http://${this.config.http}`;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  /** The OS process id (while running). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last exit status, once it has exited. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** Spawns the process (it must not be running). */
  start(): void {
    if (this.running) throw new Error(`${this.id} is already running`);
    this.starts++;
    this.#exit = undefined;
    const child = new Deno.Command(Deno.execPath(), {
      args: this.args(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).spawn();
    this.#child = child;
    this.#note(
      `--- start #${this.starts} pid ${child.pid}: raftd ${
        this.args().slice(5).join(" ")
      }`,
    );
    this.#readers = [
      this.#read(child.stdout),
      this.#read(child.stderr),
    ];
    this.#status = child.status.then((s) => {
      this.#exit = s;
      this.#note(
        `--- exited code ${s.code}${s.signal ? ` signal ${s.signal}` : ""}`,
      );
      return s;
    });
  }

  /** Sends a signal; resolves with the exit status once it has exited. */
  async kill(
    signal: Deno.Signal = "SIGKILL",
    timeoutMs = 10_000,
  ): Promise<Deno.CommandStatus> {
    if (!this.#child || !this.#status) throw new Error(`${this.id} never ran`);
    if (this.running) {
      try {
        this.#child.kill(signal);
      } catch {
        // Already gone.
      }
    }
    return await this.waitExit(timeoutMs);
  }

  /** Resolves with the exit status; SIGKILLs the process after the timeout. */
  async waitExit(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    if (!this.#status) throw new Error(`${this.id} never ran`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), timeoutMs);
    });
    const s = await Promise.race([this.#status, timedOut]);
    clearTimeout(timer);
    if (s === "timeout") {
      try {
        this.#child!.kill("SIGKILL");
      } catch {
        // Gone.
      }
      await this.#status;
      throw new Error(`${this.id} did not exit within ${timeoutMs} ms`);
    }
    await Promise.all(this.#readers);
    return s;
  }

  /** Every log line so far, across restarts. */
  logs(): LogRecord[] {
    return this.#lines;
  }

  /** Log lines matching `pred`. */
  findLogs(pred: (r: LogRecord) => boolean): LogRecord[] {
    return this.#lines.filter(pred);
  }

  /** Resolves with the first log line (from `fromLine` on) matching `pred`. */
  async waitForLog(
    pred: (r: LogRecord) => boolean,
    options: { timeoutMs?: number; fromLine?: number } = {},
  ): Promise<LogRecord> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    let from = options.fromLine ?? 0;
    for (;;) {
      for (; from < this.#lines.length; from++) {
        if (pred(this.#lines[from])) return this.#lines[from];
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${this.id}: no matching log line in time`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 100));
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.#logWaiters.add(done);
      });
      this.#logWaiters.clear();
    }
  }

  /** The last `n` raw lines, for failure reports. */
  tail(n = 60): string[] {
    return this.#lines.slice(-n).map((r) => r.raw);
  }

  #note(raw: string): void {
    this.#lines.push({ raw });
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let buf = "";
    try {
      for await (
        const chunk of stream.pipeThrough(new TextDecoderStream())
      ) {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.#push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      }
    } catch {
      // The pipe broke with the process.
    }
    if (buf) this.#push(buf);
  }

  #push(line: string): void {
    let rec: LogRecord = { raw: line };
    if (line.startsWith("{")) {
      try {
        rec = { ...JSON.parse(line), raw: line };
      } catch {
        // Not JSON after all.
      }
    }
    this.#lines.push(rec);
    if (this.#lines.length > 50_000) this.#lines.splice(0, 10_000);
    for (const w of [...this.#logWaiters]) w();
  }
}

/** Options of {@linkcode E2ECluster.start}. */
export interface ClusterOptions {
  /** Number of nodes (default 3), ids n1..nN. */
  nodes?: number;
  /** `--snapshot-every`. */
  snapshotEvery?: number;
  /** More flags for every node. */
  extraArgs?: string[];
  /**
   * The `--peers` map node `id` gets, given every node's real peer address
   * (default: the real addresses). Put proxies here.
   */
  peersFor?: (id: string, real: Record<string, string>) => Record<
    string,
    string
  >;
  /** Wait for an agreed leader (default true). */
  waitForLeader?: boolean;
  /** Parent directory for the temp dir (default the system temp dir). */
  baseDir?: string;
}

/**
 * How the cluster helpers authenticate once client auth is on: a fixed
 * token, or a user and password to log in with.
 */
export type HarnessAuth = { token: string } | {
  user: string;
  password: string;
};

/** A cluster of raftd processes. */
export class E2ECluster {
  /** The temp dir holding every data directory. */
  readonly dir: string;
  /**
   * Credentials for the helpers (`status`, `waitForLeader`, `put`, `get`,
   * `list`); set it once auth is on. Undefined: no token is sent.
   */
  auth: HarnessAuth | undefined;
  #token: string | undefined;
  /** Nodes by id (running or not). */
  readonly nodes: Map<string, RaftdProcess> = new Map();
  /** Things to close with the cluster (proxies, sockets). */
  readonly closers: (() => unknown)[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Starts the nodes with fresh data dirs and (by default) waits for a leader. */
  static async start(options: ClusterOptions = {}): Promise<E2ECluster> {
    const n = options.nodes ?? 3;
    const dir = await Deno.makeTempDir({
      prefix: "raftlock-e2e-",
      dir: options.baseDir,
    });
    const c = new E2ECluster(dir);
    try {
      // Held until the proxies of `peersFor` listen (see holdPorts).
      const held = holdPorts(2 * n);
      const ports = held.ports;
      const real: Record<string, string> = {};
      for (let i = 0; i < n; i++) real[`n${i + 1}`] = `127.0.0.1:${ports[i]}`;
      try {
        for (let i = 0; i < n; i++) {
          const id = `n${i + 1}`;
          c.nodes.set(
            id,
            new RaftdProcess({
              id,
              listen: real[id],
              http: `127.0.0.1:${ports[n + i]}`,
              dataDir: `${dir}/${id}`,
              peers: options.peersFor ? options.peersFor(id, real) : real,
              snapshotEvery: options.snapshotEvery,
              extraArgs: options.extraArgs,
            }),
          );
        }
      } finally {
        held.release();
      }
      for (const p of c.nodes.values()) p.start();
      if (options.waitForLeader ?? true) await c.waitForLeader();
      return c;
    } catch (e) {
      c.printLogs(`cluster start failed: ${(e as Error).message}`);
      await c.close();
      throw e;
    }
  }

  /** A node by id. */
  node(id: string): RaftdProcess {
    const p = this.nodes.get(id);
    if (!p) throw new Error(`No node ${id}`);
    return p;
  }

  /** Ids of the running nodes. */
  running(): string[] {
    return [...this.nodes.values()].filter((p) => p.running).map((p) => p.id);
  }

  /** Base URL of a node's API. */
  url(id: string): string {
    return this.node(id).url;
  }

  /** Every node's real peer address. */
  peerAddresses(): Record<string, string> {
    const r: Record<string, string> = {};
    for (const p of this.nodes.values()) r[p.id] = p.config.listen;
    return r;
  }

  /** Adds (does not start) a node with a fresh data dir and free ports. */
  addNode(
    id: string,
    config: Omit<NodeConfig, "id" | "listen" | "http" | "dataDir"> = {},
  ): RaftdProcess {
    const [peer, api] = reservePorts(2);
    const p = new RaftdProcess({
      id,
      listen: `127.0.0.1:${peer}`,
      http: `127.0.0.1:${api}`,
      dataDir: `${this.dir}/${id}`,
      ...config,
    });
    this.nodes.set(id, p);
    return p;
  }

  /**
   * The token the helpers send: the fixed one, or one got by logging in
   * with {@linkcode E2ECluster.auth} on any running node (kept until a
   * 401; `fresh` logs in again). Undefined without `auth`.
   */
  async token(fresh = false): Promise<string | undefined> {
    const a = this.auth;
    if (!a) return undefined;
    if ("token" in a) return a.token;
    if (this.#token && !fresh) return this.#token;
    this.#token = undefined;
    for (const id of this.running()) {
      const r = await http<{ token: string }>(`${this.url(id)}/v1/auth/token`, {
        method: "POST",
        body: { user: a.user, password: a.password },
        timeoutMs: 5000,
      });
      if (r.status === 200) return this.#token = r.body.token;
    }
    return undefined;
  }

  /**
   * A request with the helpers' token ({@linkcode E2ECluster.auth}); after a
   * 401 it logs in once more and tries again.
   */
  async call<T = Record<string, unknown>>(
    url: string,
    init: Parameters<typeof http>[1] = {},
  ): Promise<HttpResult<T>> {
    const r = await http<T>(url, { ...init, token: await this.token() });
    if (r.status !== 401 || !this.auth || "token" in this.auth) return r;
    return await http<T>(url, { ...init, token: await this.token(true) });
  }

  /** A node's `/v1/status`, or undefined when it does not answer. */
  async status(id: string, timeoutMs = 1000): Promise<Status | undefined> {
    const r = await this.call<Status>(`${this.url(id)}/v1/status`, {
      timeoutMs,
    });
    return r.status === 200 ? r.body : undefined;
  }

  /** Statuses of `ids` (default: the running nodes). */
  async statuses(ids = this.running()): Promise<(Status | undefined)[]> {
    return await Promise.all(ids.map((id) => this.status(id)));
  }

  /**
   * Waits until every node in `ids` (default: running) answers, all name
   * the same leader in the same term, and that leader is among them and
   * says it leads. Returns the leader's id.
   */
  async waitForLeader(
    options: { ids?: string[]; timeoutMs?: number; notId?: string } = {},
  ): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    let last = "";
    while (Date.now() < deadline) {
      const ids = options.ids ?? this.running();
      const st = await this.statuses(ids);
      last = JSON.stringify(
        st.map((s) => s && `${s.id}:${s.role}@${s.term}->${s.leader}`),
      );
      if (st.every((s) => s !== undefined)) {
        const leaders = new Set(st.map((s) => `${s!.leader}@${s!.term}`));
        const leader = st[0]!.leader;
        const ls = st.find((s) => s!.id === leader);
        if (
          leaders.size === 1 && leader && leader !== options.notId &&
          ls?.role === "leader"
        ) {
          return leader;
        }
      }
      await sleep(25);
    }
    throw new Error(`No agreed leader in time; last statuses ${last}`);
  }

  /**
   * Waits until every node in `ids` has applied at least the leader's
   * commit index (read once at the start, or `index`).
   */
  async waitApplied(
    ids: string[],
    options: { index?: number; timeoutMs?: number } = {},
  ): Promise<number> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    let target = options.index;
    if (target === undefined) {
      const leader = await this.waitForLeader({
        timeoutMs: options.timeoutMs,
      });
      target = (await this.status(leader))!.commit;
    }
    let last = "";
    while (Date.now() < deadline) {
      const st = await this.statuses(ids);
      last = JSON.stringify(st.map((s) => s && `${s.id}:${s.applied}`));
      if (st.every((s) => s !== undefined && s.applied >= target!)) {
        return target;
      }
      await sleep(25);
    }
    throw new Error(
      `Nodes did not apply index ${target} in time; last ${last}`,
    );
  }

  /** `PUT /v1/kv/{key}`. */
  put(
    id: string,
    key: string,
    value: string,
    timeoutMs = 3000,
    signal?: AbortSignal,
  ): Promise<HttpResult<{ revision: number }>> {
    return this.call(`${this.url(id)}/v1/kv/${key}`, {
      method: "PUT",
      body: { value },
      timeoutMs,
      signal,
    });
  }

  /** PUTs until one succeeds (any node in `ids`, round robin), or throws. */
  async putRetry(
    ids: string[],
    key: string,
    value: string,
    timeoutMs = 10_000,
  ): Promise<{ revision: number; node: string }> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (let i = 0; Date.now() < deadline; i++) {
      const id = ids[i % ids.length];
      const r = await this.put(id, key, value, 2000);
      if (r.status === 200) return { revision: r.body.revision, node: id };
      last = `${id}: ${r.status} ${r.error ?? JSON.stringify(r.body)}`;
      await sleep(20);
    }
    throw new Error(`PUT ${key} never succeeded; last ${last}`);
  }

  /** `GET /v1/kv/{key}` (serializable reads this node's state). */
  get(
    id: string,
    key: string,
    consistency: "linearizable" | "serializable" = "linearizable",
  ): Promise<HttpResult<KeyValue>> {
    return this.call(
      `${this.url(id)}/v1/kv/${key}?consistency=${consistency}`,
    );
  }

  /** Every key under `prefix` on one node (one page of up to 10 000). */
  async list(
    id: string,
    prefix: string,
    consistency: "linearizable" | "serializable" = "linearizable",
  ): Promise<KeyValue[]> {
    const r = await this.call<{ kvs: KeyValue[]; more: boolean }>(
      `${this.url(id)}/v1/kv?prefix=${
        encodeURIComponent(prefix)
      }&limit=10000&consistency=${consistency}`,
      { timeoutMs: 5000 },
    );
    if (r.status !== 200) {
      throw new Error(
        `List ${prefix} on ${id}: ${r.status} ${
          r.error ?? JSON.stringify(r.body)
        }`,
      );
    }
    if (r.body.more) throw new Error("List has more than one page");
    return r.body.kvs;
  }

  /** Prints every node's log tail (on failure). */
  printLogs(reason: string, lines = 60): void {
    console.error(`\n==== e2e failure: ${reason}`);
    for (const p of this.nodes.values()) {
      console.error(`---- ${p.id} (last ${lines} lines)`);
      for (const l of p.tail(lines)) console.error(`[${p.id}] ${l}`);
    }
    console.error("==== end of node logs\n");
  }

  /** Kills every process, closes proxies, removes the temp dir. */
  async close(): Promise<void> {
    await Promise.allSettled(
      [...this.nodes.values()].filter((p) => p.starts > 0).map((p) =>
        p.kill("SIGKILL")
      ),
    );
    for (const c of this.closers.reverse()) {
      try {
        await c();
      } catch {
        // Best effort.
      }
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts a cluster, runs `fn`, prints the logs if it throws, and always
 * cleans up.
 */
export async function withCluster(
  options: ClusterOptions,
  fn: (c: E2ECluster) => Promise<void>,
): Promise<void> {
  const c = await E2ECluster.start(options);
  try {
    await fn(c);
  } catch (e) {
    c.printLogs((e as Error).message);
    throw e;
  } finally {
    await c.close();
  }
}

/** Options every e2e test uses: child processes outlive single ops. */
export const E2E: Pick<
  Deno.TestDefinition,
  "sanitizeOps" | "sanitizeResources"
> = {
  sanitizeOps: false,
  sanitizeResources: false,
};

/** Milliseconds since `t0` (performance.now), rounded to 0.1. */
export function since(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/**
 * Tries a PUT every `everyMs` (hedged: a new attempt starts while older ones
 * are still waiting), alternating over `ids`; resolves with the time the
 * first attempt succeeded, measured from `t0`.
 */
export async function firstSuccessfulPut(
  c: E2ECluster,
  ids: string[],
  key: string,
  options: { t0: number; everyMs?: number; timeoutMs?: number },
): Promise<{ ms: number; node: string; attempts: number }> {
  const every = options.everyMs ?? 10;
  const deadline = options.t0 + (options.timeoutMs ?? 10_000);
  let done: { ms: number; node: string } | undefined;
  let attempts = 0;
  const inflight = new Set<Promise<void>>();
  const abort = new AbortController();
  let wake: (() => void) | undefined;
  while (!done && performance.now() < deadline) {
    const id = ids[attempts % ids.length];
    attempts++;
    const p = c.put(id, key, `v${attempts}`, 3000, abort.signal).then((r) => {
      if (r.status === 200 && !done) {
        done = { ms: performance.now() - options.t0, node: id };
        wake?.();
      }
    });
    inflight.add(p);
    p.finally(() => inflight.delete(p));
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, every);
    });
  }
  abort.abort();
  await Promise.allSettled([...inflight]);
  if (!done) throw new Error(`No PUT succeeded within ${options.timeoutMs} ms`);
  return { ...done, attempts };
}
