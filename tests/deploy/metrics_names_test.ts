/**
 * The Grafana dashboard and the Prometheus alert rules under deploy/ use
 * only metrics that a real node exports: a single-node server (real WAL,
 * real TCP transport, real HTTP) runs in this process, serves a few
 * requests, and its `GET /metrics` is the list every PromQL expression is
 * checked against. Each expression must also parse as PromQL (the
 * Prometheus project's own grammar), and the files must have the shape
 * Grafana and Prometheus load.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parser as promql } from "@prometheus-io/lezer-promql";
import { parse as parseYaml } from "yaml";
import { startServer } from "../../src/server/server.ts";

const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;

/**
 * Metrics that other work in progress adds, with where they come from.
 * Expressions may name them before a node exports them; everything else
 * must exist. Keep this list short and remove an entry once it lands.
 */
const PENDING: Record<string, string> = {};

/** Grafana's variables, replaced by plain values so the PromQL parses. */
function withoutGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, "5m")
    .replace(/\$\{?\w+\}?/g, "x");
}

/** The metric names an expression selects, or an error when it does not parse. */
function metricNames(expr: string): { names: string[]; error?: string } {
  const tree = promql.parse(expr);
  const names: string[] = [];
  let error: string | undefined;
  tree.iterate({
    enter(n) {
      if (n.type.isError) {
        error ??= `syntax error at ${n.from}: "${
          expr.slice(n.from, n.to + 10)
        }"`;
      }
      if (n.name === "Identifier" && n.node.parent?.name === "VectorSelector") {
        names.push(expr.slice(n.from, n.to));
      }
    },
  });
  return { names, error };
}

/** Every `expr` (and query variable) of a dashboard, with its panel title. */
function dashboardExprs(
  dashboard: Record<string, unknown>,
): [string, string][] {
  const out: [string, string][] = [];
  const visit = (v: unknown, where: string) => {
    if (Array.isArray(v)) v.forEach((x) => visit(x, where));
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      const here = typeof o.title === "string" ? o.title : where;
      if (typeof o.expr === "string") out.push([here, o.expr]);
      for (const x of Object.values(o)) visit(x, here);
    }
  };
  visit(dashboard.panels, "panels");
  return out;
}

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description?: string };
}

async function alertRules(): Promise<AlertRule[]> {
  const doc = parseYaml(
    await Deno.readTextFile(`${DEPLOY}prometheus/alerts.yml`),
  ) as { groups: { name: string; rules: AlertRule[] }[] };
  assert.ok(Array.isArray(doc.groups) && doc.groups.length > 0, "no groups");
  return doc.groups.flatMap((g) => {
    assert.equal(typeof g.name, "string");
    assert.ok(
      Array.isArray(g.rules) && g.rules.length > 0,
      `${g.name}: no rules`,
    );
    return g.rules;
  });
}

