/**
 * raftd's safe defaults, run as a process: a non-loopback HTTP address
 * without TLS is refused (exit 2) unless `--insecure`, which then says
 * loudly what it exposes; HTTPS on a non-loopback address without client
 * auth starts with a warning; bad limit flags are refused.
 */

import assert from "node:assert/strict";
import { testCerts } from "../support/certs.ts";

const RAFTD = new URL("../../cli/raftd.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

function command(dir: string, args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      CONFIG,
      RAFTD,
      "--data-dir",
      `${dir}/data`,
      "--listen",
      "127.0.0.1:0",
      ...args,
    ],
    env: { NO_COLOR: "1", RAFTLOCK_PEER_SECRET_FILE: "" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
}

/**
 * Starts raftd, reads its stderr until it logs `until` (default: the node
 * is ready), stops it with SIGTERM; answers everything it wrote and its
 * exit code.
 */
async function startAndStop(
  dir: string,
  args: string[],
  until = "server.ready",
): Promise<{ code: number; err: string }> {
  const p = command(dir, args).spawn();
  const dec = new TextDecoder();
  let err = "";
  const reader = p.stderr.getReader();
  const deadline = setTimeout(() => p.kill("SIGKILL"), 60_000);
  try {
    while (!err.includes(`"event":"${until}"`)) {
      const { value, done } = await reader.read();
      if (done) break;
      err += dec.decode(value);
    }
    p.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      err += dec.decode(value);
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
  const status = await p.status;
  return { code: status.code, err };
}

Deno.test("raftd refuses a non-loopback HTTP address without TLS, and bad limits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-flags-" });
  try {
    const cases: [string[], RegExp][] = [
      [
        ["--http", "0.0.0.0:0"],
        /--http 0\.0\.0\.0:0 is not a loopback address: give --cert-file and --key-file.*or --insecure/s,
      ],
      [
        ["--http", "10.1.2.3:8001"],
        /not a loopback address/,
      ],
      [["--cert-file", `${dir}/c.pem`], /both --cert-file and --key-file/],
      [["--key-file", `${dir}/k.pem`], /both --cert-file and --key-file/],
      [["--max-connections", "0"], /--max-connections takes a positive/],
      [
        ["--http-header-timeout-ms", "soon"],
        /--http-header-timeout-ms takes a positive/,
      ],
      [
        ["--http-idle-timeout-ms=0"],
        /--http-idle-timeout-ms takes a positive/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const out = await command(dir, args).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, `${args.join(" ")}: ${err}`);
      assert.match(err, pattern);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("raftd --insecure starts on a non-loopback address and says what that exposes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-flags-" });
  try {
    const r = await startAndStop(dir, [
      "--http",
      "0.0.0.0:0",
      "--advertise-http",
      "127.0.0.1:1",
      "--insecure",
    ], "server.authOff");
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /WARNING: running with --insecure/);
    assert.match(r.err, /served without TLS/);
    assert.match(r.err, /asks no one who they are/);
    // The peer address is loopback: nothing said about peers.
    assert.doesNotMatch(r.err, /peers on .* are not authenticated/);
    assert.match(r.err, /"event":"server.authOff"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("raftd over HTTPS on a non-loopback address warns that client auth is off", async () => {
  const certs = await testCerts();
  if (certs === undefined) return;
  const dir = await Deno.makeTempDir({ prefix: "raftlock-flags-" });
  try {
    await certs.makeCa("ca");
    const node = await certs.makeCert("node", "ca");
    const r = await startAndStop(dir, [
      "--http",
      "0.0.0.0:0",
      "--advertise-http",
      "127.0.0.1:1",
      "--cert-file",
      node.cert,
      "--key-file",
      node.key,
    ], "server.authOff");
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /--insecure/);
    const warn = r.err.split("\n").find((l) => l.includes("server.authOff"));
    assert.ok(warn, r.err);
    assert.match(warn, /"level":"warn"/);
    assert.match(warn, /client authentication is off/);
    assert.match(warn, /https:\/\//);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await certs.remove();
  }
});
