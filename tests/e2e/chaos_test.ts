/**
 * A short chaos run against real raftd processes (the CI version of
 * `deno task chaos`): kills and pauses under concurrent register traffic,
 * then the history must be linearizable.
 */

import assert from "node:assert/strict";
import { E2E } from "./harness.ts";

Deno.test({
  name:
    "e2e: a 20 s chaos run (kill -9, SIGSTOP) keeps register and lock histories linearizable",
  ...E2E,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "raftlock-chaos-test-" });
    try {
      const cli = new URL("../../cli/chaos.ts", import.meta.url).pathname;
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          cli,
          "--time",
          "20",
          "--seed",
          "11",
          "--base-port",
          "17600",
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(r.stdout) +
        new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 0, text.slice(-3000));
      const summary = JSON.parse(
        await Deno.readTextFile(`${out}/summary.json`),
      );
      assert.equal(summary.registers, "ok", text.slice(-3000));
      assert.equal(summary.locks, "ok", text.slice(-3000));
      assert.ok(
        summary.operations.ok > 1000,
        `only ${summary.operations.ok} ok operations`,
      );
      const faults = Object.values(summary.faults as Record<string, number>)
        .reduce((a, b) => a + b, 0);
      assert.ok(faults >= 3, `only ${faults} faults injected`);
      assert.ok((await Deno.stat(`${out}/history.jsonl`)).size > 0);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
