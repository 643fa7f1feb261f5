/**
 * A small Prometheus registry: counters, gauges and histograms rendered in
 * the text exposition format at `GET /metrics`.
 *
 * @module
 */

type Labels = Record<string, string>;

// Runs for every observation (every HTTP request), so it builds the key
// in one pass and escapes only what needs it.
function labelKey(labels: Labels | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  if (keys.length > 1) keys.sort();
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const v = labels[keys[i]];
    out += `${i ? "," : ""}${keys[i]}="${
      NEEDS_ESCAPE.test(v) ? escapeLabel(v) : v
    }"`;
  }
  return out + "}";
}

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A monotonically increasing count. */
export class Counter {
  readonly #values = new Map<string, number>();
  /** Name and help text. */
  constructor(readonly name: string, readonly help: string) {}
  /** Adds `n` (default 1). */
  inc(labels?: Labels, n = 1): void {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + n);
  }
  /** The count of one label set (0 when never raised). */
  get(labels?: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  /** Renders the exposition lines. */
  render(): string {
    const lines = [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} counter`,
    ];
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.#values) lines.push(`${this.name}${k} ${v}`);
    return lines.join("\n");
  }
}

/** A value read when scraped. */
export class Gauge {
  /** Name, help text and the function giving the current value. */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number,
  ) {}
  /** Renders the exposition lines. */
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.read()}`;
  }
}

/** One labelled series of a {@linkcode Histogram}, read-only. */
export interface HistogramSeries {
  /** Its labels. */
  readonly labels: Readonly<Labels>;
  /** Observations at or below each bound (cumulative), one per bound. */
  readonly buckets: readonly number[];
  /** Sum of the observations, in seconds. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/** Observations counted into fixed buckets (seconds). */
export class Histogram {
  readonly #series = new Map<
    string,
    { labels: Labels; buckets: number[]; sum: number; count: number }
  >();
  /** Name, help text and bucket upper bounds in seconds. */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[] = [
      0.0005,
      0.001,
      0.0025,
      0.005,
      0.01,
      0.025,
      0.05,
      0.1,
      0.25,
      0.5,
      1,
      2.5,
      5,
    ],
  ) {}
  /** Records one observation of `seconds`. */
  observe(seconds: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = {
        labels: { ...labels },
        buckets: new Array(this.bounds.length).fill(0),
        sum: 0,
        count: 0,
      };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.bounds.length; i++) {
      if (seconds <= this.bounds[i]) s.buckets[i]++;
    }
    s.sum += seconds;
    s.count++;
  }
  /**
   * Each series as it stands: its labels, cumulative bucket counts (one per
   * bound), sum and count. For readers in the process (`GET /v1/stats`).
   */
  *series(): IterableIterator<HistogramSeries> {
    for (const s of this.#series.values()) {
      yield {
        labels: s.labels,
        buckets: s.buckets,
        sum: s.sum,
        count: s.count,
      };
    }
  }
  /** Renders the exposition lines. */
  render(): string {
    const lines = [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} histogram`,
    ];
    for (const [k, s] of this.#series) {
      const inner = k ? k.slice(1, -1) + "," : "";
      for (let i = 0; i < this.bounds.length; i++) {
        lines.push(
          `${this.name}_bucket{${inner}le="${this.bounds[i]}"} ${s.buckets[i]}`,
        );
      }
      lines.push(`${this.name}_bucket{${inner}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k} ${s.sum}`);
      lines.push(`${this.name}_count${k} ${s.count}`);
    }
    return lines.join("\n");
  }
}

/**
 * The process's memory as `Deno.memoryUsage()` reports it, one gauge per
 * field, read once per scrape: `rss` against `heap_total` and `external`
 * tells whether memory sits in the V8 heap, in buffers outside it, or in
 * allocator overhead the heap does not see.
 */
export class ProcessMemory {
  /** Prefix of the gauge names (default `process_memory`). */
  constructor(readonly prefix = "process_memory") {}
  /** Renders the exposition lines. */
  render(): string {
    const m = Deno.memoryUsage();
    const fields: [string, number, string][] = [
      ["rss_bytes", m.rss, "Resident set size"],
      ["heap_total_bytes", m.heapTotal, "V8 heap reserved"],
      ["heap_used_bytes", m.heapUsed, "V8 heap in use"],
      [
        "external_bytes",
        m.external,
        "Memory outside the V8 heap held by JS objects (ArrayBuffers)",
      ],
    ];
    return fields.map(([n, v, help]) =>
      `# HELP ${this.prefix}_${n} ${help}\n# TYPE ${this.prefix}_${n} gauge\n${this.prefix}_${n} ${v}`
    ).join("\n");
  }
}

/** A set of metrics rendered together. */
export class Registry {
  readonly #metrics: { render(): string }[] = [];
  /** Adds a metric and returns it. */
  add<T extends { render(): string }>(m: T): T {
    this.#metrics.push(m);
    return m;
  }
  /** The whole exposition text. */
  render(): string {
    return this.#metrics.map((m) => m.render()).join("\n") + "\n";
  }
}
