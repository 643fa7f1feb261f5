/**
 * The API's JSON shapes, as the client sees them: re-exported from the wire
 * contract (`src/wire/`), which both the client and the server use.
 *
 * @module
 */

export type * from "../wire/types.ts";
