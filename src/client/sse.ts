/**
 * A small `text/event-stream` parser (the WHATWG Server-Sent Events format):
 * `event:`, `data:`, `id:` and `retry:` fields, `:` comments, messages
 * separated by a blank line, and any of CRLF, LF or CR as line ends.
 *
 * @module
 */

/** One dispatched Server-Sent Event. */
export interface SseMessage {
  /** The event type (`message` when none was given). */
  event: string;
  /** The data lines joined with `\n`. */
  data: string;
  /** The `id:` of this message, if it had one. */
  id?: string;
  /** A `retry:` value in ms, if it had one. */
  retry?: number;
}

/**
 * An incremental parser: feed it text as it arrives with
 * {@linkcode SseParser.push}; it returns the messages completed so far.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SseParser } from "./sse.ts";
 *
 * const parser = new SseParser();
 * assert.deepEqual(parser.push("event: put\ndata: {\"rev\":7}\n"), []);
 * const [message] = parser.push("\n"); // a blank line ends the message
 * assert.equal(message.event, "put");
 * assert.equal(message.data, '{"rev":7}');
 * ```
 */
export class SseParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #id: string | undefined;
  #retry: number | undefined;
  #sawCr = false;

  /** Parses more text; returns every message it completed. */
  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    // A CR at the end of the previous chunk may be half of a CRLF.
    if (this.#sawCr && text.startsWith("\n")) text = text.slice(1);
    this.#sawCr = false;
    this.#buffer += text;
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const ch = this.#buffer.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      const line = this.#buffer.slice(start, i);
      if (ch === 13) {
        if (i + 1 < this.#buffer.length) {
          if (this.#buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#sawCr = true;
        }
      }
      start = i + 1;
      const m = this.#line(line);
      if (m) out.push(m);
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    const hadData = this.#data.length > 0;
    const m: SseMessage = {
      event: this.#event || "message",
      data: this.#data.join("\n"),
    };
    if (this.#id !== undefined) m.id = this.#id;
    if (this.#retry !== undefined) m.retry = this.#retry;
    this.#event = "";
    this.#data = [];
    this.#id = undefined;
    this.#retry = undefined;
    return hadData ? m : undefined;
  }
}
