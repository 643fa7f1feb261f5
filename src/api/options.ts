/**
 * What the HTTP app is built from; every route group gets the same options.
 *
 * @module
 */

import type { Authenticator, AuthenticatorOptions } from "../auth/mod.ts";
import type { LockService } from "../service/service.ts";
import type { ApiMetrics } from "./api_metrics.ts";

/** Options for `createApp` and for each route group. */
export interface AppOptions {
  /** The service on this node. */
  service: LockService;
  /** Metrics to record into and expose. */
  metrics: ApiMetrics;
  /** Largest request body in bytes (default 2 MiB). */
  maxBodyBytes?: number;
  /** Seconds between idle watch progress events (default 5). */
  watchProgressSeconds?: number;
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
