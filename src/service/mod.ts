/**
 * The lock, lease and config service on one node, its leader elections,
 * semaphores and read-write locks (`recipesOf(service)`), and its error
 * type.
 *
 * @example
 * ```ts
 * import { type LockService, ServiceError } from "./mod.ts";
 *
 * // Turns a feature on unless someone changed it since revision `seen`.
 * async function enable(service: LockService, seen: number): Promise<boolean> {
 *   try {
 *     await service.put({ key: "app/mode", value: "on", ifModRevision: seen });
 *     return true;
 *   } catch (e) {
 *     if (e instanceof ServiceError && e.code === "conflict") return false;
 *     throw e;
 *   }
 * }
 * ```
 *
 * @module
 */

export * from "./service.ts";
export * from "./errors.ts";
export * from "./recipes.ts";
export * from "./watch_feed.ts";
