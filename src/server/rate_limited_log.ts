/**
 * A logger that writes an event at most once per interval and counts the
 * rest: a flood of refused connections or failing accepts must not turn
 * into a flood of log lines (each one a synchronous write to stderr).
 *
 * @module
 */

import type { Logger } from "../node/logger.ts";

/**
 * Logs each event name at most once per `intervalMs`; the next line that
 * gets through carries `suppressed`, the count of those dropped meanwhile.
 *
 * @example
 * ```ts
 * import { RateLimitedLog } from "./rate_limited_log.ts";
 * import { jsonLineLogger } from "../node/logger.ts";
 *
 * const log = new RateLimitedLog(jsonLineLogger(), 10_000);
 * for (let i = 0; i < 1000; i++) {
 *   log.log("http.acceptFailed", { level: "error", error: "EMFILE" });
 * }
 * // One line written; the next one, 10 s later or more, says suppressed: 999.
 * ```
 */
export class RateLimitedLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  /** Wraps `log`; `now` (ms, monotonic) is injectable for tests. */
  constructor(
    log: Logger,
    intervalMs: number,
    now: () => number = () => performance.now(),
  ) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Logs `event` unless it was logged less than the interval ago. */
  log(event: string, fields: Record<string, unknown>): void {
    const now = this.#now();
    const last = this.#last.get(event);
    if (last !== undefined && now - last.at < this.#intervalMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#last.set(event, { at: now, suppressed: 0 });
    this.#log(event, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}
