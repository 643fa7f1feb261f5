/**
 * The three-host example, run on one machine: the README's `openssl`
 * commands make the CA, the per-host certificates and the peer secret;
 * three raftd processes start with exactly the flags of the systemd unit,
 * filled in from n1.env..n3.env (the hosts' addresses mapped to loopback
 * ports, the credentials to the files the README installs); they must
 * elect a leader over authenticated TLS and serve HTTPS (checked with the
 * example's CA). Then the README's raftctl commands (root, auth on, a role
 * and a user for the application) run as written, on the mapped
 * addresses, and the application's write reads back.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  EXAMPLE,
  parseEnvFile,
  parseUnit,
  raftdFlags,
  ROOT,
  UNIT,
} from "./unit_files.ts";
import { reservePorts, sleep } from "../e2e/harness.ts";

/** The README's shell blocks. */
async function readmeBlocks(): Promise<string[]> {
  const readme = await Deno.readTextFile(`${EXAMPLE}/README.md`);
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** The README's shell block that makes the certificates and the secret. */
async function certificateScript(): Promise<string> {
  const readme = await Deno.readTextFile(`${EXAMPLE}/README.md`);
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  const script = blocks.find((b) => b.includes("openssl req -x509"));
  assert.ok(script, "the README has no openssl block");
  // Every host is 127.0.0.1 here.
  assert.ok(script.includes("IP:192.0.2.1$i"), "the SAN line changed");
  return script.replaceAll("IP:192.0.2.1$i", "IP:127.0.0.1");
}

const openssl = await new Deno.Command("openssl", {
  args: ["version"],
  stdout: "null",
  stderr: "null",
}).output().then((r) => r.success, () => false);
if (!openssl) {
  console.error("three_hosts_test: openssl is not installed; skipped");
}

Deno.test({
  name: openssl
    ? "three-host example: README certificates + unit flags + env files elect a leader over authenticated TLS; the README's raftctl steps turn auth on"
    : "three-host example: SKIPPED (openssl is not installed)",
  ignore: !openssl,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-3hosts-" });
  const children: Deno.ChildProcess[] = [];
  const logs: string[] = ["", "", ""];
  try {
    // 1. Certificates and the secret, as the README makes them.
    const made = await new Deno.Command("bash", {
      args: ["-euo", "pipefail", "-c", await certificateScript()],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    assert.equal((await Deno.stat(`${dir}/peer.secret`)).mode! & 0o777, 0o600);

    // 2. Each host's command line: the unit's ExecStart, its env file.
    const known = await raftdFlags();
    const exec = parseUnit(await Deno.readTextFile(UNIT)).get("Service")!
      .get("ExecStart")![0].split(/\s+/);
    const ports = reservePorts(6);
    const addr = (host: number, port: number) =>
      `127.0.0.1:${ports[(host - 1) * 2 + (port === 7001 ? 0 : 1)]}`;
    const toLoopback = (v: string) =>
      v.replace(/192\.0\.2\.1([123]):(7001|8001)/g, (_, h, p) => addr(+h, +p));
    // Each host serves HTTP on all its addresses: here, its own port.
    const httpPort = (host: number) => addr(host, 8001).split(":")[1];
    for (const i of [1, 2, 3]) {
      // The files the README installs under /etc/raftlock on host i.
      const creds = `${dir}/host${i}`;
      await Deno.mkdir(creds);
      for (
        const [to, from] of [
          ["ca.pem", "ca.pem"],
          ["peer.secret", "peer.secret"],
          ["node.pem", `n${i}.pem`],
          ["node-key.pem", `n${i}-key.pem`],
        ]
      ) await Deno.copyFile(`${dir}/${from}`, `${creds}/${to}`);
      const env = parseEnvFile(
        await Deno.readTextFile(`${EXAMPLE}/n${i}.env`),
      );
      const args: string[] = [];
      for (const word of exec.slice(1)) {
        const plain = word.match(/^\$([A-Z_]+)$/);
        if (plain) {
          // $VAR: split at spaces, nothing when empty.
          args.push(
            ...(env.get(plain[1]) ?? "").split(/\s+/).filter(Boolean).map(
              toLoopback,
            ),
          );
          continue;
        }
        args.push(
          toLoopback(
            word.replace(/\$\{([A-Z_]+)\}/g, (_, v) => env.get(v) ?? "")
              .replace(/^%d\//, `${creds}/`)
              .replace(/^\/var\/lib\/raftlock\//, `${dir}/state${i}/`),
          ),
        );
      }
      for (const flag of args.filter((a) => a.startsWith("--"))) {
        assert.ok(known.has(flag), `raftd has no ${flag}`);
      }
      const at = args.indexOf("--http");
      assert.equal(args[at + 1], "0.0.0.0:8001");
      args[at + 1] = `0.0.0.0:${httpPort(i)}`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}cli/raftd.ts`, ...args],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      children.push(child);
      (async () => {
        for await (
          const c of child.stderr.pipeThrough(new TextDecoderStream())
        ) {
          logs[i - 1] += c;
        }
      })();
    }

    // 3. A leader that all three agree on.
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)],
    });
    const scheme = "https";
    const deadline = Date.now() + 30_000;
    let leaders: (string | undefined)[] = [];
    while (Date.now() < deadline) {
      leaders = await Promise.all([1, 2, 3].map(async (i) => {
        try {
          const r = await fetch(`${scheme}://${addr(i, 8001)}/v1/status`, {
            client,
            signal: AbortSignal.timeout(1000),
          });
          return r.ok ? (await r.json()).leader || undefined : undefined;
        } catch {
          return undefined;
        }
      }));
      if (leaders[0] && leaders.every((l) => l === leaders[0])) break;
      await sleep(200);
    }
    client.close();
    assert.ok(
      leaders[0] && leaders.every((l) => l === leaders[0]),
      `no agreed leader: ${JSON.stringify(leaders)}\n${logs.join("\n")}`,
    );
    // The peers ran TLS with the secret.
    assert.match(
      logs[0],
      /"message":"Transport listening"[^\n]*"tls":true,"auth":true/,
    );

    // 4 and 5. The README's raftctl commands, as written: raftctl and the
    // files it names map to this checkout and this directory, the hosts'
    // addresses to the loopback ports.
    const steps = (await readmeBlocks()).filter((b) => /^raftctl /m.test(b));
    assert.equal(steps.length, 3, "the README's raftctl blocks changed");
    const script = [
      `raftctl() { "${Deno.execPath()}" run -A --quiet "${ROOT}cli/raftctl.ts" "$@"; }`,
      ...steps.map((b) =>
        toLoopback(b)
          .replaceAll("/etc/raftlock/ca.pem", `${dir}/ca.pem`)
          .replaceAll(
            "https://127.0.0.1:8001",
            `https://127.0.0.1:${httpPort(1)}`,
          )
      ),
    ].join("\n");
    const ran = await new Deno.Command("bash", {
      args: ["-euo", "pipefail", "-c", script],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(ran.stdout);
    assert.ok(
      ran.success,
      `${out}\n${new TextDecoder().decode(ran.stderr)}\n${logs.join("\n")}`,
    );
    // `raftctl status`: three members, one leader; the app's write.
    assert.match(out, /^ID\s+ADDRESS\s+ROLE/m);
    assert.equal((out.match(/\sleader\s/g) ?? []).length, 1, out);
    assert.match(out, /user app added with roles app-rw/);
    assert.match(out, /^on$/m);
  } finally {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(children.map((c) => c.status));
    await Deno.remove(dir, { recursive: true });
  }
});
