import assert from "node:assert/strict";
import { COMMANDS, GROUPS, main } from "../../cli/raftctl/mod.ts";
import { ALIASES, VALUE_FLAGS } from "../../cli/raftctl/registry.ts";

// Runs main() in-process and collects what it prints.
async function run(
  argv: string[],
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await main(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("raftctl registry: names and aliases are unique", () => {
  const names = COMMANDS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, names.join(", "));
  assert.equal(
    new Set(GROUPS.map((g) => g.name)).size,
    GROUPS.length,
  );
  for (const g of GROUPS) assert.ok(g.commands.length > 0, g.name);
  for (const alias of Object.keys(ALIASES)) {
    assert.ok(!names.includes(alias), `alias ${alias} shadows a command`);
  }
  assert.equal(ALIASES.state, "status");
});

Deno.test("raftctl registry: flags that take a value", () => {
  for (
    const f of [
      "--endpoints",
      "--timeout",
      "--ttl",
      "--lease",
      "--wait",
      "--limit",
      "--permits",
      "--value",
      "--grace",
    ]
  ) {
    assert.ok(VALUE_FLAGS.has(f), f);
  }
  // A switch in `kv del`, so the token after it may be a command word.
  assert.ok(!VALUE_FLAGS.has("--prefix"));
  assert.ok(!VALUE_FLAGS.has("--json"));
});

Deno.test("raftctl help lists every command in registry order", async () => {
  const { code, out } = await run(["--help"]);
  assert.equal(code, 0);
  const lines = out.split("\n");
  const from = lines.indexOf("Commands:") + 1;
  const listed = lines.slice(from, lines.indexOf("", from)).map((l) =>
    l.trim()
  );
  assert.equal(listed.length, COMMANDS.length);
  COMMANDS.forEach((c, i) => assert.ok(listed[i].startsWith(c.name), c.name));
});

Deno.test("raftctl help of a group and of an alias", async () => {
  const kv = await run(["kv", "--help"]);
  assert.equal(kv.code, 0);
  assert.match(kv.out, /^Usage: raftctl kv <command>$/m);
  assert.match(kv.out, /raftctl kv watch <key>/);
  assert.doesNotMatch(kv.out, /txn|lease grant/);
  const state = await run(["help", "state"]);
  assert.equal(state.code, 0);
  assert.match(state.out, /^Usage: raftctl status$/m);
  const unknown = await run(["members", "frob"]);
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.err,
    "raftctl: unknown command 'members frob'\nRun 'raftctl members --help' for help.",
  );
});
