/**
 * History files: one JSON event per line (JSON Lines).
 *
 * ```
 * {"type":"invoke","id":0,"client":"c1","time":10,"op":{"f":"write","key":"x","value":"5"}}
 * {"type":"ok","id":0,"client":"c1","time":12}
 * {"type":"invoke","id":1,"client":"c2","time":11,"op":{"f":"read","key":"x"}}
 * {"type":"info","id":1,"client":"c2","time":5011,"error":"timeout"}
 * ```
 *
 * @module
 */

import type { ClientId, History, HistoryEvent, Op } from "./history.ts";

/** Writes a history as JSON Lines (one event per line, final newline). */
export function stringifyHistory(history: History): string {
  let out = "";
  for (const e of history) out += JSON.stringify(e) + "\n";
  return out;
}

/**
 * Reads a JSON Lines history. Blank lines are skipped; a malformed line
 * throws an error naming its line number.
 */
export function parseHistory(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw new SyntaxError(
        `History line ${i + 1} is not JSON: ${(e as Error).message}`,
      );
    }
    events.push(parseEvent(raw, i + 1));
  }
  return events;
}

/** Validates one decoded event; `line` names it in errors. */
export function parseEvent(raw: unknown, line = 0): HistoryEvent {
  const where = line > 0 ? `History line ${line}` : "History event";
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new TypeError(`${where} is not an object`);
  }
  const r = raw as Record<string, unknown>;
  const type = r.type;
  if (
    type !== "invoke" && type !== "ok" && type !== "fail" && type !== "info"
  ) {
    throw new TypeError(
      `${where} has type ${
        JSON.stringify(type)
      }; expected invoke, ok, fail or info`,
    );
  }
  if (typeof r.id !== "number" || !Number.isFinite(r.id)) {
    throw new TypeError(`${where} needs a numeric id`);
  }
  if (typeof r.client !== "string" && typeof r.client !== "number") {
    throw new TypeError(`${where} needs a string or numeric client`);
  }
  if (typeof r.time !== "number" || !Number.isFinite(r.time)) {
    throw new TypeError(`${where} needs a finite numeric time`);
  }
  const client: ClientId = r.client;
  let op: Op | undefined;
  if (r.op !== undefined) op = parseOp(r.op, where);
  if (type === "invoke") {
    if (op === undefined) throw new TypeError(`${where} invokes no op`);
    return { type, id: r.id, client, time: r.time, op };
  }
  const event: HistoryEvent = { type, id: r.id, client, time: r.time };
  if (op !== undefined) event.op = op;
  if (type === "ok") {
    if ("result" in r && r.result !== undefined) {
      (event as { result?: unknown }).result = r.result;
    }
  } else if ("error" in r && r.error !== undefined) {
    (event as { error?: unknown }).error = r.error;
  }
  return event;
}

function parseOp(raw: unknown, where: string): Op {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new TypeError(`${where} has an op that is not an object`);
  }
  const op = raw as Record<string, unknown>;
  if (typeof op.f !== "string") {
    throw new TypeError(`${where} has an op without a string f`);
  }
  if (op.key !== undefined && typeof op.key !== "string") {
    throw new TypeError(`${where} has an op whose key is not a string`);
  }
  if (op.lock !== undefined && typeof op.lock !== "string") {
    throw new TypeError(`${where} has an op whose lock is not a string`);
  }
  if (op.token !== undefined && typeof op.token !== "number") {
    throw new TypeError(`${where} has an op whose token is not a number`);
  }
  return op as Op;
}
