/**
 * E2E: the network gate. A node whose API listens on the network
 * (`--http 0.0.0.0:PORT` over HTTPS, without `--insecure`) serves only its
 * own host and the cluster's members until auth is on. A client on another
 * host — here a network namespace joined to this one by a veth pair, so
 * the node sees a peer address that is neither loopback nor its own — gets
 * 403, but `/healthz`, `/readyz` and `/metrics` answer. From this host,
 * raftctl makes root and turns auth on; from then on the other host is
 * served with a token, and gets 401 without one.
 *
 * Needs root and `ip` (network namespaces); skipped, saying so, without.
 */

import assert from "node:assert/strict";
import { testCerts } from "../support/certs.ts";
import { ctlOk, PASSWORD, raftctl } from "./auth_support.ts";
import { E2E, http, RaftdProcess, reservePorts, sleep } from "./harness.ts";

async function run(cmd: string, ...args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

// Another "host": a namespace at 10.213.N.2 reaching this one at 10.213.N.1.
const suffix = Deno.pid % 250;
const NS = `rlgate${Deno.pid}`;
const HOST_IF = `rlg${Deno.pid}a`.slice(0, 15);
const NS_IF = `rlg${Deno.pid}b`.slice(0, 15);
const HOST_IP = `10.213.${suffix}.1`;
const NS_IP = `10.213.${suffix}.2`;

async function makeRemoteHost(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root: network namespaces need root";
  if (!await run("ip", "-V")) return "the `ip` command (iproute2) is missing";
  const steps: string[][] = [
    ["netns", "add", NS],
    ["link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF],
    ["link", "set", NS_IF, "netns", NS],
    ["addr", "add", `${HOST_IP}/30`, "dev", HOST_IF],
    ["link", "set", HOST_IF, "up"],
    ["netns", "exec", NS, "ip", "addr", "add", `${NS_IP}/30`, "dev", NS_IF],
    ["netns", "exec", NS, "ip", "link", "set", NS_IF, "up"],
    ["netns", "exec", NS, "ip", "link", "set", "lo", "up"],
  ];
  for (const s of steps) {
    if (!await run("ip", ...s)) {
      await removeRemoteHost();
      return `could not make a network namespace (ip ${s.join(" ")} failed)`;
    }
  }
  return undefined;
}

async function removeRemoteHost(): Promise<void> {
  await run("ip", "link", "del", HOST_IF);
  await run("ip", "netns", "del", NS);
}

const skip = await makeRemoteHost();
if (skip) console.error(`auth_gate_test: SKIPPED: ${skip}`);

/** An HTTPS request from the other host, with curl; answers status and body. */
async function remote(
  ca: string,
  url: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<{ status: number; body: unknown }> {
  const args = ["netns", "exec", NS, "curl", "-sS", "--cacert", ca];
  args.push("--max-time", "10", "-X", init.method ?? "GET");
  args.push("-w", "\n%{http_code}");
  if (init.token) args.push("-H", `Authorization: Bearer ${init.token}`);
  if (init.body !== undefined) {
    args.push("-H", "content-type: application/json");
    args.push("--data", JSON.stringify(init.body));
  }
  args.push(url);
  const out = await new Deno.Command("ip", { args, stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const i = text.lastIndexOf("\n");
  const status = Number(text.slice(i + 1));
  let body: unknown = text.slice(0, i);
  try {
    body = JSON.parse(body as string);
  } catch { /* not JSON (metrics) */ }
  return { status, body };
}

Deno.test({
  name: skip
    ? `e2e auth gate: SKIPPED (${skip})`
    : "e2e auth gate: a network-facing node answers 403 to another host until auth is on, then serves it with a token",
  ignore: skip !== undefined,
  ...E2E,
  fn: async () => {
    const certs = await testCerts();
    if (!certs) return;
    const [peerPort, httpPort] = reservePorts(2);
    const node = new RaftdProcess({
      id: "n1",
      listen: `127.0.0.1:${peerPort}`,
      http: `0.0.0.0:${httpPort}`,
      dataDir: `${certs.dir}/n1`,
      extraArgs: [],
    });
    let client: Deno.HttpClient | undefined;
    try {
      await certs.makeCa("ca");
      const cert = await certs.makeCert("node", "ca", [`IP:${HOST_IP}`]);
      node.config.extraArgs = [
        "--cert-file",
        cert.cert,
        "--key-file",
        cert.key,
        "--advertise-http",
        `${HOST_IP}:${httpPort}`,
      ];
      node.start();
      const ca = `${certs.dir}/ca.pem`;
      client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(ca)],
      });
      const local = `https://127.0.0.1:${httpPort}`;
      const far = `https://${HOST_IP}:${httpPort}`;
      const get = (url: string, token?: string) =>
        http(url, { client, token, timeoutMs: 5000 });
      // Up and leading (asked from this host).
      const deadline = Date.now() + 30_000;
      while ((await get(`${local}/readyz`)).status !== 200) {
        assert.ok(Date.now() < deadline, node.tail(20).join("\n"));
        await sleep(100);
      }

      // Before auth: the other host gets 403 but for the health routes.
      for (const path of ["/v1/kv/x", "/v1/status", "/v1/auth/status"]) {
        const r = await remote(ca, `${far}${path}`);
        assert.equal(r.status, 403, `${path}: ${JSON.stringify(r)}`);
        assert.match(JSON.stringify(r.body), /only clients on this host/);
      }
      const login = await remote(ca, `${far}/v1/auth/token`, {
        method: "POST",
        body: { user: "root", password: PASSWORD },
      });
      assert.equal(login.status, 403);
      for (const path of ["/healthz", "/readyz", "/metrics"]) {
        assert.equal((await remote(ca, `${far}${path}`)).status, 200, path);
      }
      // This host is served, by loopback and by its own network address.
      assert.equal((await get(`${local}/v1/auth/status`)).status, 200);
      assert.equal((await get(`${far}/v1/auth/status`)).status, 200);

      // raftctl from this host (discovery finds the network address, which
      // is this host's own): root, then auth on.
      const pw = `${certs.dir}/root.password`;
      await Deno.writeTextFile(pw, `${PASSWORD}\n`);
      const here = ["--endpoints", local, "--ca-file", ca];
      ctlOk(
        await raftctl([
          ...here,
          "user",
          "add",
          "root",
          "--new-password-file",
          pw,
          "--roles",
          "root",
        ]),
      );
      ctlOk(await raftctl([...here, "auth", "enable"]));

      // After: the other host is served with a token, 401 without.
      const noToken = await remote(ca, `${far}/v1/kv/x`);
      assert.equal(noToken.status, 401, JSON.stringify(noToken));
      const t = await remote(ca, `${far}/v1/auth/token`, {
        method: "POST",
        body: { user: "root", password: PASSWORD },
      });
      assert.equal(t.status, 200, JSON.stringify(t));
      const token = (t.body as { token: string }).token;
      const put = await remote(ca, `${far}/v1/kv/x`, {
        method: "PUT",
        body: { value: "from the network" },
        token,
      });
      assert.equal(put.status, 200, JSON.stringify(put));
      const read = await remote(ca, `${far}/v1/kv/x`, { token });
      assert.equal(
        (read.body as { value: string }).value,
        "from the network",
      );
      // raftctl on the other host, with credentials and discovery on.
      const there = [
        "--endpoints",
        far,
        "--ca-file",
        ca,
        "--user",
        "root",
        "--password-file",
        pw,
      ];
      assert.equal(
        ctlOk(await raftctl([...there, "kv", "get", "x"], {}, { netns: NS }))
          .trim(),
        "from the network",
      );
    } catch (e) {
      console.error(node.tail(40).join("\n"));
      throw e;
    } finally {
      client?.close();
      if (node.starts > 0) await node.kill("SIGKILL").catch(() => {});
      await certs.remove();
      await removeRemoteHost();
    }
  },
});

// A skipped or failed run leaves nothing behind either.
if (skip === undefined) {
  globalThis.addEventListener("unload", () => {
    new Deno.Command("ip", { args: ["link", "del", HOST_IF] }).outputSync();
    new Deno.Command("ip", { args: ["netns", "del", NS] }).outputSync();
  });
}
