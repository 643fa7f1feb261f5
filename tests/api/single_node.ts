/**
 * Test support for fast route tests: the real HTTP app over a real
 * single-node service (a RaftNode on MemoryStorage and an in-memory
 * transport), called in-process with `app.request` — no processes, no
 * ports. A node configured alone elects itself.
 */

import assert from "node:assert/strict";
import type { Hono } from "hono";
import {
  type ApiMetrics,
  type AppOptions,
  bindNodeMetrics,
  createApp,
  createMetrics,
} from "../../src/api/mod.ts";
import {
  Authenticator,
  type AuthenticatorOptions,
} from "../../src/auth/mod.ts";
import { RaftNode } from "../../src/node/node.ts";
import { LockService } from "../../src/service/mod.ts";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { MemoryHub } from "../../src/transport/memory.ts";
import { checkAnswer, RouteMatcher } from "./openapi_check.ts";

/** How to start the node and the app. */
export interface SingleNodeOptions {
  /** Voters of the initial configuration (default just `n1`, which leads). */
  voters?: string[];
  /** The node's request timeout in ms (default 5000). */
  requestTimeoutMs?: number;
  /** Events kept in the watch history. */
  historySize?: number;
  /** Largest request body. */
  maxBodyBytes?: number;
  /** Build the app as served over HTTPS (default false). */
  https?: boolean;
  /** Seconds between idle watch progress events. */
  watchProgressSeconds?: number;
  /** Watch limits (`maxWatchers`, `watchQueue`, `watchEndGraceMs`). */
  watch?: Pick<AppOptions, "maxWatchers" | "watchQueue" | "watchEndGraceMs">;
  /** The node's store (default a fresh MemoryStorage with `voters`). */
  storage?: MemoryStorage;
  /** Token lifetime, clock, password hashing and limiter settings. */
  authOptions?: AuthenticatorOptions;
  /**
   * Check every answer of {@linkcode SingleNode.call} against the OpenAPI
   * spec (default true).
   */
  checkSpec?: boolean;
}

/** An answer, with its body parsed as JSON when it is JSON. */
export interface Answer {
  /** The status. */
  status: number;
  /** The JSON body (`{}` when empty, `{raw}` when not JSON). */
  json: Record<string, unknown>;
  /** The headers. */
  headers: Headers;
}

/** A running single-node app. */
export class SingleNode {
  /** The Hono app. */
  readonly app: Hono;
  /** The node (`n1`). */
  readonly node: RaftNode;
  /** The service. */
  readonly service: LockService;
  /** The app's metrics. */
  readonly metrics: ApiMetrics;
  /** Issues and verifies the app's tokens. */
  readonly authenticator: Authenticator;
  readonly #hub: MemoryHub;
  readonly #shutdown = new AbortController();
  readonly #matcher: RouteMatcher | undefined;

  private constructor(hub: MemoryHub, options: SingleNodeOptions) {
    this.#hub = hub;
    const state = new ServiceStateMachine({ historySize: options.historySize });
    this.node = RaftNode.start({
      id: "n1",
      storage: options.storage ??
        new MemoryStorage({
          conf: { voters: options.voters ?? ["n1"], learners: [] },
        }),
      transport: hub.connect("n1"),
      stateMachine: state,
      requestTimeoutMs: options.requestTimeoutMs,
      self: { peerAddress: "127.0.0.1:7001", httpAddress: "127.0.0.1:8001" },
    });
    this.service = new LockService({ node: this.node, state });
    this.metrics = createMetrics();
    bindNodeMetrics(this.metrics, this.node, this.service);
    this.authenticator = new Authenticator(state, options.authOptions);
    this.app = createApp({
      service: this.service,
      metrics: this.metrics,
      maxBodyBytes: options.maxBodyBytes,
      https: options.https,
      watchProgressSeconds: options.watchProgressSeconds,
      ...options.watch,
      shutdown: this.#shutdown.signal,
      authenticator: this.authenticator,
    });
    if (options.checkSpec ?? true) {
      this.#matcher = new RouteMatcher(this.app.routes);
    }
  }

  /**
   * Starts node `n1` and the app; with the default configuration, waits
   * until the node leads and has applied its election no-op.
   */
  static async start(options: SingleNodeOptions = {}): Promise<SingleNode> {
    const n = new SingleNode(new MemoryHub({ seed: 1 }), options);
    if (options.voters === undefined || options.voters.length === 1) {
      // Elect now rather than after an election timeout.
      n.node.campaign();
      await n.node.waitForLeader();
      await n.node.read();
    }
    return n;
  }

  /**
   * Sends one request; a non-string body is sent as JSON. The answer must
   * fit the OpenAPI spec of its route and status (unless `checkSpec` was
   * false).
   */
  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const a = await callJson(
      (init) => this.app.request(path, init),
      method,
      body,
      headers,
    );
    if (this.#matcher) {
      await checkAnswer(this.#matcher, method, path, {
        status: a.status,
        contentType: a.headers.get("content-type"),
        body: a.json,
      });
    }
    return a;
  }

  /** Ends watches, stops the service and the node, and closes the hub. */
  async close(): Promise<void> {
    this.#shutdown.abort();
    this.service.close();
    await this.node.stop();
    this.#hub.close();
  }
}

/**
 * Sends one request through `send` (in-process or over the network); a
 * non-string body is sent as JSON, and the answer's body is parsed as JSON
 * when it is JSON.
 */
export async function callJson(
  send: (init: RequestInit) => Response | Promise<Response>,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const r = await send({
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
  });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { raw: text };
  }
  return { status: r.status, json, headers: r.headers };
}

/**
 * Asserts that each request (method, path, body) answers 503 `unavailable`
 * with `Retry-After: 1`, as every route does while no leader is known;
 * `more` looks further at each answer.
 */
export async function assertUnavailable(
  n: SingleNode,
  requests: readonly (readonly [string, string, unknown?])[],
  more?: (a: Answer) => void,
): Promise<void> {
  for (const [method, path, body] of requests) {
    const r = await n.call(method, path, body);
    assert.equal(r.status, 503, `${method} ${path}`);
    assert.equal(errCode(r), "unavailable", `${method} ${path}`);
    assert.equal(r.headers.get("retry-after"), "1", `${method} ${path}`);
    more?.(r);
  }
}

/** The `error.code` of an answer. */
export function errCode(a: Answer): string | undefined {
  return (a.json.error as { code?: string } | undefined)?.code;
}

/** The `error.message` of an answer. */
export function errMessage(a: Answer): string {
  return String((a.json.error as { message?: string } | undefined)?.message);
}

/**
 * Every answer carries the node's revision and term; `revision`, when
 * given, must be the one in the header.
 */
export function assertRaftHeaders(a: Answer, revision?: number): void {
  const rev = a.headers.get("x-raft-revision");
  const term = a.headers.get("x-raft-term");
  if (rev === null || !/^\d+$/.test(rev)) {
    throw new Error(`X-Raft-Revision missing or malformed: ${rev}`);
  }
  if (term === null || !/^\d+$/.test(term)) {
    throw new Error(`X-Raft-Term missing or malformed: ${term}`);
  }
  if (revision !== undefined && Number(rev) !== revision) {
    throw new Error(`X-Raft-Revision is ${rev}, expected ${revision}`);
  }
}

/** Runs `fn` against a fresh single node, closing it afterwards. */
export async function withNode(
  fn: (n: SingleNode) => Promise<void>,
  options: SingleNodeOptions = {},
): Promise<void> {
  const n = await SingleNode.start(options);
  try {
    await fn(n);
  } finally {
    await n.close();
  }
}
