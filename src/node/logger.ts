/**
 * Structured logging for nodes: one call per event with its fields, the
 * same shape as the storage logger, written as JSON lines by default.
 *
 * @module
 */

/** Receives one event with its fields (`level` among them). */
export type Logger = (event: string, fields: Record<string, unknown>) => void;

/** A logger that drops everything (tests, libraries). */
export const nullLogger: Logger = () => {};

/** Levels in increasing severity. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level name. */
export type LogLevel = typeof LEVELS[number];

/**
 * Writes `{"ts":…,"level":…,"event":…,…}` lines to stderr, dropping events
 * below `minLevel`.
 */
export function jsonLineLogger(
  options: { minLevel?: LogLevel; base?: Record<string, unknown> } = {},
): Logger {
  const min = LEVELS.indexOf(options.minLevel ?? "info");
  const enc = new TextEncoder();
  return (event, fields) => {
    const level = (fields.level as LogLevel | undefined) ?? "info";
    if (LEVELS.indexOf(level) < min) return;
    const line = JSON.stringify({
      ts: new Date().toISOString(),
      ...options.base,
      ...fields,
      level,
      event,
    });
    Deno.stderr.writeSync(enc.encode(line + "\n"));
  };
}
