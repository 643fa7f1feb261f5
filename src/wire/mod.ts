/**
 * The wire contract: the JSON shapes of the HTTP API, defined once and
 * shared by the client and the server. Types only; imports nothing.
 *
 * @example
 * ```ts
 * import type { KeyValue } from "./mod.ts";
 *
 * const kv: KeyValue = {
 *   key: "app/feature",
 *   value: "on",
 *   createRevision: 2,
 *   modRevision: 2,
 *   version: 1,
 * };
 * ```
 *
 * @module
 */

export type * from "./types.ts";
