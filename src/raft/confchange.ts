/**
 * Membership changes: validating one change against a configuration,
 * computing the configuration that results, and the entry encoding.
 *
 * A configuration-change entry carries the change and the configuration
 * that results, so the configuration at any index is known from the entry
 * alone. JSON keeps the core free of codec dependencies; changes are rare.
 *
 * @module
 */

import type {
  ConfChange,
  ConfChangeRecord,
  ConfState,
  NodeId,
} from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a configuration-change record as entry data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeConfChange, encodeConfChange } from "./confchange.ts";
 *
 * const record = {
 *   change: { type: "addLearner" as const, node: "n4" },
 *   conf: { voters: ["n1", "n2", "n3"], learners: ["n4"] },
 * };
 * assert.deepEqual(decodeConfChange(encodeConfChange(record)), record);
 * ```
 */
export function encodeConfChange(record: ConfChangeRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/**
 * Decodes entry data written by {@linkcode encodeConfChange}.
 *
 * @throws {Error} when the data is not a configuration-change record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeConfChange } from "./confchange.ts";
 *
 * const data = new TextEncoder().encode(JSON.stringify({
 *   change: { type: "remove", node: "n3" },
 *   conf: { voters: ["n1", "n2"], learners: [] },
 * }));
 * assert.deepEqual(decodeConfChange(data).conf.voters, ["n1", "n2"]);
 * assert.throws(() => decodeConfChange(new TextEncoder().encode("{}")));
 * ```
 */
export function decodeConfChange(data: Uint8Array): ConfChangeRecord {
  const r = JSON.parse(decoder.decode(data)) as ConfChangeRecord;
  if (
    !r || typeof r !== "object" || !r.conf || !Array.isArray(r.conf.voters) ||
    !Array.isArray(r.conf.learners)
  ) {
    throw new Error("Configuration change entry is malformed");
  }
  return r;
}

/**
 * The configuration after applying `change` to `conf`, or an error message
 * explaining why the change is not allowed.
 */
export function applyConfChange(
  conf: ConfState,
  change: ConfChange,
): ConfState | string {
  const voters = new Set<NodeId>(conf.voters);
  const learners = new Set<NodeId>(conf.learners);
  const id = change.node;
  if (typeof id !== "string" || id === "") {
    return "Configuration change needs a node id";
  }
  switch (change.type) {
    case "addVoter":
      if (voters.has(id)) return `Node ${id} is already a voter`;
      if (learners.has(id)) {
        return `Node ${id} is a learner; promote it instead of adding it`;
      }
      voters.add(id);
      break;
    case "addLearner":
      if (voters.has(id)) return `Node ${id} is already a voter`;
      if (learners.has(id)) return `Node ${id} is already a learner`;
      learners.add(id);
      break;
    case "promote":
      if (!learners.has(id)) {
        return `Node ${id} is not a learner; add it as a learner first`;
      }
      learners.delete(id);
      voters.add(id);
      break;
    case "remove":
      if (!voters.has(id) && !learners.has(id)) {
        return `Node ${id} is not a member`;
      }
      if (voters.has(id) && voters.size === 1) {
        return `Node ${id} is the last voter and cannot be removed`;
      }
      voters.delete(id);
      learners.delete(id);
      break;
    default:
      return `Unknown configuration change type ${
        String((change as { type: unknown }).type)
      }`;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}
