/**
 * E2E: the network gate. A node whose API listens on the network
 * (`--http 0.0.0.0:PORT` over HTTPS, without `--insecure`) serves only
 * clients on its own host until auth is on: a request that arrives from a
 * non-loopback address (this machine's own network address, so the node
 * sees a non-loopback peer) gets 403, but `/healthz`, `/readyz` and
 * `/metrics` answer. From loopback, raftctl (with `--no-discover`: the
 * member list names the network address) makes root and turns auth on;
 * from then on network clients are served with a token, and 401 without.
 *
 * Skipped, saying so, on a machine with no non-loopback IPv4 address.
 */

import assert from "node:assert/strict";
import { testCerts } from "../support/certs.ts";
import { ctlOk, PASSWORD, raftctl } from "./auth_support.ts";
import { E2E, http, RaftdProcess, reservePorts, sleep } from "./harness.ts";

const ip = Deno.networkInterfaces().find((i) =>
  i.family === "IPv4" && !i.address.startsWith("127.")
)?.address;
if (!ip) {
  console.error(
    "auth_gate_test: SKIPPED: this machine has no non-loopback IPv4 address, so no request can reach a node from the network",
  );
}

Deno.test({
  name: ip
    ? `e2e auth gate: a network-facing node answers 403 to ${ip} until auth is on, then serves it with a token`
    : "e2e auth gate: SKIPPED (no non-loopback IPv4 address on this machine)",
  ignore: !ip,
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
      const cert = await certs.makeCert("node", "ca", [`IP:${ip}`]);
      node.config.extraArgs = [
        "--cert-file",
        cert.cert,
        "--key-file",
        cert.key,
        "--advertise-http",
        `${ip}:${httpPort}`,
      ];
      node.start();
      client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(`${certs.dir}/ca.pem`)],
      });
      const local = `https://127.0.0.1:${httpPort}`;
      const remote = `https://${ip}:${httpPort}`;
      const get = (url: string, token?: string) =>
        http(url, { client, token, timeoutMs: 5000 });
      // Up and leading (asked from loopback).
      const deadline = Date.now() + 30_000;
      while ((await get(`${local}/readyz`)).status !== 200) {
        assert.ok(Date.now() < deadline, node.tail(20).join("\n"));
        await sleep(100);
      }

      // Before auth: the network gets 403 but for the health routes.
      for (const path of ["/v1/kv/x", "/v1/status", "/v1/auth/status"]) {
        const r = await get(`${remote}${path}`);
        assert.equal(r.status, 403, `${path}: ${JSON.stringify(r)}`);
        assert.match(JSON.stringify(r.body), /only clients on this host/);
      }
      const login = await http(`${remote}/v1/auth/token`, {
        method: "POST",
        body: { user: "root", password: PASSWORD },
        client,
      });
      assert.equal(login.status, 403);
      for (const path of ["/healthz", "/readyz", "/metrics"]) {
        assert.equal((await get(`${remote}${path}`)).status, 200, path);
      }
      // Loopback is served.
      assert.equal((await get(`${local}/v1/auth/status`)).status, 200);

      // raftctl from this host: with discovery it would follow the member
      // list to the network address, and be refused.
      const ca = ["--endpoints", local, "--ca-file", `${certs.dir}/ca.pem`];
      const pw = `${certs.dir}/root.password`;
      await Deno.writeTextFile(pw, `${PASSWORD}\n`);
      const add = [
        "user",
        "add",
        "root",
        "--new-password-file",
        pw,
        "--roles",
        "root",
      ];
      const followed = await raftctl([...ca, ...add]);
      assert.equal(followed.code, 1);
      assert.match(followed.stderr, /only clients on this host/);
      ctlOk(await raftctl([...ca, "--no-discover", ...add]));
      ctlOk(await raftctl([...ca, "--no-discover", "auth", "enable"]));

      // After: the network is served with a token, 401 without.
      const noToken = await get(`${remote}/v1/kv/x`);
      assert.equal(noToken.status, 401, JSON.stringify(noToken));
      const t = await http<{ token: string }>(`${remote}/v1/auth/token`, {
        method: "POST",
        body: { user: "root", password: PASSWORD },
        client,
        timeoutMs: 10_000,
      });
      assert.equal(t.status, 200, JSON.stringify(t));
      const put = await http(`${remote}/v1/kv/x`, {
        method: "PUT",
        body: { value: "from the network" },
        token: t.body.token,
        client,
      });
      assert.equal(put.status, 200, JSON.stringify(put));
      const read = await get(`${remote}/v1/kv/x`, t.body.token);
      assert.equal(read.body.value, "from the network");
      assert.equal((await get(`${remote}/healthz`)).status, 200);
      // raftctl from "the network" with credentials, discovery on.
      const remoteCtl = [
        "--endpoints",
        remote,
        "--ca-file",
        `${certs.dir}/ca.pem`,
        "--user",
        "root",
        "--password-file",
        pw,
      ];
      assert.equal(
        ctlOk(await raftctl([...remoteCtl, "kv", "get", "x"])).trim(),
        "from the network",
      );
    } catch (e) {
      console.error(node.tail(40).join("\n"));
      throw e;
    } finally {
      client?.close();
      if (node.starts > 0) await node.kill("SIGKILL").catch(() => {});
      await certs.remove();
    }
  },
});
