/**
 * The readable form of a log record, for people at a terminal: one line of
 * time, node, level, event (and its human message), then the other fields
 * as `key=value`. The JSON line form stays the one for machines; both are
 * made from the same record (see `logger.ts`).
 *
 * ```text
 * 13:26:33.027 n1 INFO  raft.becomeLeader term=2 lead=n1
 * 13:26:33.412 n2 WARN  transport: Peer unreachable peer=n3 error="Connection refused"
 * ```
 *
 * @module
 */

/** How log events are written: readable lines, JSON lines, or chosen by the output. */
export type LogFormat = "pretty" | "json" | "auto";

/** The accepted values of `--log-format`. */
export const LOG_FORMATS: readonly LogFormat[] = ["pretty", "json", "auto"];

/**
 * Resolves `auto`: readable lines when the output is a terminal, JSON lines
 * when it is a pipe or a file (journald, a log shipper, `jq`).
 *
 * @example
 * ```ts
 * import { resolveLogFormat } from "./log_format.ts";
 *
 * resolveLogFormat("auto", Deno.stderr.isTerminal()); // "pretty" at a terminal
 * resolveLogFormat("json", true); // "json"
 * ```
 */
export function resolveLogFormat(
  format: LogFormat,
  isTerminal: boolean,
): "pretty" | "json" {
  if (format === "auto") return isTerminal ? "pretty" : "json";
  return format;
}

/**
 * Whether to color output written to a terminal: not when `NO_COLOR` is set
 * to anything but the empty string (https://no-color.org), nor when the
 * output is not a terminal.
 */
export function useColor(isTerminal: boolean): boolean {
  if (!isTerminal) return false;
  let noColor: string | undefined;
  try {
    noColor = Deno.env.get("NO_COLOR");
  } catch {
    // No env permission: fall back to Deno's own reading of NO_COLOR.
    return !Deno.noColor;
  }
  return noColor === undefined || noColor === "";
}

/** ANSI color codes of the levels: debug grey, info green, warn yellow, error red. */
const LEVEL_COLORS: Record<string, string> = {
  debug: "90",
  info: "32",
  warn: "33",
  error: "31",
};

/**
 * Colors for node ids in a merged view of several nodes (`deno task
 * cluster`), chosen to stay apart from the level colors.
 */
export const NODE_COLORS: readonly string[] = [
  "36", // cyan
  "35", // magenta
  "34", // blue
  "96", // bright cyan
  "95", // bright magenta
  "94", // bright blue
  "37", // white
  "93", // bright yellow
  "92", // bright green
];

/** Fields shown in the fixed columns, not among the `key=value` pairs. */
const COLUMNS = new Set(["ts", "time", "level", "event", "node", "msg"]);

/** Options of {@linkcode formatLogLine}. */
export interface FormatOptions {
  /** Emit ANSI colors. Default false. */
  color?: boolean;
  /** Pad the node id to this width, so merged lines of several nodes align. */
  nodeWidth?: number;
  /** ANSI color code for the node id (e.g. one of {@linkcode NODE_COLORS}); default bold. */
  nodeColor?: string;
}

function paint(on: boolean, code: string, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function two(n: number): string {
  return String(n).padStart(2, "0");
}

/** `HH:MM:SS.mmm` in local time, or the text as given if it is no date. */
export function clockTime(ts: unknown): string {
  const d = new Date(typeof ts === "string" || typeof ts === "number" ? ts : 0);
  if (ts === undefined || Number.isNaN(d.getTime())) return "--:--:--.---";
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${
    String(d.getMilliseconds()).padStart(3, "0")
  }`;
}

/**
 * One field value as text: plain when it has no space, quote or `=`;
 * otherwise JSON (strings quoted, objects and arrays compact).
 */
export function fieldValue(v: unknown): string {
  if (typeof v === "string") {
    return v !== "" && /^[^\s"=\\\p{Cc}]+$/u.test(v) ? v : JSON.stringify(v);
  }
  if (v === undefined || v === null || typeof v === "number") return String(v);
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  try {
    return JSON.stringify(v, (_k, x) => typeof x === "bigint" ? String(x) : x);
  } catch {
    return JSON.stringify(String(v));
  }
}

/**
 * Formats one log record (the object a JSON log line holds) as one
 * readable line: time, node, level, event and its human message (`msg` or
 * `message`), then the remaining fields as `key=value`, in their order.
 *
 * @example
 * ```ts
 * import { formatLogLine } from "./log_format.ts";
 *
 * const line = formatLogLine({
 *   ts: "2026-12-02T13:26:33.027Z",
 *   node: "n1",
 *   level: "info",
 *   event: "raft.becomeLeader",
 *   term: 2,
 * });
 * // "13:26:33.027 n1 INFO  raft.becomeLeader term=2" (the time in local time)
 * ```
 */
export function formatLogLine(
  record: Record<string, unknown>,
  options: FormatOptions = {},
): string {
  const color = options.color ?? false;
  const level = typeof record.level === "string" ? record.level : "info";
  const node = record.node === undefined ? "" : String(record.node);
  const event = record.event === undefined ? "" : String(record.event);
  // The transport's events carry their sentence as `message`; others `msg`.
  const human = typeof record.msg === "string"
    ? record.msg
    : typeof record.message === "string"
    ? record.message
    : undefined;
  const parts = [
    paint(color, "2", clockTime(record.ts ?? record.time)),
  ];
  if (node || options.nodeWidth) {
    parts.push(
      paint(
        color,
        options.nodeColor ?? "1",
        node.padEnd(options.nodeWidth ?? 0),
      ),
    );
  }
  parts.push(
    paint(color, LEVEL_COLORS[level] ?? "0", level.toUpperCase().padEnd(5)),
  );
  let text = paint(color, "1", event);
  if (human !== undefined) text += event ? `: ${human}` : human;
  parts.push(text);
  for (const [k, v] of Object.entries(record)) {
    if (COLUMNS.has(k)) continue;
    if (k === "message" && human === record.message) continue;
    // Raft events repeat the node's id.
    if (k === "id" && node && v === node) continue;
    parts.push(`${paint(color, "2", `${k}=`)}${fieldValue(v)}`);
  }
  return parts.join(" ");
}

/**
 * Formats one line that a node wrote to its stderr, for a merged view of
 * several nodes: a JSON log record becomes a readable line (see
 * {@linkcode formatLogLine}); anything else (a crash, a usage error) is
 * kept as it is behind a blank time column and the node column, so its
 * origin stays clear.
 *
 * @example
 * ```ts
 * import { formatNodeLine } from "./log_format.ts";
 *
 * formatNodeLine('{"ts":"2026-12-02T13:26:33.027Z","level":"info","event":"raft.campaign","term":1}', "n1");
 * // "13:26:33.027 n1 INFO  raft.campaign term=1"
 * formatNodeLine("raftd: could not start: disk full", "n2");
 * // "             n2 raftd: could not start: disk full"
 * ```
 */
export function formatNodeLine(
  line: string,
  node: string,
  options: FormatOptions = {},
): string {
  if (line.startsWith("{")) {
    try {
      const record = JSON.parse(line);
      if (record && typeof record === "object" && !Array.isArray(record)) {
        return formatLogLine({ node, ...record }, options);
      }
    } catch { /* not a log record: shown as it is */ }
  }
  const column = paint(
    options.color ?? false,
    options.nodeColor ?? "1",
    node.padEnd(options.nodeWidth ?? 0),
  );
  return `${" ".repeat(12)} ${column} ${line}`;
}
