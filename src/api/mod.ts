/**
 * The HTTP API over a node's `LockService`: {@linkcode createApp}
 * builds the Hono app, {@linkcode createMetrics} the metrics it records and
 * exposes, and {@linkcode errorResponse} the JSON error answer.
 *
 * @example
 * ```ts ignore
 * import { bindNodeMetrics, createApp, createMetrics } from "./mod.ts";
 *
 * const metrics = createMetrics();
 * bindNodeMetrics(metrics, node, service);
 * Deno.serve(createApp({ service, metrics }).fetch);
 * ```
 *
 * @module
 */

export { type AppOptions, createApp, DEFAULT_MAX_BODY_BYTES } from "./app.ts";
export {
  type ApiMetrics,
  bindNodeMetrics,
  createMetrics,
  UpDown,
} from "./api_metrics.ts";
export {
  ApiError,
  type ErrorAnswer,
  type ErrorCode,
  errorResponse,
  STATUS,
  toErrorAnswer,
} from "./errors.ts";
export type { InternalHttp } from "./forward.ts";
export { routeLabel } from "./middleware.ts";
