/**
 * The HTTP API over TLS: nodes serve HTTPS with a certificate from a CA
 * made at run time; a node joins another over HTTPS; a follower forwards
 * to the leader over HTTPS; the typed client (`caFile`) and raftctl
 * (`--ca-file`, `RAFTLOCK_CA_FILE`) trust the CA, and without it the
 * certificate is refused.
 */

import assert from "node:assert/strict";
import { Client, RaftlockError } from "../../src/client/mod.ts";
import { type Server, startServer } from "../../src/server/server.ts";
import { testCerts } from "../support/certs.ts";

const RAFTCTL = new URL("../../cli/raftctl.ts", import.meta.url).pathname;

async function raftctl(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", RAFTCTL, ...args],
    stdout: "piped",
    stderr: "piped",
    env: {
      NO_COLOR: "1",
      RAFTLOCK_ENDPOINTS: "",
      RAFTLOCK_CA_FILE: "",
      ...env,
    },
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  deadlineMs = 20_000,
): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!await cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("HTTPS: join, forwarding, the client and raftctl with the CA", async (t) => {
  const certs = await testCerts();
  if (certs === undefined) return;
  const dir = await Deno.makeTempDir({ prefix: "raftlock-tls-server-" });
  const servers: Server[] = [];
  try {
    const ca = await certs.makeCa("ca");
    const node = await certs.makeCert("node", "ca");
    await certs.makeCa("other");
    const httpTls = { certFile: node.cert, keyFile: node.key };
    const n1 = await startServer({
      id: "n1",
      dataDir: `${dir}/n1`,
      listen: "127.0.0.1:0",
      http: "127.0.0.1:0",
      httpTls,
      httpCaFile: ca.cert,
    });
    servers.push(n1);
    assert.equal(n1.httpScheme, "https");
    await waitFor(() => n1.node.isLeader, "n1 to lead");
    const n2 = await startServer({
      id: "n2",
      dataDir: `${dir}/n2`,
      listen: "127.0.0.1:0",
      http: "127.0.0.1:0",
      httpTls,
      httpCaFile: ca.cert,
      join: `https://${n1.httpAddress}`,
    });
    servers.push(n2);

    await t.step("a node joins over HTTPS", async () => {
      await waitFor(
        () =>
          n1.node.status().members.find((m) => m.id === "n2")?.role ===
            "voter",
        "n2 to become a voter",
      );
      await waitFor(() => n2.node.leader === "n1", "n2 to know the leader");
    });

    await t.step("a follower forwards to the leader over HTTPS", async () => {
      const client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(ca.cert)],
      });
      try {
        // Only the leader can say that nobody called n9 is a member.
        const r = await fetch(
          `https://${n2.httpAddress}/v1/cluster/members/n9`,
          { method: "DELETE", client },
        );
        const body = await r.json();
        assert.equal(r.status, 404, JSON.stringify(body));
        assert.equal(body.error.code, "not_found");
      } finally {
        client.close();
      }
    });

    await t.step(
      "the client with caFile: writes, reads, discovery",
      async () => {
        await using client = new Client({
          endpoints: [`https://${n2.httpAddress}`],
          caFile: ca.cert,
        });
        const put = await client.put("tls/a", "1");
        const got = await client.get("tls/a");
        assert.equal(got?.value, "1");
        assert.equal(got?.modRevision, put.revision);
        const status = await client.status({ endpoint: n1.httpAddress });
        assert.equal(status.id, "n1");
        assert.equal(client.leaderUrl, `https://${n1.httpAddress}`);
      },
    );

    await t.step(
      "without the CA, or with another, the server is not trusted",
      async () => {
        for (const caFile of [undefined, `${certs.dir}/other.pem`]) {
          await using client = new Client({
            endpoints: [`https://${n1.httpAddress}`],
            caFile,
            timeoutMs: 3000,
            retries: 1,
          });
          const e = await client.get("tls/a").catch((e) => e);
          assert.ok(e instanceof RaftlockError, String(e));
          assert.equal(e.code, "unreachable");
          assert.match(e.message, /certificate|issuer/i);
        }
      },
    );

    await t.step("raftctl --ca-file and RAFTLOCK_CA_FILE", async () => {
      const ep = ["--endpoints", `https://${n1.httpAddress}`];
      const put = await raftctl([
        ...ep,
        "--ca-file",
        ca.cert,
        "kv",
        "put",
        "tls/b",
        "2",
      ]);
      assert.equal(put.code, 0, put.stderr);
      const get = await raftctl([...ep, "kv", "get", "tls/b"], {
        RAFTLOCK_CA_FILE: ca.cert,
      });
      assert.equal(get.code, 0, get.stderr);
      assert.match(get.stdout, /^2$/m);
      const status = await raftctl([...ep, "status"], {
        RAFTLOCK_CA_FILE: ca.cert,
      });
      assert.equal(status.code, 0, status.stderr);
      assert.doesNotMatch(status.stdout, /unreachable|error/i);
      const none = await raftctl([...ep, "kv", "get", "tls/b"]);
      assert.equal(none.code, 1);
      const missing = await raftctl([
        ...ep,
        "--ca-file",
        `${dir}/none.pem`,
        "kv",
        "get",
        "tls/b",
      ]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /cannot read the CA file/);
    });
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await Deno.remove(dir, { recursive: true });
    await certs.remove();
  }
});
