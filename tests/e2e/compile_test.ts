/**
 * The single binaries: `deno task compile` builds `raftd` and `raftctl`
 * with `deno compile` into `dist/`. This test reuses `dist/` when both are
 * newer than every source file, else builds them there with the same
 * tasks (so the next run reuses them), then runs them
 * with an empty environment (no deno on PATH, no DENO_DIR): a node starts
 * on free loopback ports with a temp data dir, and `raftctl status`
 * answers with it.
 *
 * `deno compile` embeds the program in `denort`, a runtime binary that it
 * downloads once per Deno version (and caches in DENO_DIR/dl). Where that
 * binary is neither given (`DENORT_BIN`), cached, beside deno, nor
 * downloadable (no network), compiling is impossible: the test is then
 * ignored with the reason in its name and on stderr, never passed.
 *
 * `RAFTLOCK_COMPILED_DIR=DIR` runs the binaries already in DIR instead of
 * building them (a release check, or a CI step that built them earlier).
 *
 * @module
 */

import assert from "node:assert/strict";
import { reservePorts, sleep } from "./harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BINARIES = ["raftd", "raftctl"] as const;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `deno compile` would take the denort runtime from without a
 * download, or undefined (then it would download it).
 */
async function localDenort(): Promise<string | undefined> {
  const fromEnv = env("DENORT_BIN");
  if (fromEnv) return `DENORT_BIN=${fromEnv}`;
  const beside = Deno.execPath().replace(/[^/]+$/, "denort");
  if (await exists(beside)) return beside;
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const zip =
    `${denoDir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  return (await exists(zip)) ? zip : undefined;
}

/**
 * Undefined when `deno compile` can build here; otherwise why not. Without
 * a local denort, a one-line program is compiled: that downloads denort
 * when the network allows (and caches it for the real build), and fails
 * quickly when it does not.
 */
async function whyCompileIsImpossible(): Promise<string | undefined> {
  if (env("RAFTLOCK_COMPILED_DIR") || await freshDist()) return undefined;
  if (await localDenort()) return undefined;
  const dir = await Deno.makeTempDir({ prefix: "raftlock-compile-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, "console.log(1);\n");
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--no-config",
        "--output",
        `${dir}/probe`,
        `${dir}/probe.ts`,
      ],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    if (r.success) return undefined;
    const err = new TextDecoder().decode(r.stderr);
    // Only a missing runtime is a reason to skip; any other failure is the
    // test's to report.
    if (!/base binary|denort/i.test(err)) return undefined;
    const cause = err.split("\n").find((l) =>
      /error sending request|dns|connect/i.test(l)
    )
      ?.replace(/^\s*\d+:\s*/, "");
    return `deno compile needs the denort ${Deno.version.deno} runtime, which is not cached and cannot be downloaded here${
      cause ? ` (${cause})` : ""
    }; set DENORT_BIN to a denort binary of this Deno version to run this test`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The newest modification time of the files the binaries are built from. */
async function newestSource(): Promise<number> {
  let newest = 0;
  async function walk(dir: string): Promise<void> {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        newest = Math.max(newest, (await Deno.stat(p)).mtime?.getTime() ?? 0);
      }
    }
  }
  await walk(`${ROOT}src`);
  await walk(`${ROOT}cli`);
  for (const f of ["deno.json", "deno.lock"]) {
    const s = await Deno.stat(`${ROOT}${f}`).catch(() => undefined);
    newest = Math.max(newest, s?.mtime?.getTime() ?? 0);
  }
  return newest;
}

/** dist/ when both binaries there are newer than every source file. */
async function freshDist(): Promise<string | undefined> {
  const source = await newestSource();
  for (const name of BINARIES) {
    const s = await Deno.stat(`${ROOT}dist/${name}`).catch(() => undefined);
    if (!s?.isFile || (s.mtime?.getTime() ?? 0) <= source) return undefined;
  }
  return `${ROOT}dist`;
}

/** Builds both binaries into dist/, as `deno task compile` does. */
async function build(): Promise<string> {
  for (const name of BINARIES) {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["task", `compile:${name}`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.ok(
      r.success,
      `deno task compile:${name} failed:\n${
        new TextDecoder().decode(r.stderr)
      }`,
    );
  }
  return `${ROOT}dist`;
}

const skip = await whyCompileIsImpossible();
if (skip) console.error(`compile_test: skipped: ${skip}`);

Deno.test({
  name: skip
    ? "compiled raftd and raftctl: SKIPPED, deno compile cannot get its denort runtime here (reason above; DENORT_BIN enables it)"
    : "compiled raftd starts a node and compiled raftctl status answers it",
  ignore: skip !== undefined,
  // The build alone takes a minute or two on a small machine.
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const work = await Deno.makeTempDir({ prefix: "raftlock-compile-" });
  let raftd: Deno.ChildProcess | undefined;
  try {
    const binDir = env("RAFTLOCK_COMPILED_DIR") ?? await freshDist() ??
      await build();
    for (const name of BINARIES) {
      const s = await Deno.stat(`${binDir}/${name}`);
      assert.ok(s.isFile && (s.mode ?? 0) & 0o111, `${name} is not executable`);
    }

    const [peerPort, httpPort] = reservePorts(2);
    const http = `127.0.0.1:${httpPort}`;
    // An empty environment: the binaries need no deno, no DENO_DIR, no PATH.
    raftd = new Deno.Command(`${binDir}/raftd`, {
      args: [
        "--id",
        "n1",
        "--data-dir",
        `${work}/data`,
        "--listen",
        `127.0.0.1:${peerPort}`,
        "--http",
        http,
      ],
      cwd: work,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const logs = collect(raftd.stderr);
    raftd.stdout.cancel();

    let last = { code: -1, out: "", err: "" };
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const r = await new Deno.Command(`${binDir}/raftctl`, {
        args: ["--endpoints", `http://${http}`, "status"],
        cwd: work,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      last = {
        code: r.code,
        out: new TextDecoder().decode(r.stdout),
        err: new TextDecoder().decode(r.stderr),
      };
      if (r.code === 0 && /\bleader\b/.test(last.out)) break;
      await sleep(200);
    }
    assert.equal(
      last.code,
      0,
      `raftctl status failed:\n${last.out}${last.err}\nraftd log:\n${logs.text()}`,
    );
    assert.match(last.out, /^n1\s+127\.0\.0\.1:\d+\s+leader\b/m);

    raftd.kill("SIGTERM");
    const status = await raftd.status;
    raftd = undefined;
    await logs.done;
    assert.equal(status.code, 0, `raftd exited with ${status.code}`);
    // stderr was a pipe: the log is JSON lines.
    const events = logs.text().split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l).event);
    assert.ok(events.includes("server.ready"), logs.text());
    assert.ok(events.includes("raftd.shutdown"), logs.text());
  } finally {
    if (raftd) {
      raftd.kill("SIGKILL");
      await raftd.status;
    }
    await Deno.remove(work, { recursive: true });
  }
});

/** Reads a stream into memory in the background, until it ends (`done`). */
function collect(
  stream: ReadableStream<Uint8Array>,
): { text(): string; done: Promise<void> } {
  let text = "";
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
    }
  })();
  return { text: () => text, done };
}
