/**
 * `deno task cluster`: a local cluster of real `raftd` processes on
 * loopback. Starts them, waits until a leader is elected, prints where each
 * node listens and who leads, streams their logs merged into one readable
 * view (a column with each node's id in its own color; `--log-format json`
 * passes the nodes' JSON lines through as they are), and stops them all on
 * Ctrl-C. The nodes authenticate each other with a
 * random secret kept in the data directory (`peer.secret`, mode 0600).
 *
 * ```sh
 * deno task cluster               # 3 nodes: peers on 7001.., HTTP on 8001..
 * deno task cluster --nodes 5
 * deno task cluster --fresh       # wipe ./data/cluster first
 * ```
 *
 * @module
 */

import { type CommandLine, commandLine } from "./args.ts";
import {
  type LocalMember,
  RAFTD_ENV,
  raftdArgs,
} from "../src/server/raftd_args.ts";
import { ensurePeerSecretFile } from "../src/transport/tcp.ts";
import {
  formatNodeLine,
  LOG_FORMATS,
  type LogFormat,
  NODE_COLORS,
  resolveLogFormat,
  useColor,
} from "../src/node/log_format.ts";

const USAGE = `Usage: deno task cluster [options]

Starts a local cluster of raftd processes on 127.0.0.1 and streams their logs.

  --nodes N          number of nodes (default 3)
  --peer-port P      first peer port (default 7001; node i uses P+i-1)
  --http-port P      first HTTP port (default 8001)
  --data-dir DIR     parent data directory (default ./data/cluster); the
                     peer secret is generated into DIR/peer.secret once
  --fresh            delete the data directory first (and the secret)
  --quiet            do not stream node logs after start-up
  --log-format F     pretty (readable lines merged from the nodes), json
                     (the nodes' JSON lines as they are) or auto (default:
                     pretty when stdout is a terminal, json when piped)
  -h, --help         show this help`;

interface Member extends LocalMember {
  child?: Deno.ChildProcess;
}

const cli: CommandLine = commandLine("cluster", USAGE);

/** What the merged view prints for one line a node wrote. */
type LineView = (line: string) => string;

async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  view: LineView,
  show: () => boolean,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (show()) console.log(view(line));
    }
  }
  if (buf && show()) console.log(view(buf));
}

async function status(
  http: string,
): Promise<{ role: string; leader: string; term: number } | undefined> {
  try {
    const r = await fetch(`http://${http}/v1/status`, {
      signal: AbortSignal.timeout(500),
    });
    if (!r.ok) {
      await r.body?.cancel();
      return undefined;
    }
    return await r.json();
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const v = cli.parse({
    nodes: { type: "string", default: "3" },
    "peer-port": { type: "string", default: "7001" },
    "http-port": { type: "string", default: "8001" },
    "data-dir": { type: "string", default: "./data/cluster" },
    fresh: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    "log-format": { type: "string", default: "auto" },
  });
  if (v === undefined) return;
  const n = Number(v.nodes);
  if (!Number.isInteger(n) || n < 1 || n > 9) {
    cli.fail("--nodes must be a whole number from 1 to 9");
  }
  const peerPort = Number(v["peer-port"]);
  const httpPort = Number(v["http-port"]);
  if (!Number.isInteger(peerPort) || !Number.isInteger(httpPort)) {
    cli.fail("ports must be whole numbers");
  }
  if (!(LOG_FORMATS as readonly string[]).includes(v["log-format"]!)) {
    cli.fail(`--log-format must be one of ${LOG_FORMATS.join(", ")}`);
  }
  const tty = Deno.stdout.isTerminal();
  const format = resolveLogFormat(v["log-format"] as LogFormat, tty);
  const color = useColor(tty);
  if (v.fresh) {
    await Deno.remove(v["data-dir"], { recursive: true }).catch(() => {});
  }

  const peerSecretFile = await ensurePeerSecretFile(
    `${v["data-dir"]}/peer.secret`,
  );
  const members: Member[] = Array.from({ length: n }, (_, i) => ({
    id: `n${i + 1}`,
    dataDir: `${v["data-dir"]}/n${i + 1}`,
    peer: `127.0.0.1:${peerPort + i}`,
    http: `127.0.0.1:${httpPort + i}`,
  }));
  let streaming = true;
  let startedUp = false;
  const show = () => streaming && (startedUp ? !v.quiet : true);

  console.log(
    `Starting ${n} raftd node${n > 1 ? "s" : ""} (data in ${
      v["data-dir"]
    }, peer secret in ${peerSecretFile})…`,
  );
  const nodeWidth = Math.max(...members.map((m) => m.id.length));
  for (const [i, m] of members.entries()) {
    // The nodes always write JSON lines (their stderr is a pipe); this
    // process turns them into the merged readable view.
    const cmd = new Deno.Command(Deno.execPath(), {
      args: raftdArgs(m, members, ["--log-format", "json"], {
        peerSecretFile,
      }),
      env: { ...RAFTD_ENV },
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    });
    m.child = cmd.spawn();
    const nodeColor = NODE_COLORS[i % NODE_COLORS.length];
    const view: LineView = format === "json"
      ? (line) => line
      : (line) => formatNodeLine(line, m.id, { color, nodeWidth, nodeColor });
    pipeLines(m.child.stdout, view, show);
    pipeLines(m.child.stderr, view, show);
  }

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping the cluster…");
    for (const m of members) {
      try {
        m.child?.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(members.map((m) => m.child?.status));
    streaming = false;
    console.log("All nodes stopped.");
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", () => stop(0));
  Deno.addSignalListener("SIGTERM", () => stop(0));
  for (const m of members) {
    m.child!.status.then((s) => {
      if (!stopping) {
        console.log(
          `[${m.id}] exited with code ${s.code}${
            s.signal ? ` (${s.signal})` : ""
          }`,
        );
      }
    });
  }

  // Wait until every node agrees on a leader.
  const t0 = performance.now();
  let leader = "";
  let roles: (string | undefined)[] = [];
  while (!leader) {
    if (performance.now() - t0 > 30_000) {
      console.error(
        "No leader after 30 s; check the node logs above. Stopping.",
      );
      await stop(1);
    }
    await new Promise((r) => setTimeout(r, 200));
    const st = await Promise.all(members.map((m) => status(m.http)));
    const leaders = new Set(st.map((s) => s?.leader));
    roles = st.map((s) => s?.role);
    if (st.every((s) => s && s.leader) && leaders.size === 1) {
      leader = st[0]!.leader;
    } else {
      const up = st.filter((s) => s).length;
      console.log(
        `… ${up}/${n} nodes answering, waiting for a leader (${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s)`,
      );
    }
  }
  console.log(
    `\nCluster ready in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s. Leader: ${leader}\n`,
  );
  console.log("  node  role       peer address      HTTP API");
  members.forEach((m, i) => {
    console.log(
      `  ${m.id.padEnd(5)} ${(roles[i] ?? "?").padEnd(10)} ${
        m.peer.padEnd(17)
      } http://${m.http}`,
    );
  });
  console.log(
    `\nTry:  deno task ctl --endpoints ${
      members.map((m) => `http://${m.http}`).join(",")
    } status`,
  );
  console.log("Ctrl-C stops every node.\n");
  startedUp = true;
}

if (import.meta.main) main();
