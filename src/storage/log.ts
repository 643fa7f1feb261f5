/**
 * Structured log lines from storage (recovery actions, cut tails, removed
 * files). One call per event; the default writes a JSON line to stderr.
 *
 * @module
 */

/** Receives one storage event with its fields. */
export type StorageLogger = (
  event: string,
  fields: Record<string, unknown>,
) => void;

/** Writes `{"level":"warn","component":"storage","event":...,...fields}` to stderr. */
export const defaultStorageLogger: StorageLogger = (event, fields) => {
  console.warn(
    JSON.stringify({ level: "warn", component: "storage", event, ...fields }),
  );
};
