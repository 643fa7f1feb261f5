/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * What every page of the console shares: its shape (mounted into the main
 * element, returning what stops it), polling that stops with the page,
 * and how a failed read is shown (a 403 quietly, as "not permitted").
 *
 * @module
 */

import { ApiFailure } from "./api.ts";
import { h } from "./dom.ts";

/** A page of the console. */
export interface Page {
  /** Its id in the URL (`#/keys`). */
  id: string;
  /** Its title in the navigation. */
  title: string;
  /** Renders into `root`; returns what stops its timers and streams. */
  mount(root: HTMLElement): () => void;
}

/**
 * Runs `tick` now and then every `ms` (never two at once) until the
 * returned function is called.
 */
export function poll(tick: () => Promise<void>, ms: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    try {
      await tick();
    } catch (e) {
      console.error(e);
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * How a failed read shows in place of its data: "not permitted" for a
 * 403 (the token may not see it), the message otherwise.
 */
export function failure(e: unknown): HTMLElement {
  if (e instanceof ApiFailure && e.status === 403) {
    return h("p", { class: "denied" }, "Not permitted for this login");
  }
  return h("p", { class: "error" }, (e as Error).message);
}
