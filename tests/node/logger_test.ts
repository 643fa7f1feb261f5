import assert from "node:assert/strict";
import {
  jsonLineLogger,
  type Logger,
  prettyLogger,
} from "../../src/node/logger.ts";
import {
  clockTime,
  fieldValue,
  formatLogLine,
  formatNodeLine,
  NODE_COLORS,
  resolveLogFormat,
  useColor,
} from "../../src/node/log_format.ts";

const TS = "2026-12-02T13:26:33.027Z";

/** The local wall clock of TS, as the formatter prints it. */
function localClock(ts: string): string {
  const d = new Date(ts);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${
    p(d.getMilliseconds(), 3)
  }`;
}

function capture(make: (write: (l: string) => void) => Logger) {
  const lines: string[] = [];
  return { log: make((l) => lines.push(l)), lines };
}

Deno.test("jsonLineLogger: one JSON record a line: time, base fields, the fields, the event", () => {
  const { log, lines } = capture((write) =>
    jsonLineLogger({ base: { node: "n1" }, write })
  );
  log("raft.becameLeader", { level: "info", term: 2 });
  assert.equal(lines.length, 1);
  const r = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(r), ["ts", "node", "level", "term", "event"]);
  assert.equal(r.node, "n1");
  assert.equal(r.event, "raft.becameLeader");
  assert.ok(!Number.isNaN(Date.parse(r.ts)));
});

Deno.test("jsonLineLogger and prettyLogger drop events below minLevel", () => {
  for (const make of [jsonLineLogger, prettyLogger]) {
    const { log, lines } = capture((write) =>
      make({ minLevel: "warn", write })
    );
    log("a", { level: "debug" });
    log("b", { level: "info" });
    log("c", {}); // no level: info
    log("d", { level: "warn" });
    log("e", { level: "error" });
    assert.equal(lines.length, 2);
    assert.match(lines[0], /\bd\b/);
    assert.match(lines[1], /\be\b/);
  }
});

Deno.test("prettyLogger writes the same record as a readable line", () => {
  const { log, lines } = capture((write) =>
    prettyLogger({ base: { node: "n2" }, write })
  );
  log("server.ready", { level: "info", http: "127.0.0.1:8001", fresh: true });
  assert.match(
    lines[0],
    /^\d\d:\d\d:\d\d\.\d\d\d n2 INFO {2}server\.ready http=127\.0\.0\.1:8001 fresh=true$/,
  );
});

Deno.test("formatLogLine: time, node, level, event, then fields in order", () => {
  const line = formatLogLine({
    ts: TS,
    node: "n1",
    level: "warn",
    term: 3,
    leader: "",
    peers: ["n2", "n3"],
    event: "node.leadership",
  });
  assert.equal(
    line,
    `${
      localClock(TS)
    } n1 WARN  node.leadership term=3 leader="" peers=["n2","n3"]`,
  );
});

Deno.test("formatLogLine: the human message follows the event (msg or the transport's message)", () => {
  assert.equal(
    formatLogLine({
      ts: TS,
      node: "n1",
      level: "warn",
      message: "Peer unreachable",
      peer: "n3",
      error: "Connection refused (os error 111)",
      event: "transport",
    }),
    `${
      localClock(TS)
    } n1 WARN  transport: Peer unreachable peer=n3 error="Connection refused (os error 111)"`,
  );
  assert.equal(
    formatLogLine({ ts: TS, level: "error", msg: "Disk full", event: "x" }),
    `${localClock(TS)} ERROR x: Disk full`,
  );
});

Deno.test("formatLogLine: a raft event's id equal to the node is not repeated", () => {
  assert.equal(
    formatLogLine({
      ts: TS,
      node: "n1",
      id: "n1",
      term: 1,
      event: "raft.campaign",
    }),
    `${localClock(TS)} n1 INFO  raft.campaign term=1`,
  );
  assert.match(
    formatLogLine({ ts: TS, node: "n1", id: "n2", event: "e" }),
    / id=n2$/,
  );
});

Deno.test("formatLogLine: node column padded to a width, for merged views", () => {
  assert.equal(
    formatLogLine({ ts: TS, node: "n1", event: "e" }, { nodeWidth: 4 }),
    `${localClock(TS)} n1   INFO  e`,
  );
});

Deno.test("formatLogLine: colors by level, node color, and none without color", () => {
  const codes = { debug: "90", info: "32", warn: "33", error: "31" };
  for (const [level, code] of Object.entries(codes)) {
    const line = formatLogLine(
      { ts: TS, node: "n1", level, event: "e", k: 1 },
      {
        color: true,
        nodeColor: NODE_COLORS[1],
      },
    );
    assert.ok(
      line.includes(`\x1b[${code}m${level.toUpperCase().padEnd(5)}\x1b[0m`),
      line,
    );
    assert.ok(line.includes(`\x1b[${NODE_COLORS[1]}mn1\x1b[0m`), line);
  }
  const plain = formatLogLine({
    ts: TS,
    node: "n1",
    level: "error",
    event: "e",
  });
  assert.ok(!plain.includes("\x1b"), plain);
});

Deno.test("fieldValue: plain words bare, anything else as JSON", () => {
  assert.equal(fieldValue("n1"), "n1");
  assert.equal(fieldValue("/tmp/data/n1"), "/tmp/data/n1");
  assert.equal(fieldValue("two words"), '"two words"');
  assert.equal(fieldValue("a=b"), '"a=b"');
  assert.equal(fieldValue('say "hi"'), '"say \\"hi\\""');
  assert.equal(fieldValue("line\nbreak"), '"line\\nbreak"');
  assert.equal(fieldValue("bell\x07"), '"bell\\u0007"');
  assert.equal(fieldValue(""), '""');
  assert.equal(fieldValue(12.5), "12.5");
  assert.equal(fieldValue(false), "false");
  assert.equal(fieldValue(null), "null");
  assert.equal(fieldValue(undefined), "undefined");
  assert.equal(fieldValue(10n), "10");
  assert.equal(fieldValue({ term: 1, vote: "n1" }), '{"term":1,"vote":"n1"}');
  assert.equal(fieldValue(new Error("boom here")), '"boom here"');
});

Deno.test("clockTime: HH:MM:SS.mmm, and a placeholder for a missing time", () => {
  assert.equal(clockTime(TS), localClock(TS));
  assert.equal(clockTime(undefined), "--:--:--.---");
  assert.equal(clockTime("not a date"), "--:--:--.---");
});

Deno.test("resolveLogFormat: auto is pretty on a terminal and json when piped", () => {
  assert.equal(resolveLogFormat("auto", true), "pretty");
  assert.equal(resolveLogFormat("auto", false), "json");
  assert.equal(resolveLogFormat("json", true), "json");
  assert.equal(resolveLogFormat("pretty", false), "pretty");
});

Deno.test("useColor: only on a terminal, and never with NO_COLOR set", () => {
  const saved = Deno.env.get("NO_COLOR");
  try {
    Deno.env.delete("NO_COLOR");
    assert.equal(useColor(true), true);
    assert.equal(useColor(false), false);
    Deno.env.set("NO_COLOR", "1");
    assert.equal(useColor(true), false);
    Deno.env.set("NO_COLOR", "");
    assert.equal(useColor(true), true);
  } finally {
    if (saved === undefined) Deno.env.delete("NO_COLOR");
    else Deno.env.set("NO_COLOR", saved);
  }
});

Deno.test("formatNodeLine: a node's JSON line becomes readable; other text keeps a node column", () => {
  const json = JSON.stringify({
    ts: TS,
    node: "n1",
    level: "info",
    term: 1,
    event: "raft.campaign",
  });
  assert.equal(
    formatNodeLine(json, "n1", { nodeWidth: 3 }),
    `${localClock(TS)} n1  INFO  raft.campaign term=1`,
  );
  // A record without a node (say, from an older raftd) gets the given id.
  assert.equal(
    formatNodeLine(JSON.stringify({ ts: TS, event: "e" }), "n2"),
    `${localClock(TS)} n2 INFO  e`,
  );
  assert.equal(
    formatNodeLine("raftd: could not start: disk full", "n2", { nodeWidth: 3 }),
    "             n2  raftd: could not start: disk full",
  );
  assert.equal(formatNodeLine("{not json", "n3"), "             n3 {not json");
  assert.equal(
    formatNodeLine("oops", "n1", { color: true, nodeColor: "35" }),
    "             \x1b[35mn1\x1b[0m oops",
  );
});
