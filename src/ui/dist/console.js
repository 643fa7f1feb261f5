// src/ui/api.ts
var TOKEN_KEY = "raftlock.token";
function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}
function setToken(t) {
  if (t === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, t);
}
var ApiFailure = class extends Error {
  /** The HTTP status (0: the node did not answer). */
  status;
  /** The error code (`conflict`, `permission_denied`...). */
  code;
  /** The whole body (`current` of a conflict, `holder` of lock_held). */
  body;
  /** Wraps a failed answer. */
  constructor(status, body) {
    const e = body.error;
    super(e?.message ?? `HTTP ${status}`);
    this.name = "ApiFailure";
    this.status = status;
    this.code = e?.code ?? "internal";
    this.body = body;
  }
};
var onUnauthenticated = () => {
};
function whenUnauthenticated(f) {
  onUnauthenticated = f;
}
function headers(json) {
  const hs = {};
  if (json) hs["content-type"] = "application/json";
  const t = token();
  if (t) hs.authorization = `Bearer ${t}`;
  return hs;
}
var CLIENT = `console-${crypto.randomUUID().slice(0, 13)}`;
var sequence = 0;
var IDEMPOTENT = /^\/v1\/(kv|txn|leases|locks|elections|semaphores|rwlocks)(\/|$|\?)/;
var ATTEMPTS = 5;
async function once(method, path, body, requestId) {
  const hs = headers(body !== void 0);
  if (requestId) hs["x-request-id"] = requestId;
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: hs,
      body: body === void 0 ? void 0 : JSON.stringify(body)
    });
  } catch (e) {
    return {
      status: 0,
      json: {
        error: {
          code: "unavailable",
          message: e.message
        }
      }
    };
  }
  const text = await r.text();
  try {
    return {
      status: r.status,
      json: text ? JSON.parse(text) : {}
    };
  } catch {
    return {
      status: r.status,
      json: {
        error: {
          code: "internal",
          message: text.slice(0, 200)
        }
      }
    };
  }
}
async function call(method, path, body) {
  const read = method === "GET";
  const retriable = read || IDEMPOTENT.test(path);
  const requestId = !read && retriable ? `${CLIENT}/${++sequence}` : void 0;
  let a = await once(method, path, body, requestId);
  for (let i = 1; i < ATTEMPTS && retriable; i++) {
    if (a.status !== 0 && a.status !== 503 && a.status !== 504) break;
    await new Promise((r) => setTimeout(r, 250 * i));
    a = await once(method, path, body, requestId);
  }
  if (a.status < 200 || a.status >= 300) {
    if (a.status === 401) onUnauthenticated();
    throw new ApiFailure(a.status, a.json);
  }
  return a.json;
}
function get(path) {
  return call("GET", path);
}
function keyPath(key) {
  return key.split("/").map(encodeURIComponent).join("/");
}
async function stream(path, handlers, signal) {
  const r = await fetch(path, {
    headers: headers(false),
    signal
  });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) onUnauthenticated();
    throw new ApiFailure(r.status, body);
  }
  handlers.onOpen?.();
  const onEvent = handlers.onEvent;
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (; ; ) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const e = parseBlock(block);
        if (e) onEvent(e);
      }
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  } finally {
    reader.releaseLock();
  }
}
function parseBlock(block) {
  let event = "message";
  let id;
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (data.length === 0) return void 0;
  try {
    return {
      event,
      id,
      data: JSON.parse(data.join("\n"))
    };
  } catch {
    return {
      event,
      id,
      data: {
        text: data.join("\n")
      }
    };
  }
}

// src/ui/dom.ts
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === void 0 || v === false) continue;
    if (typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === "value" && "value" in el) {
      el.value = String(v);
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === void 0 || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
}
function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
function confirmAction(question) {
  const dialog = document.getElementById("confirm");
  fill(dialog.querySelector(".question"), question);
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true
    });
  });
}
function notice(text, kind = "info") {
  const box = document.getElementById("notices");
  const n = h("div", {
    class: `notice ${kind}`,
    role: "status"
  }, text);
  box.append(n);
  setTimeout(() => n.remove(), kind === "error" ? 8e3 : 4e3);
}
function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
function table(head, rows, empty = "None") {
  if (rows.length === 0) return h("p", {
    class: "empty"
  }, empty);
  return h("table", {}, h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))), h("tbody", {}, rows));
}

