/**
 * What the HTTP app is built from; every route group gets the same options.
 *
 * @module
 */

import type { Authenticator, AuthenticatorOptions } from "../auth/mod.ts";
import type { LockService } from "../service/service.ts";
import type { WatchQueueLimits } from "../service/watch_feed.ts";
import type { ApiMetrics } from "./api_metrics.ts";

/** Options for `createApp` and for each route group. */
export interface AppOptions {
  /** The service on this node. */
  service: LockService;
  /** Metrics to record into and expose. */
  metrics: ApiMetrics;
  /**
   * Whether the API is served over HTTPS: only then do answers carry
   * `Strict-Transport-Security` (browsers ignore it over plain HTTP).
   */
  https?: boolean;
  /** Largest request body in bytes (default 2 MiB). */
  maxBodyBytes?: number;
  /** Seconds between idle watch progress events (default 5). */
  watchProgressSeconds?: number;
  /** Watch streams this node serves at once; more get 429 (default 10 000). */
  maxWatchers?: number;
  /** Bounds of each watcher's send queue (default 1 MiB, 10 000 events). */
  watchQueue?: WatchQueueLimits;
  /**
   * Ms a watch stream that ends (lagging, compacted) may take to be read
   * to its end before it is cut off (default 10 000).
   */
  watchEndGraceMs?: number;
  /** Aborted when the server stops: open watch streams end. */
  shutdown?: AbortSignal;
  /** The cluster's id, recorded in backups (default "raftlock"). */
  clusterId?: string;
  /**
   * Issues and verifies tokens (default: one over the service's state with
   * `authOptions`); `createApp` passes the one it uses to every route group.
   */
  authenticator?: Authenticator;
  /** Token lifetime, password hashing and limiter settings. */
  authOptions?: AuthenticatorOptions;
}
