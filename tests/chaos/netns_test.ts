/**
 * The namespace lab and its faults on the real kernel (root only): two
 * members reach each other through the switch, a one-way cut stops one
 * direction while the runner's link still works, the packet delayer adds
 * at least the delay asked for, and destroying the lab leaves nothing
 * behind. Without root or namespaces it is skipped, and says why.
 */

import assert from "node:assert/strict";
import { NetFaults } from "../../src/chaos/netem.ts";
import { NetnsLab, netnsSupport, sh } from "../../src/chaos/netns.ts";

const support = await netnsSupport();
if (!support.ok) {
  console.log(`SKIP tests/chaos/netns_test.ts: ${support.reason}`);
}

async function fetchFrom(
  lab: NetnsLab,
  member: string | undefined,
  url: string,
): Promise<{ ok: boolean; ms: number }> {
  const code = `const t=performance.now();try{const r=await fetch(${
    JSON.stringify(url)
  },{signal:AbortSignal.timeout(1500)});await r.text();console.log(JSON.stringify({ok:r.ok,ms:performance.now()-t}))}catch{console.log(JSON.stringify({ok:false,ms:performance.now()-t}))}`;
  const cmd = [Deno.execPath(), "eval", code];
  const out = await sh(member ? lab.wrap(member, cmd) : cmd);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

Deno.test({
  name: "netns: a lab's members meet through the switch, which cuts and delays",
  ignore: !support.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const lab = await NetnsLab.create([
      { name: "a", host: 11 },
      { name: "b", host: 12 },
    ]);
    let server: Deno.ChildProcess | undefined;
    try {
      const faults = await NetFaults.start(lab);
      assert.equal(faults.delayUnavailable, undefined);
      const b = lab.member("b").addr;
      const serve = `Deno.serve({hostname:${
        JSON.stringify(b)
      },port:8000,onListen(){console.log("up")}},()=>new Response("hi"))`;
      const argv = lab.wrap("b", [Deno.execPath(), "eval", serve]);
      server = new Deno.Command(argv[0], {
        args: argv.slice(1),
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = server.stdout.getReader();
      await reader.read(); // "up"
      reader.releaseLock();
      const url = `http://${b}:8000/`;
      assert.equal((await fetchFrom(lab, "a", url)).ok, true);
      assert.equal((await fetchFrom(lab, undefined, url)).ok, true);

      // a → b cut: a cannot reach b; the runner still can.
      await faults.apply([{ from: ["a"], to: ["b"], cut: "drop" }]);
      assert.equal((await fetchFrom(lab, "a", url)).ok, false);
      assert.equal((await fetchFrom(lab, undefined, url)).ok, true);

      // 150 ms on every packet from a to b: a request takes longer.
      await faults.apply([{ from: ["a"], to: ["b"], delayMs: 150 }]);
      const slow = await fetchFrom(lab, "a", url);
      assert.equal(slow.ok, true);
      assert.ok(slow.ms >= 150, `took ${slow.ms} ms`);
      assert.ok((await faults.stats()).delayed > 0);

      await faults.heal();
      assert.equal((await fetchFrom(lab, "a", url)).ok, true);
      await faults.stop();
    } finally {
      try {
        server?.kill("SIGKILL");
      } catch { /* gone */ }
      await server?.status;
      await lab.destroy();
    }
    const left = await sh(["ip", "netns", "list"]);
    assert.equal(left.includes(lab.prefix), false, left);
  },
});
