/**
 * raftctl asks for the password at a terminal: run under `script` (a
 * pseudo-terminal), `raftctl --user root auth token` prompts, reads the
 * typed password without echoing it, logs in and prints a token. Skipped,
 * saying so, where `script` is not installed.
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { startServer } from "../../src/server/server.ts";

const SCRIPT = new URL("../../cli/raftctl.ts", import.meta.url).pathname;
const PASSWORD = "typed-password-1";

const hasScript = await new Deno.Command("script", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
}).output().then((r) => r.success, () => false);
if (!hasScript) {
  console.error("raftctl_prompt_test: SKIPPED: `script` is not installed");
}

Deno.test({
  name: hasScript
    ? "raftctl: --user without a password file prompts at a terminal"
    : "raftctl: prompt at a terminal SKIPPED (`script` is not installed)",
  ignore: !hasScript,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-prompt-" });
  const server = await startServer({
    id: "n1",
    dataDir: dir,
    listen: "127.0.0.1:0",
    http: "127.0.0.1:0",
  });
  try {
    await server.node.waitForLeader(5000);
    const url = `http://${server.httpAddress}`;
    {
      await using c = new Client({ endpoints: [url] });
      await c.auth.putUser("root", { password: PASSWORD, roles: ["root"] });
      await c.auth.enable();
    }
    const command = [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      SCRIPT,
      "--endpoints",
      url,
      "--user",
      "root",
      "auth",
      "token",
    ].join(" ");
    const p = new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", RAFTLOCK_ENDPOINTS: "" },
    }).spawn();
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(`${PASSWORD}\r`));
    await w.close();
    const out = await p.output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
    assert.match(text, /Password for root: /);
    assert.match(text, /^[\w-]+\.[\w-]+\.[\w-]+\r?$/m);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