// src/ui/charts.ts
var SAMPLE_MS = 1e3;
var RING = 300;
function quantile(q, before, after) {
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
      return prevBound + (inBucket > 0 ? width * (rank - prevCount) / inBucket : 0);
    }
    prevBound = after.bounds[i];
    prevCount = c;
  }
  return prevBound;
}
var Sampler = class {
  /** The points, oldest first. */
  points = [];
  #last;
  #timer;
  #listeners = /* @__PURE__ */ new Set();
  /** The last failure, if the latest sample failed. */
  error;
  /** Starts sampling. */
  start() {
    const tick = async () => {
      try {
        this.#add(await get("/v1/stats"));
        this.error = void 0;
      } catch (e) {
        this.error = e;
      }
      for (const f of this.#listeners) f();
      this.#timer = setTimeout(tick, SAMPLE_MS);
    };
    tick();
  }
  /** Stops sampling. */
  stop() {
    clearTimeout(this.#timer);
  }
  /** Calls `f` after each sample until the returned function is called. */
  listen(f) {
    this.#listeners.add(f);
    return () => this.#listeners.delete(f);
  }
  #add(s) {
    const p = this.#last;
    this.#last = s;
    if (!p || p.id !== s.id || s.reads < p.reads || s.writes < p.writes) {
      return;
    }
    const dt = Math.max(1e-3, (s.time - p.time) / 1e3);
    const ms = (v) => v === null ? null : v * 1e3;
    this.points.push({
      t: s.time,
      writes: (s.writes - p.writes) / dt,
      reads: (s.reads - p.reads) / dt,
      p50: ms(quantile(0.5, p.latency, s.latency)),
      p99: ms(quantile(0.99, p.latency, s.latency)),
      leaderChanges: s.leaderChanges - p.leaderChanges
    });
    if (this.points.length > RING) this.points.shift();
  }
};
var W = 640;
var H = 160;
var PAD = 36;
var SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}
function nice(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
function chart(title, unit, points, series, bars = false) {
  const now = points.length ? points[points.length - 1].t : Date.now();
  const t0 = now - RING * SAMPLE_MS;
  let max = 0;
  for (const p of points) {
    for (const s of series) max = Math.max(max, s.value(p) ?? 0);
  }
  const top = max > 0 ? max * 1.1 : 1;
  const x = (t) => PAD + (W - PAD - 4) * (t - t0) / (now - t0 || 1);
  const y = (v) => H - 18 - (H - 28) * v / top;
  const g = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": title
  });
  g.append(svg("line", {
    x1: PAD,
    y1: y(0),
    x2: W - 4,
    y2: y(0),
    class: "axis"
  }));
  g.append(svg("line", {
    x1: PAD,
    y1: y(top),
    x2: PAD,
    y2: y(0),
    class: "axis"
  }));
  const label = (text, ax, ay, anchor = "end") => {
    const t = svg("text", {
      x: ax,
      y: ay,
      "text-anchor": anchor
    });
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
          class: s.cls
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
    if (d) g.append(svg("path", {
      d,
      class: `line ${s.cls}`
    }));
  }
  const last = points[points.length - 1];
  return h("figure", {
    class: "chart-box"
  }, h("figcaption", {}, h("strong", {}, title), " ", series.map((s) => h("span", {
    class: `legend ${s.cls}`
  }, `${s.name} ${last && s.value(last) !== null ? nice(s.value(last)) : "\u2014"} ${unit} `))), g);
}
function chartsPage(sampler2) {
  return {
    id: "charts",
    title: "Charts",
    mount(root) {
      const body = h("div", {
        id: "charts"
      });
      const status = h("p", {
        class: "summary"
      });
      fill(root, h("h2", {}, "Charts (this node, last 5 minutes)"), status, body);
      const draw = () => {
        const pts = sampler2.points;
        fill(status, sampler2.error ? `Sampling failed: ${sampler2.error.message}` : `${pts.length} samples, one a second`);
        fill(body, chart("Writes", "/s", pts, [
          {
            name: "writes",
            cls: "s1",
            value: (p) => p.writes
          }
        ]), chart("Reads", "/s", pts, [
          {
            name: "reads",
            cls: "s2",
            value: (p) => p.reads
          }
        ]), chart("Latency", "ms", pts, [
          {
            name: "p50",
            cls: "s1",
            value: (p) => p.p50
          },
          {
            name: "p99",
            cls: "s3",
            value: (p) => p.p99
          }
        ]), chart("Leader changes", "", pts, [
          {
            name: "changes",
            cls: "s3",
            value: (p) => p.leaderChanges
          }
        ], true));
      };
      draw();
      return sampler2.listen(draw);
    }
  };
}

