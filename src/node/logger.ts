/**
 * Structured logging for nodes: one call per event with its fields, the
 * same shape as the storage logger. Every event becomes one record,
 * `{ts, ...base, ...fields, level, event}`, written either as a JSON line
 * (for machines: journald, log shippers, `jq`) or as a readable line (for
 * people at a terminal, see `log_format.ts`).
 *
 * @module
 */

import {
  formatLogLine,
  type LogFormat,
  resolveLogFormat,
  useColor,
} from "./log_format.ts";

/** Receives one event with its fields (`level` among them). */
export type Logger = (event: string, fields: Record<string, unknown>) => void;

/** A logger that drops everything (tests, libraries). */
export const nullLogger: Logger = () => {};

/** Levels in increasing severity. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level name. */
export type LogLevel = typeof LEVELS[number];

/** Options shared by the loggers that write lines. */
export interface LineLoggerOptions {
  /** Drop events below this level. Default `info`. */
  minLevel?: LogLevel;
  /** Fields every record starts with, e.g. `{ node: "n1" }`. */
  base?: Record<string, unknown>;
  /** Where each line goes (without its newline). Default: stderr. */
  write?: (line: string) => void;
}

function stderrWriter(): (line: string) => void {
  const enc = new TextEncoder();
  return (line) => Deno.stderr.writeSync(enc.encode(line + "\n"));
}

/**
 * A logger that builds each event's record and hands it to `emit`, after
 * dropping events below `minLevel`.
 */
function recordLogger(
  options: LineLoggerOptions,
  emit: (record: Record<string, unknown>) => void,
): Logger {
  const min = LEVELS.indexOf(options.minLevel ?? "info");
  return (event, fields) => {
    const level = (fields.level as LogLevel | undefined) ?? "info";
    if (LEVELS.indexOf(level) < min) return;
    emit({
      ts: new Date().toISOString(),
      ...options.base,
      ...fields,
      level,
      event,
    });
  };
}

/**
 * Writes `{"ts":…,"level":…,"event":…,…}` lines to stderr, dropping events
 * below `minLevel`.
 *
 * @example
 * ```ts
 * import { jsonLineLogger } from "./logger.ts";
 *
 * const log = jsonLineLogger({ base: { node: "n1" } });
 * log("raft.becomeLeader", { level: "info", term: 2 });
 * // {"ts":"…","node":"n1","term":2,"level":"info","event":"raft.becomeLeader"}
 * ```
 */
export function jsonLineLogger(options: LineLoggerOptions = {}): Logger {
  const write = options.write ?? stderrWriter();
  return recordLogger(options, (r) => write(JSON.stringify(r)));
}

/**
 * Writes one readable line per event to stderr: time, node, level (colored
 * when `color`), event and message, then the fields as `key=value`.
 *
 * @example
 * ```ts
 * import { prettyLogger } from "./logger.ts";
 *
 * const log = prettyLogger({ base: { node: "n1" }, color: false });
 * log("raft.becomeLeader", { level: "info", term: 2 });
 * // 13:26:33.027 n1 INFO  raft.becomeLeader term=2
 * ```
 */
export function prettyLogger(
  options: LineLoggerOptions & { color?: boolean } = {},
): Logger {
  const write = options.write ?? stderrWriter();
  const color = options.color ?? false;
  return recordLogger(options, (r) => write(formatLogLine(r, { color })));
}

/**
 * The logger for a process writing to stderr in `format`: `auto` means
 * readable lines (colored unless `NO_COLOR`) when stderr is a terminal, and
 * JSON lines otherwise.
 *
 * @example
 * ```ts
 * import { createLogger } from "./logger.ts";
 *
 * const log = createLogger({ format: "auto", base: { node: "n1" } });
 * log("server.ready", { level: "info", http: "127.0.0.1:8001" });
 * ```
 */
export function createLogger(
  options: LineLoggerOptions & { format?: LogFormat } = {},
): Logger {
  const tty = Deno.stderr.isTerminal();
  return resolveLogFormat(options.format ?? "auto", tty) === "pretty"
    ? prettyLogger({ ...options, color: useColor(tty) })
    : jsonLineLogger(options);
}
