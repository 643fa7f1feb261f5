/**
 * The lock, lease and config service on one node, and its error type.
 *
 * @example
 * ```ts ignore
 * import { LockService } from "./mod.ts";
 *
 * const service = new LockService({ node, state });
 * await service.put({ key: "app/mode", value: "on" });
 * ```
 *
 * @module
 */

export * from "./service.ts";
export * from "./errors.ts";