// src/ui/page.ts
function poll(tick, ms) {
  let stopped = false;
  let timer;
  const run = async () => {
    try {
      await tick();
    } catch (e) {
      console.error(e);
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
function failure(e) {
  if (e instanceof ApiFailure && e.status === 403) {
    return h("p", {
      class: "denied"
    }, "Not permitted for this login");
  }
  return h("p", {
    class: "error"
  }, e.message);
}

// src/ui/cluster.ts
var EVERY_MS = 1e3;
function lagOf(m, commit) {
  if (!m.status) return "\u2014";
  return String(Math.max(0, commit - m.status.applied));
}
async function act(question, f) {
  if (!await confirmAction(question)) return;
  try {
    await f();
    notice("Done");
  } catch (e) {
    notice(e.message, "error");
  }
}
function row(m, c, commit) {
  const s = m.status;
  const healthy = s !== null;
  const leader = m.id === c.leader;
  const actions = [];
  if (m.role === "voter" && !leader) {
    actions.push(h("button", {
      class: "transfer",
      onclick: () => act(`Move leadership from ${c.leader || "(none)"} to ${m.id}?`, () => call("POST", "/v1/cluster/leader", {
        to: m.id
      }))
    }, "Make leader"));
  }
  if (m.role === "learner") {
    actions.push(h("button", {
      class: "promote",
      onclick: () => act(`Promote learner ${m.id} to voter?`, () => call("POST", `/v1/cluster/members/${m.id}/promote`))
    }, "Promote"));
  }
  actions.push(h("button", {
    class: "remove danger",
    onclick: () => act(`Remove ${m.id} from the cluster?`, () => call("DELETE", `/v1/cluster/members/${m.id}`))
  }, "Remove"));
  return h("tr", {
    "data-member": m.id,
    "data-health": healthy ? "healthy" : "unhealthy",
    "data-role": s?.role ?? "",
    class: leader ? "leader" : ""
  }, h("td", {}, m.id, leader ? h("span", {
    class: "badge"
  }, "leader") : null), h("td", {
    class: "role"
  }, s?.role ?? "\u2014"), h("td", {}, m.role), h("td", {}, s ? String(s.term) : "\u2014"), h("td", {}, s ? String(s.commit) : "\u2014"), h("td", {}, s ? String(s.applied) : "\u2014"), h("td", {
    class: "lag"
  }, lagOf(m, commit)), h("td", {
    class: "health",
    title: m.error ?? ""
  }, h("span", {
    class: healthy ? "ok" : "bad"
  }, healthy ? "healthy" : "unhealthy"), m.error ? h("small", {}, ` ${m.error}`) : null), h("td", {}, m.httpAddress ?? "\u2014"), h("td", {
    class: "actions"
  }, actions));
}
function addForm() {
  const id = h("input", {
    name: "id",
    placeholder: "n4",
    required: true
  });
  const peer = h("input", {
    name: "peer",
    placeholder: "10.0.0.4:7001",
    required: true
  });
  const http = h("input", {
    name: "http",
    placeholder: "10.0.0.4:8001"
  });
  const form = h("form", {
    class: "inline",
    onsubmit: (e) => {
      e.preventDefault();
      const body = {
        id: id.value.trim(),
        peerAddress: peer.value.trim(),
        learner: true
      };
      if (http.value.trim()) body.httpAddress = http.value.trim();
      act(`Add ${body.id} at ${body.peerAddress} as a learner?`, () => call("POST", "/v1/cluster/members", body));
    }
  }, h("label", {}, "id ", id), h("label", {}, "peer address ", peer), h("label", {}, "HTTP address ", http), h("button", {
    type: "submit"
  }, "Add learner"));
  return h("section", {}, h("h3", {}, "Add a member"), form);
}
var clusterPage = {
  id: "cluster",
  title: "Cluster",
  mount(root) {
    const summary = h("p", {
      class: "summary"
    });
    const members = h("div", {
      id: "members"
    });
    fill(root, h("h2", {}, "Cluster"), summary, members, addForm());
    let shown = "";
    return poll(async () => {
      let c;
      try {
        c = await get("/v1/cluster/status");
      } catch (e) {
        shown = "";
        fill(members, failure(e));
        return;
      }
      const now = JSON.stringify(c);
      if (now === shown) return;
      shown = now;
      const commit = Math.max(0, ...c.members.map((m) => m.status?.commit ?? 0));
      const healthy = c.members.filter((m) => m.status).length;
      fill(summary, "Leader ", h("strong", {
        id: "leader"
      }, c.leader || "none"), ` \xB7 term ${c.term} \xB7 ${healthy}/${c.members.length} members healthy \xB7 seen from ${c.id}`);
      fill(members, table([
        "member",
        "role",
        "kind",
        "term",
        "commit",
        "applied",
        "lag",
        "health",
        "HTTP",
        ""
      ], c.members.map((m) => row(m, c, commit))));
    }, EVERY_MS);
  }
};

// src/ui/keys.ts
var TAIL_MAX = 200;
function treeOf(kvs) {
  const root = {
    children: /* @__PURE__ */ new Map()
  };
  for (const kv of kvs) {
    const parts = kv.key.split("/");
    let node = root;
    parts.forEach((p, i) => {
      const name = i < parts.length - 1 ? `${p}/` : p;
      let next = node.children.get(name);
      if (!next) {
        next = {
          children: /* @__PURE__ */ new Map()
        };
        node.children.set(name, next);
      }
      node = next;
    });
    node.key = kv;
  }
  return root;
}
function renderTree(node, select) {
  const ul = h("ul", {
    class: "tree"
  });
  for (const [name, child] of node.children) {
    const li = h("li");
    if (child.key) {
      li.append(h("a", {
        href: "#/keys",
        class: "key",
        "data-key": child.key.key,
        onclick: (e) => {
          e.preventDefault();
          select(child.key.key);
        }
      }, name));
    }
    if (child.children.size > 0) {
      li.append(h("details", {
        open: true
      }, h("summary", {}, name.endsWith("/") ? name : `${name}/`), renderTree(child, select)));
    }
    ul.append(li);
  }
  return ul;
}
var keysPage = {
  id: "keys",
  title: "Keys",
  mount(root) {
    const prefix = h("input", {
      id: "prefix",
      placeholder: "prefix (all keys)"
    });
    const tree = h("div", {
      id: "tree"
    });
    const editor = h("div", {
      id: "editor"
    }, h("p", {
      class: "empty"
    }, "Pick a key"));
    const tailPrefix = h("input", {
      id: "watch-prefix",
      placeholder: "prefix to watch (all keys)"
    });
    const tailToggle = h("button", {
      id: "watch-toggle"
    }, "Start tail");
    const tailState = h("span", {
      id: "watch-state"
    }, "stopped");
    const tail = h("ol", {
      id: "tail",
      reversed: true
    });
    let watch;
    let current;
    const list = async () => {
      try {
        const r = await get(`/v1/kv?prefix=${encodeURIComponent(prefix.value)}`);
        fill(tree, h("p", {
          class: "summary"
        }, `${r.kvs.length} keys${r.more ? " (first page)" : ""} at revision ${r.revision}`), renderTree(treeOf(r.kvs), select));
      } catch (e) {
        fill(tree, failure(e));
      }
    };
    const showConflict = (box, key, cur) => {
      fill(box, h("strong", {}, "Conflict: "), cur ? `${key} was changed elsewhere (now mod revision ${cur.modRevision}, version ${cur.version}). Its value now: ` : `${key} was deleted elsewhere.`, cur ? h("code", {
        class: "current"
      }, cur.value) : null, " ", h("button", {
        class: "reload",
        onclick: () => select(key)
      }, "Reload"));
      box.hidden = false;
    };
    const select = async (key) => {
      current = key;
      let kv;
      try {
        kv = await get(`/v1/kv/${keyPath(key)}`);
      } catch (e) {
        fill(editor, failure(e));
        return;
      }
      if (current !== key) return;
      const value = h("textarea", {
        id: "value",
        rows: 6
      });
      value.value = kv.value;
      const conflict = h("div", {
        id: "conflict",
        class: "conflict",
        hidden: true
      });
      const save = async () => {
        try {
          const r = await call("PUT", `/v1/kv/${keyPath(key)}`, {
            value: value.value,
            ifModRevision: kv.modRevision
          });
          notice(`Saved ${key} at revision ${r.revision}`);
          await Promise.all([
            select(key),
            list()
          ]);
        } catch (e) {
          if (e instanceof ApiFailure && e.code === "conflict") {
            showConflict(conflict, key, e.body.current ?? null);
          } else notice(e.message, "error");
        }
      };
      const remove = async () => {
        if (!await confirmAction(`Delete ${key}?`)) return;
        try {
          await call("DELETE", `/v1/kv/${keyPath(key)}?ifModRevision=${kv.modRevision}`);
          notice(`Deleted ${key}`);
          fill(editor, h("p", {
            class: "empty"
          }, "Pick a key"));
          await list();
        } catch (e) {
          if (e instanceof ApiFailure && e.code === "conflict") {
            showConflict(conflict, key, e.body.current ?? null);
          } else notice(e.message, "error");
        }
      };
      fill(editor, h("h3", {
        id: "key-name"
      }, key), h("dl", {
        class: "revisions",
        "data-mod-revision": kv.modRevision
      }, h("dt", {}, "create revision"), h("dd", {}, String(kv.createRevision)), h("dt", {}, "mod revision"), h("dd", {
        id: "mod-revision"
      }, String(kv.modRevision)), h("dt", {}, "version"), h("dd", {}, String(kv.version)), h("dt", {}, "lease"), h("dd", {}, kv.lease ? String(kv.lease) : "\u2014")), value, h("div", {
        class: "buttons"
      }, h("button", {
        id: "save",
        onclick: save
      }, "Save (if unchanged)"), h("button", {
        id: "reload",
        onclick: () => select(key)
      }, "Reload"), h("button", {
        id: "delete",
        class: "danger",
        onclick: remove
      }, "Delete")), conflict);
    };
    const newKey = h("input", {
      id: "new-key",
      placeholder: "key",
      required: true
    });
    const newValue = h("input", {
      id: "new-value",
      placeholder: "value"
    });
    const create = h("form", {
      class: "inline",
      onsubmit: async (e) => {
        e.preventDefault();
        const key = newKey.value.trim();
        try {
          await call("PUT", `/v1/kv/${keyPath(key)}`, {
            value: newValue.value,
            ifVersion: 0
          });
          notice(`Created ${key}`);
          newKey.value = "";
          newValue.value = "";
          await list();
          await select(key);
        } catch (err) {
          notice(err instanceof ApiFailure && err.code === "conflict" ? `${key} exists already` : err.message, "error");
        }
      }
    }, newKey, newValue, h("button", {
      id: "create",
      type: "submit"
    }, "Create"));
    const startTail = () => {
      watch?.abort();
      const ctl = new AbortController();
      watch = ctl;
      const p = tailPrefix.value;
      tailToggle.textContent = "Stop tail";
      fill(tailState, "connecting");
      tailState.dataset.state = "connecting";
      const onOpen = () => {
        fill(tailState, `watching ${p || "all keys"}`);
        tailState.dataset.state = "open";
      };
      stream(`/v1/watch?prefix=${encodeURIComponent(p)}`, {
        onOpen,
        onEvent: (e) => {
          if (e.event !== "put" && e.event !== "delete") {
            if (e.event === "error" || e.event === "compacted") {
              notice(`Watch ended: ${JSON.stringify(e.data)}`, "error");
            }
            return;
          }
          const d = e.data;
          tail.prepend(h("li", {
            class: e.event,
            "data-key": d.key,
            "data-revision": d.revision
          }, h("span", {
            class: "time"
          }, (/* @__PURE__ */ new Date()).toLocaleTimeString()), ` ${e.event} `, h("strong", {}, d.key), e.event === "put" ? h("span", {
            class: "value"
          }, ` = ${d.value}`) : null, ` @${d.revision}`));
          while (tail.children.length > TAIL_MAX) {
            tail.lastElementChild.remove();
          }
        }
      }, ctl.signal).then(() => {
        if (watch === ctl) stopTail("ended");
      }).catch((e) => {
        if (watch === ctl) stopTail(e.message);
      });
    };
    const stopTail = (why = "stopped") => {
      watch?.abort();
      watch = void 0;
      tailToggle.textContent = "Start tail";
      fill(tailState, why);
      tailState.dataset.state = "closed";
    };
    tailToggle.addEventListener("click", () => watch ? stopTail() : startTail());
    fill(root, h("h2", {}, "Keys"), h("form", {
      class: "inline",
      onsubmit: (e) => {
        e.preventDefault();
        list();
      }
    }, prefix, h("button", {
      id: "list",
      type: "submit"
    }, "List")), h("div", {
      class: "split"
    }, tree, editor), h("section", {}, h("h3", {}, "New key"), create), h("section", {}, h("h3", {}, "Watch tail"), h("div", {
      class: "inline"
    }, tailPrefix, tailToggle, tailState), tail));
    list();
    return () => watch?.abort();
  }
};

// src/ui/lease_clock.ts
var MAX_LOOKUPS = 100;
async function lookUpLeases(ids) {
  const unique = [
    ...new Set(ids)
  ].slice(0, MAX_LOOKUPS);
  const out = /* @__PURE__ */ new Map();
  await Promise.all(unique.map(async (id) => {
    try {
      out.set(id, await get(`/v1/leases/${id}`));
    } catch {
      out.set(id, void 0);
    }
  }));
  return out;
}
function leaseCell(id, leases) {
  const l = leases.get(id);
  const span = h("span", {
    class: "lease",
    "data-lease": id
  }, `#${id} `);
  if (l && l.remaining !== null) {
    span.append(h("span", {
      class: "ttl",
      "data-expires": Date.now() + l.remaining * 1e3,
      title: `ttl ${l.ttl}s`
    }, duration(l.remaining)));
    span.append(h("small", {}, ` / ${l.ttl}s`));
  }
  return span;
}
function startCountdowns(root) {
  const timer = setInterval(() => {
    for (const el of root.querySelectorAll(".ttl[data-expires]")) {
      const left = (Number(el.dataset.expires) - Date.now()) / 1e3;
      el.textContent = left > 0 ? duration(left) : "expiring";
    }
  }, 250);
  return () => clearInterval(timer);
}

// src/ui/leases.ts
var EVERY_MS2 = 2e3;
var leasesPage = {
  id: "leases",
  title: "Leases",
  mount(root) {
    const body = h("div", {
      id: "leases"
    });
    fill(root, h("h2", {}, "Leases"), body);
    const stopPoll = poll(async () => {
      let leases;
      try {
        leases = (await get("/v1/leases")).leases;
      } catch (e) {
        fill(body, failure(e));
        return;
      }
      const info = await lookUpLeases(leases.map((l) => l.id));
      fill(body, table([
        "lease (time left / ttl)",
        "keys",
        "locks",
        ""
      ], leases.map((l) => {
        const i = info.get(l.id);
        return h("tr", {
          "data-lease": l.id
        }, h("td", {}, leaseCell(l.id, info)), h("td", {}, i ? i.keys.join(", ") || "\u2014" : "?"), h("td", {}, i ? i.locks.join(", ") || "\u2014" : "?"), h("td", {}, h("button", {
          class: "danger",
          onclick: async () => {
            if (!await confirmAction(`Revoke lease ${l.id}? Its keys are deleted and its locks released.`)) return;
            try {
              await call("DELETE", `/v1/leases/${l.id}`);
              notice(`Revoked ${l.id}`);
            } catch (e) {
              notice(e.message, "error");
            }
          }
        }, "Revoke")));
      }), "No leases"));
    }, EVERY_MS2);
    const stopClock = startCountdowns(root);
    return () => {
      stopPoll();
      stopClock();
    };
  }
};

// src/ui/locks.ts
var EVERY_MS3 = 2e3;
async function listed(path, field) {
  try {
    return (await get(path))[field];
  } catch (e) {
    return e;
  }
}
function waitersCell(waiters) {
  if (typeof waiters === "number") return h("span", {}, String(waiters));
  const list = waiters;
  if (list.length === 0) return h("span", {}, "0");
  return h("ol", {
    class: "waiters"
  }, list.map((w) => h("li", {}, w.owner || "(no owner)", w.mode ? ` ${w.mode}` : null, w.permits ? ` \xD7${w.permits}` : null, w.lease ? ` lease #${w.lease}` : null)));
}
function section(title, id, items, head, row2) {
  return h("section", {
    id
  }, h("h3", {}, title), items instanceof Error ? failure(items) : table(head, items.map(row2)));
}
function render(root, data, leases) {
  fill(root, section("Locks", "locks", data.locks, [
    "name",
    "holder",
    "token",
    "lease (time left)",
    "waiters"
  ], (l) => h("tr", {
    "data-name": l.name
  }, h("td", {}, l.name), h("td", {}, l.holder ? l.holder.owner || "(no owner)" : "free"), h("td", {}, l.holder ? String(l.holder.token) : "\u2014"), h("td", {}, l.holder ? leaseCell(l.holder.lease, leases) : "\u2014"), h("td", {}, waitersCell(l.waiters)))), section("Elections", "elections", data.elections, [
    "name",
    "leader's value",
    "token",
    "lease (time left)",
    "candidates waiting"
  ], (e) => h("tr", {
    "data-name": e.name
  }, h("td", {}, e.name), h("td", {}, e.leader ? e.leader.value : "nobody leads"), h("td", {}, e.leader ? String(e.leader.token) : "\u2014"), h("td", {}, e.leader ? leaseCell(e.leader.lease, leases) : "\u2014"), h("td", {}, String(e.candidates)))), section("Semaphores", "semaphores", data.semaphores, [
    "name",
    "permits held / limit",
    "holders (token, owner, permits, lease)",
    "waiters in order"
  ], (s) => h("tr", {
    "data-name": s.name
  }, h("td", {}, s.name), h("td", {}, `${s.held} / ${s.limit}`), h("td", {}, h("ul", {
    class: "holders"
  }, s.holders.map((x) => h("li", {}, `${x.token} ${x.owner || "(no owner)"} \xD7${x.permits} `, leaseCell(x.lease, leases))))), h("td", {}, waitersCell(s.waiters)))), section("Read-write locks", "rwlocks", data.rwlocks, [
    "name",
    "mode",
    "holders (token, owner, mode, lease)",
    "waiters in order"
  ], (l) => h("tr", {
    "data-name": l.name
  }, h("td", {}, l.name), h("td", {}, l.mode ?? "free"), h("td", {}, h("ul", {
    class: "holders"
  }, l.holders.map((x) => h("li", {}, `${x.token} ${x.owner || "(no owner)"} ${x.mode} `, leaseCell(x.lease, leases))))), h("td", {}, waitersCell(l.waiters)))));
}
var locksPage = {
  id: "locks",
  title: "Locks",
  mount(root) {
    const body = h("div");
    fill(root, h("h2", {}, "Locks, elections, semaphores, read-write locks"), body);
    const stopPoll = poll(async () => {
      const [locks, elections, semaphores, rwlocks] = await Promise.all([
        listed("/v1/locks", "locks"),
        listed("/v1/elections", "elections"),
        listed("/v1/semaphores", "semaphores"),
        listed("/v1/rwlocks", "rwlocks")
      ]);
      const ids = [];
      if (!(locks instanceof Error)) {
        for (const l of locks) if (l.holder) ids.push(l.holder.lease);
      }
      if (!(elections instanceof Error)) {
        for (const e of elections) if (e.leader) ids.push(e.leader.lease);
      }
      if (!(semaphores instanceof Error)) {
        for (const s of semaphores) {
          for (const x of s.holders) ids.push(x.lease);
        }
      }
      if (!(rwlocks instanceof Error)) {
        for (const l of rwlocks) for (const x of l.holders) ids.push(x.lease);
      }
      const leases = await lookUpLeases(ids);
      render(body, {
        locks,
        elections,
        semaphores,
        rwlocks
      }, leases);
    }, EVERY_MS3);
    const stopClock = startCountdowns(root);
    return () => {
      stopPoll();
      stopClock();
    };
  }
};

// src/ui/main.ts
var sampler = new Sampler();
var PAGES = [
  clusterPage,
  keysPage,
  locksPage,
  leasesPage,
  chartsPage(sampler)
];
var main = document.getElementById("main");
var nav = document.getElementById("nav");
var whoami = document.getElementById("whoami");
var unmount;
var started = false;
function route() {
  const id = location.hash.replace(/^#\/?/, "") || "cluster";
  const page = PAGES.find((p) => p.id === id) ?? PAGES[0];
  unmount?.();
  for (const a of nav.querySelectorAll("a")) {
    a.classList.toggle("active", a.dataset.page === page.id);
  }
  document.title = `${page.title} \xB7 raftlock`;
  unmount = page.mount(main);
}
function showLogin(why) {
  unmount?.();
  unmount = void 0;
  sampler.stop();
  started = false;
  setToken(null);
  fill(nav);
  fill(whoami);
  const user = h("input", {
    id: "login-user",
    autocomplete: "username",
    required: true
  });
  const password = h("input", {
    id: "login-password",
    type: "password",
    autocomplete: "current-password",
    required: true
  });
  const form = h("form", {
    id: "login",
    class: "login",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const t = await call("POST", "/v1/auth/token", {
          user: user.value,
          password: password.value
        });
        setToken(t.token);
        sessionStorage.setItem("raftlock.user", user.value);
        start();
      } catch (err) {
        notice(err.message, "error");
      }
    }
  }, h("h2", {}, "Log in"), why ? h("p", {
    class: "summary"
  }, why) : null, h("label", {}, "User ", user), h("label", {}, "Password ", password), h("button", {
    type: "submit"
  }, "Log in"));
  fill(main, form);
  user.focus();
}
function start() {
  if (started) return;
  started = true;
  fill(nav, PAGES.map((p) => h("a", {
    href: `#/${p.id}`,
    "data-page": p.id,
    id: `nav-${p.id}`
  }, p.title)));
  const user = token() ? sessionStorage.getItem("raftlock.user") : null;
  fill(whoami, user ? `logged in as ${user} ` : "", user ? h("button", {
    id: "logout",
    onclick: () => showLogin("Logged out")
  }, "Log out") : null);
  get("/healthz").then((s) => {
    document.getElementById("node").textContent = `node ${s.id}`;
  }).catch(() => {
  });
  sampler.start();
  route();
}
async function boot() {
  whenUnauthenticated(() => {
    if (started) showLogin("Your login has ended; log in again");
  });
  addEventListener("hashchange", () => {
    if (started) route();
  });
  const auth = await get("/v1/auth/status").catch(() => ({
    enabled: false
  }));
  if (auth.enabled && !token()) showLogin();
  else start();
}
boot();