/** The sample names a real node's `/metrics` exposes, after some traffic. */
async function exportedNames(): Promise<Set<string>> {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-metrics-" });
  const server = await startServer({
    id: "n1",
    dataDir: `${dir}/n1`,
    listen: "127.0.0.1:0",
    http: "127.0.0.1:0",
  });
  try {
    const base = `http://${server.httpAddress}`;
    // A write and a read fill the HTTP histogram's route series.
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${base}/v1/kv/metrics-test`, {
        method: "PUT",
        body: JSON.stringify({ value: "x" }),
      });
      await r.body?.cancel();
      if (r.status === 200) break;
      await new Promise((ok) => setTimeout(ok, 50));
    }
    const got = await fetch(`${base}/v1/kv/metrics-test`);
    assert.equal(got.status, 200);
    await got.body?.cancel();
    const text = await (await fetch(`${base}/metrics`)).text();
    const names = new Set<string>();
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      names.add(line.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)![0]);
    }
    return names;
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

const exported = await exportedNames();

Deno.test("a node exports the metric families the files are built on", () => {
  // Guards the check itself: an empty or broken scrape would pass vacuously.
  for (
    const name of [
      "raftlock_raft_is_leader",
      "raftlock_leader_changes_total",
      "raftlock_wal_persist_duration_seconds_bucket",
      "raftlock_http_request_duration_seconds_bucket",
      "process_memory_rss_bytes",
    ]
  ) {
    assert.ok(exported.has(name), `${name} is not in /metrics`);
  }
});

Deno.test("pending metrics are not exported yet (else drop them from PENDING)", () => {
  for (const name of Object.keys(PENDING)) {
    assert.ok(
      !exported.has(name),
      `${name} is exported now: remove it from PENDING in ${import.meta.url}`,
    );
  }
});

Deno.test("grafana dashboard: every expression parses and names only exported metrics", async () => {
  const dashboard = JSON.parse(
    await Deno.readTextFile(`${DEPLOY}grafana/raftlock.json`),
  );
  const exprs = dashboardExprs(dashboard);
  assert.ok(exprs.length >= 20, `only ${exprs.length} expressions`);
  const used = new Set<string>();
  for (const [panel, expr] of exprs) {
    const { names, error } = metricNames(withoutGrafanaVariables(expr));
    assert.equal(error, undefined, `${panel}: ${expr}: ${error}`);
    assert.ok(names.length > 0, `${panel}: ${expr} names no metric`);
    for (const name of names) {
      used.add(name);
      assert.ok(
        exported.has(name),
        `${panel}: ${name} is not in /metrics (${expr})`,
      );
    }
  }
  // The panels the operations guide promises.
  for (
    const name of [
      "raftlock_raft_is_leader",
      "raftlock_raft_term",
      "raftlock_leader_changes_total",
      "raftlock_proposals_total",
      "raftlock_raft_commit_index",
      "raftlock_raft_applied_index",
      "raftlock_wal_persist_duration_seconds_bucket",
      "raftlock_http_request_duration_seconds_count",
      "raftlock_http_request_duration_seconds_bucket",
      "raftlock_peer_connections_rejected_total",
      "raftlock_watchers",
      "raftlock_lock_grants_total",
      "process_memory_rss_bytes",
    ]
  ) {
    assert.ok(used.has(name), `the dashboard does not show ${name}`);
  }
});

Deno.test("grafana dashboard: loadable shape (unique ids, panels on the grid, no overlap)", async () => {
  const d = JSON.parse(
    await Deno.readTextFile(`${DEPLOY}grafana/raftlock.json`),
  );
  assert.equal(typeof d.title, "string");
  assert.equal(typeof d.uid, "string");
  assert.equal(typeof d.schemaVersion, "number");
  const panels = d.panels as {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    datasource?: { uid: string };
  }[];
  const ids = new Set(panels.map((p) => p.id));
  assert.equal(ids.size, panels.length, "panel ids repeat");
  const vars = new Set(
    (d.templating.list as { name: string }[]).map((v) => v.name),
  );
  for (const p of panels) {
    const g = p.gridPos;
    assert.ok(
      g.x >= 0 && g.w > 0 && g.x + g.w <= 24,
      `${p.title}: off the grid`,
    );
    if (p.type !== "row") {
      const uid = p.datasource?.uid.match(/^\$\{(\w+)\}$/)?.[1];
      assert.ok(uid && vars.has(uid), `${p.title}: no data source variable`);
    }
  }
  for (const [i, a] of panels.entries()) {
    for (const b of panels.slice(i + 1)) {
      const A = a.gridPos, B = b.gridPos;
      const overlap = A.x < B.x + B.w && B.x < A.x + A.w &&
        A.y < B.y + B.h && B.y < A.y + A.h;
      assert.ok(!overlap, `${a.title} overlaps ${b.title}`);
    }
  }
});

Deno.test("alert rules: the YAML loads, the five promised alerts are there, each well formed", async () => {
  const rules = await alertRules();
  const names = rules.map((r) => r.alert);
  assert.equal(new Set(names).size, names.length, "alert names repeat");
  for (
    const name of [
      "RaftlockNoLeader",
      "RaftlockFrequentLeaderChanges",
      "RaftlockQuotaAlarm",
      "RaftlockWalSyncSlow",
      "RaftlockFollowerLagging",
    ]
  ) {
    assert.ok(names.includes(name), `no ${name} rule`);
  }
  for (const r of rules) {
    assert.match(r.alert, /^[A-Z][A-Za-z0-9]+$/);
    assert.ok(["critical", "warning"].includes(r.labels?.severity), r.alert);
    assert.equal(typeof r.annotations?.summary, "string", r.alert);
    if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/, r.alert);
  }
});

Deno.test("alert rules: every expression parses and names exported (or listed pending) metrics", async () => {
  const pendingUsed = new Set<string>();
  for (const r of await alertRules()) {
    const { names, error } = metricNames(r.expr);
    assert.equal(error, undefined, `${r.alert}: ${r.expr}: ${error}`);
    assert.ok(names.length > 0, `${r.alert} names no metric`);
    for (const name of names) {
      if (name in PENDING) {
        pendingUsed.add(name);
        continue;
      }
      assert.ok(exported.has(name), `${r.alert}: ${name} is not in /metrics`);
    }
  }
  for (const name of Object.keys(PENDING)) {
    assert.ok(
      pendingUsed.has(name),
      `PENDING lists ${name}, which no rule uses`,
    );
  }
});
