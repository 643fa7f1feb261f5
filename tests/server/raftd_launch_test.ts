/**
 * Every way of starting `raftd` gives it the same runtime settings
 * (`RAFTD_V8_FLAGS`, `RAFTD_ENV`): the launchers built on `raftdArgs`,
 * deno.json's `start` and `compile:raftd` tasks, and the systemd unit.
 */
import assert from "node:assert/strict";
import {
  localMembers,
  RAFTD_ENV,
  RAFTD_V8_FLAGS,
  raftdArgs,
} from "../../src/server/raftd_args.ts";

const ROOT = new URL("../../", import.meta.url);
const v8Flag = `--v8-flags=${RAFTD_V8_FLAGS.join(",")}`;

async function tasks(): Promise<Record<string, string>> {
  const json = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  return json.tasks;
}

Deno.test("a cluster member is run with raftd's V8 flags before its script", () => {
  const members = localMembers(3, 7000, "/tmp/raftlock");
  const args = raftdArgs(members[0], members);
  const script = args.findIndex((a) => a.endsWith("cli/raftd.ts"));
  assert.ok(script > 0);
  // Deno reads --v8-flags only before the script; after it, raftd would see it.
  assert.ok(args.slice(0, script).includes(v8Flag));
  assert.ok(!args.slice(script).some((a) => a.startsWith("--v8-flags")));
});

Deno.test("deno task start runs raftd with its V8 flags and environment", async () => {
  const start = (await tasks()).start;
  const words = start.split(/\s+/);
  const run = words.indexOf("deno");
  for (const [name, value] of Object.entries(RAFTD_ENV)) {
    assert.ok(
      words.slice(0, run).includes(`${name}=${value}`),
      `start task lacks ${name}=${value}: ${start}`,
    );
  }
  const script = words.indexOf("cli/raftd.ts");
  assert.ok(script > run);
  assert.ok(words.slice(run, script).includes(v8Flag), start);
});

Deno.test("deno task compile:raftd bakes raftd's V8 flags into the binary", async () => {
  const compile = (await tasks())["compile:raftd"];
  const words = compile.split(/\s+/);
  assert.ok(
    words.slice(0, words.indexOf("cli/raftd.ts")).includes(v8Flag),
    compile,
  );
});

Deno.test("the systemd unit gives raftd its environment", async () => {
  const unit = await Deno.readTextFile(
    new URL("deploy/systemd/raftd.service", ROOT),
  );
  for (const [name, value] of Object.entries(RAFTD_ENV)) {
    assert.match(unit, new RegExp(`^Environment=${name}=${value}$`, "m"));
  }
});
