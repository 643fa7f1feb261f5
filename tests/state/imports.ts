/** Re-exports for tests that also need the node's StateMachine interface. */
export type { StateMachine } from "../../src/node/state_machine.ts";
export {
  type Command,
  decodeCommand,
  encodeCommand,
  isInvalidCommand,
  validateCommand,
} from "../../src/state/mod.ts";
