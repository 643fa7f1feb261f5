/**
 * deploy/systemd/raftd.service and the three-host example's env files:
 * the unit passes only flags raftd knows, every variable it expands is set
 * by each env file, every credential it reads is loaded, the hardening is
 * there, and (where `systemd-analyze` exists) systemd itself accepts the
 * unit with no warning and rates its exposure as low.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  EXAMPLE,
  parseEnvFile,
  parseUnit,
  PENDING_FLAGS,
  raftdFlags,
  SYSTEMD_VARS,
  UNIT,
} from "./unit_files.ts";

const unitText = await Deno.readTextFile(UNIT);
const unit = parseUnit(unitText);
const service = unit.get("Service")!;
const execStart = service.get("ExecStart")![0].split(/\s+/);

Deno.test("unit: hardening, restart and limits are set", () => {
  const expect: Record<string, string> = {
    DynamicUser: "yes",
    StateDirectory: "raftlock",
    LimitNOFILE: "65536",
    Restart: "on-failure",
    NoNewPrivileges: "yes",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    PrivateTmp: "yes",
    PrivateDevices: "yes",
    CapabilityBoundingSet: "",
    RestrictSUIDSGID: "yes",
    EnvironmentFile: "/etc/raftlock/raftd.env",
  };
  for (const [key, value] of Object.entries(expect)) {
    assert.deepEqual(service.get(key), [value], `${key}=${value}`);
  }
  // V8's JIT writes code and then runs it: the runtime cannot start with it.
  assert.ok(!service.has("MemoryDenyWriteExecute"));
  assert.ok(
    unit.get("Install")?.get("WantedBy")?.includes("multi-user.target"),
  );
});

Deno.test("unit: ExecStart passes only flags raftd knows (or listed pending)", async () => {
  const known = await raftdFlags();
  assert.ok(known.has("--peer-secret-file"), "could not read raftd --help");
  assert.equal(execStart[0], "/usr/local/bin/raftd");
  const flags = execStart.filter((w) => w.startsWith("--"));
  assert.ok(flags.length >= 10, execStart.join(" "));
  for (const flag of flags) {
    assert.ok(
      known.has(flag) || PENDING_FLAGS.includes(flag),
      `raftd has no ${flag}`,
    );
  }
  // The three-host setup: peers authenticated inside TLS, HTTPS for clients.
  for (
    const flag of [
      "--peer-secret-file",
      "--peer-cert",
      "--peer-key",
      "--peer-ca",
      "--cert-file",
      "--key-file",
      "--peers",
    ]
  ) {
    assert.ok(flags.includes(flag), `ExecStart lacks ${flag}`);
  }
});

Deno.test("unit: every credential it reads is loaded from /etc/raftlock", () => {
  const loaded = new Map(
    (service.get("LoadCredential") ?? []).map((v) => v.split(":", 2)) as [
      string,
      string,
    ][],
  );
  const read = execStart.filter((w) => w.startsWith("%d/")).map((w) =>
    w.slice(3)
  );
  assert.ok(read.length >= 4);
  for (const name of read) {
    assert.match(
      loaded.get(name) ?? "",
      /^\/etc\/raftlock\//,
      `${name} is not loaded`,
    );
  }
});

Deno.test("example env files: set every variable the unit uses, and agree on the members", async () => {
  const used = [...execStart.join(" ").matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)]
    .map((m) => m[1]).filter((v) => !SYSTEMD_VARS.has(v));
  assert.ok(used.includes("RAFTLOCK_ID") && used.includes("RAFTLOCK_PEERS"));
  const peersSeen = new Set<string>();
  for (const i of [1, 2, 3]) {
    const env = parseEnvFile(await Deno.readTextFile(`${EXAMPLE}/n${i}.env`));
    for (const v of used) assert.ok(env.has(v), `n${i}.env does not set ${v}`);
    assert.equal(env.get("RAFTLOCK_ID"), `n${i}`);
    const peers = env.get("RAFTLOCK_PEERS")!;
    peersSeen.add(peers);
    assert.ok(
      peers.split(",").includes(`n${i}=${env.get("RAFTLOCK_LISTEN")}`),
      `n${i}.env: its --listen is not its entry in --peers`,
    );
  }
  assert.equal(peersSeen.size, 1, "the env files disagree on --peers");
});

const analyze = await new Deno.Command("systemd-analyze", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
}).output().then((r) => r.success, () => false);
if (!analyze) {
  console.error(
    "systemd_test: systemd-analyze is not installed; its checks are skipped",
  );
}

Deno.test({
  name: analyze
    ? "unit: systemd-analyze verifies it without a warning and rates its exposure at most 2.0"
    : "unit: systemd-analyze checks SKIPPED (systemd-analyze is not installed)",
  ignore: !analyze,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-unit-" });
  try {
    // verify insists that the binary exists: point it at one that does.
    const copy = `${dir}/raftd.service`;
    await Deno.writeTextFile(
      copy,
      unitText.replace("/usr/local/bin/raftd", Deno.execPath()),
    );
    const verify = await new Deno.Command("systemd-analyze", {
      args: ["verify", copy],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(verify.stderr) +
      new TextDecoder().decode(verify.stdout);
    assert.ok(verify.success, said);
    assert.equal(said.trim(), "", said);
    const security = await new Deno.Command("systemd-analyze", {
      args: ["security", "--offline=yes", "--threshold=20", copy],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const report = new TextDecoder().decode(security.stdout);
    assert.ok(
      security.success,
      `exposure above 2.0:\n${report.split("\n").slice(-3).join("\n")}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
