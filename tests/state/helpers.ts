/** Test helpers: a state machine fed commands at increasing log indexes. */

import {
  type Command,
  encodeCommand,
  type ResultFor,
  ServiceStateMachine,
  type ServiceStateMachineOptions,
} from "../../src/state/mod.ts";

/** A state machine plus the next log index to apply at. */
export class Harness {
  sm: ServiceStateMachine;
  index = 0;

  constructor(options?: ServiceStateMachineOptions) {
    this.sm = new ServiceStateMachine(options);
  }

  /** Applies `cmd` through the encoded path (as the node does). */
  run<C extends Command>(cmd: C): ResultFor<C["type"]> {
    this.index++;
    return this.sm.apply(encodeCommand(cmd), {
      index: this.index,
      term: 1,
    }) as ResultFor<C["type"]>;
  }

  /** Applies `cmd` and asserts it succeeded; returns the success shape. */
  ok<C extends Command>(
    cmd: C,
  ): Extract<ResultFor<C["type"]>, { ok: true }> {
    const r = this.run(cmd);
    if (!r.ok) {
      throw new Error(
        `Expected ${cmd.type} to succeed: ${JSON.stringify(r.error)}`,
      );
    }
    return r as unknown as Extract<ResultFor<C["type"]>, { ok: true }>;
  }

  /** Applies `cmd` and asserts it failed with `code`. */
  fails<C extends Command>(
    cmd: C,
    code: string,
  ): Extract<ResultFor<C["type"]>, { ok: false }> {
    const r = this.run(cmd);
    if (r.ok || r.error.code !== code) {
      throw new Error(
        `Expected ${cmd.type} to fail with ${code}: ${JSON.stringify(r)}`,
      );
    }
    return r as unknown as Extract<ResultFor<C["type"]>, { ok: false }>;
  }
}
