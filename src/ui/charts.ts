/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * Charts of the node's writes/s, reads/s, p50/p99 latency and leader
 * changes over the last five minutes, drawn by hand as inline SVG from
 * `GET /v1/stats` sampled every second into a ring kept in the browser
 * (no Prometheus needed). The sampler runs from the console's start, so
 * the charts have history when opened.
 *
 * @module
 */

import type { LatencyBuckets, NodeStats } from "../wire/types.ts";
import { get } from "./api.ts";
import { fill, h } from "./dom.ts";
import type { Page } from "./page.ts";

/** Seconds between samples. */
const SAMPLE_MS = 1000;
/** Samples kept: five minutes. */
const RING = 300;

/** One interval between two samples. */
export interface Point {
  /** Its end, ms since the epoch (the node's clock). */
  t: number;
  /** Writes per second. */
  writes: number;
  /** Reads per second. */
  reads: number;
  /** Median latency in ms (null: no request). */
  p50: number | null;
  /** 99th percentile latency in ms (null: no request). */
  p99: number | null;
  /** Leader changes in the interval. */
  leaderChanges: number;
}

/**
 * The `q` quantile (0..1) of the requests between two cumulative bucket
 * readings, interpolated within its bucket as Prometheus'
 * `histogram_quantile` does; in seconds, or null without requests.
 */
export function quantile(
  q: number,
  before: LatencyBuckets,
  after: LatencyBuckets,
): number | null {
  const total = after.count - before.count;
  if (total <= 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < after.bounds.length; i++) {
    const c = after.buckets[i] - (before.buckets[i] ?? 0);
    if (c >= rank) {
      const width = after.bounds[i] - prevBound;
      const inBucket = c - prevCount;
      return prevBound +
        (inBucket > 0 ? width * (rank - prevCount) / inBucket : 0);
    }
    prevBound = after.bounds[i];
    prevCount = c;
  }
  // In the +Inf bucket: the largest bound is all that is known.
  return prevBound;
}

/** Samples `GET /v1/stats` every second into a ring of points. */
export class Sampler {
  /** The points, oldest first. */
  readonly points: Point[] = [];
  #last: NodeStats | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #listeners = new Set<() => void>();
  /** The last failure, if the latest sample failed. */
  error: Error | undefined;

  /** Starts sampling. */
  start(): void {
    const tick = async () => {
      try {
        this.#add(await get<NodeStats>("/v1/stats"));
        this.error = undefined;
      } catch (e) {
        this.error = e as Error;
      }
      for (const f of this.#listeners) f();
      this.#timer = setTimeout(tick, SAMPLE_MS);
    };
    tick();
  }

  /** Stops sampling. */
  stop(): void {
    clearTimeout(this.#timer);
  }

  /** Calls `f` after each sample until the returned function is called. */
  listen(f: () => void): () => void {
    this.#listeners.add(f);
    return () => this.#listeners.delete(f);
  }

  #add(s: NodeStats): void {
    const p = this.#last;
    this.#last = s;
    // A restarted node's counters start again: no point across it.
    if (!p || p.id !== s.id || s.reads < p.reads || s.writes < p.writes) {
      return;
    }
    const dt = Math.max(0.001, (s.time - p.time) / 1000);
    const ms = (v: number | null) => v === null ? null : v * 1000;
    this.points.push({
      t: s.time,
      writes: (s.writes - p.writes) / dt,
      reads: (s.reads - p.reads) / dt,
      p50: ms(quantile(0.5, p.latency, s.latency)),
      p99: ms(quantile(0.99, p.latency, s.latency)),
      leaderChanges: s.leaderChanges - p.leaderChanges,
    });
    if (this.points.length > RING) this.points.shift();
  }
}

const W = 640;
const H = 160;
const PAD = 36;
const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function nice(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** One chart: series of `points` drawn as lines (or bars) over 5 minutes. */
function chart(
  title: string,
  unit: string,
  points: Point[],
  series: { name: string; cls: string; value: (p: Point) => number | null }[],
  bars = false,
): HTMLElement {
  const now = points.length ? points[points.length - 1].t : Date.now();
  const t0 = now - RING * SAMPLE_MS;
  let max = 0;
  for (const p of points) {
    for (const s of series) max = Math.max(max, s.value(p) ?? 0);
  }
  const top = max > 0 ? max * 1.1 : 1;
  const x = (t: number) => PAD + (W - PAD - 4) * (t - t0) / (now - t0 || 1);
  const y = (v: number) => H - 18 - (H - 28) * v / top;
  const g = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": title,
  });
  g.append(
    svg("line", { x1: PAD, y1: y(0), x2: W - 4, y2: y(0), class: "axis" }),
  );
  g.append(
    svg("line", { x1: PAD, y1: y(top), x2: PAD, y2: y(0), class: "axis" }),
  );
  const label = (text: string, ax: number, ay: number, anchor = "end") => {
    const t = svg("text", { x: ax, y: ay, "text-anchor": anchor });
    t.textContent = text;
    g.append(t);
  };
  label(nice(top), PAD - 4, y(top) + 10);
  label("0", PAD - 4, y(0));
  label("-5 min", PAD, H - 4, "start");
  label("now", W - 4, H - 4);
  for (const s of series) {
    if (bars) {
      for (const p of points) {
        const v = s.value(p) ?? 0;
        if (v <= 0) continue;
        g.append(svg("rect", {
          x: x(p.t) - 2,
          y: y(v),
          width: 4,
          height: y(0) - y(v),
          class: s.cls,
        }));
      }
      continue;
    }
    let d = "";
    let pen = false;
    for (const p of points) {
      const v = s.value(p);
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${x(p.t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    if (d) g.append(svg("path", { d, class: `line ${s.cls}` }));
  }
  const last = points[points.length - 1];
  return h(
    "figure",
    { class: "chart-box" },
    h(
      "figcaption",
      {},
      h("strong", {}, title),
      " ",
      series.map((s) =>
        h(
          "span",
          { class: `legend ${s.cls}` },
          `${s.name} ${
            last && s.value(last) !== null ? nice(s.value(last)!) : "—"
          } ${unit} `,
        )
      ),
    ),
    g as unknown as HTMLElement,
  );
}

/** The charts page over the console's sampler. */
export function chartsPage(sampler: Sampler): Page {
  return {
    id: "charts",
    title: "Charts",
    mount(root) {
      const body = h("div", { id: "charts" });
      const status = h("p", { class: "summary" });
      fill(
        root,
        h("h2", {}, "Charts (this node, last 5 minutes)"),
        status,
        body,
      );
      const draw = () => {
        const pts = sampler.points;
        fill(
          status,
          sampler.error
            ? `Sampling failed: ${sampler.error.message}`
            : `${pts.length} samples, one a second`,
        );
        fill(
          body,
          chart("Writes", "/s", pts, [
            { name: "writes", cls: "s1", value: (p) => p.writes },
          ]),
          chart("Reads", "/s", pts, [
            { name: "reads", cls: "s2", value: (p) => p.reads },
          ]),
          chart("Latency", "ms", pts, [
            { name: "p50", cls: "s1", value: (p) => p.p50 },
            { name: "p99", cls: "s3", value: (p) => p.p99 },
          ]),
          chart("Leader changes", "", pts, [
            { name: "changes", cls: "s3", value: (p) => p.leaderChanges },
          ], true),
        );
      };
      draw();
      return sampler.listen(draw);
    },
  };
}
