// The page of `taskonomy serve`: a form that builds a query for POST api/solve (the options of
// `taskonomy solve`), and shows the answer - supervised set, per-target table, taxonomy graph -
// without reloading. Every number shown comes from the API; nothing is computed here.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {tables: {}, seq: 0, timer: null, urls: {}};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// FastAPI's errors: {"detail": "text"} or {"detail": [{loc, msg, targets?}, ...]}, one line each
function describe(body, status) {
  const d = body && body.detail;
  if (typeof d === "string") return d;
  if (!Array.isArray(d)) return `HTTP ${status}`;
  return d.map((e) => {
    const field = (e.loc || []).filter((x) => x !== "body" && x !== "query").join(".");
    const targets = e.targets ? `\n(targets that cannot be served: ${e.targets.join(", ")})` : "";
    return (field ? `${field}: ` : "") + e.msg + targets;
  }).join("\n");
}

async function call(path, body) {
  const init = body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const r = await fetch(path, init);
  if (!r.ok) {
    let parsed = null;
    try { parsed = await r.json(); } catch (e) { /* not JSON */ }
    throw new Error(describe(parsed, r.status));
  }
  return r;
}

// a blob behind a download link (and an <img>, for figures); the previous one is freed
function offer(key, blob, link, img) {
  if (state.urls[key]) URL.revokeObjectURL(state.urls[key]);
  const url = state.urls[key] = URL.createObjectURL(blob);
  link.href = url;
  link.hidden = false;
  if (img) { img.src = url; img.hidden = false; }
}

const num = (input) => (input.value.trim() === "" ? null : Number(input.value));
const rows = () => Array.from($("tasks").tBodies[0].rows);
const cell = (tr, k) => tr.querySelector(`[data-k="${k}"]`);

function query() {
  const q = {affinities: $("table").value, metric: $("metric").value, targets: [], source_only: [],
             importance: {}, cost: {}};
  const sources = [];
  for (const tr of rows()) {
    const t = tr.dataset.task, target = cell(tr, "target");
    if (target.checked && !target.disabled) q.targets.push(t);
    if (cell(tr, "source_only").checked) q.source_only.push(t);
    if (cell(tr, "source").checked) sources.push(t);
    const r = num(cell(tr, "importance")), l = num(cell(tr, "cost"));
    if (target.checked && !target.disabled && r !== 1) q.importance[t] = r;
    if (l !== 1) q.cost[t] = l;
  }
  if (sources.length < rows().length) q.sources = sources;   // all: the solver's default
  return q;
}

function solveQuery() {
  return {...query(), budget: num($("budget")), max_order: num($("max-order"))};
}

const fmt = (v) => (v === null || v === undefined ? "-" : v.toFixed(3));

// red (0) - white (.5) - blue (1), as the figures' RdBu colour map; white text on the dark ends
function winStyle(v) {
  if (v === null || v === undefined) return "";
  const lo = [178, 24, 43], mid = [247, 247, 247], hi = [33, 102, 172];
  const [a, b, t] = v < 0.5 ? [lo, mid, v / 0.5] : [mid, hi, (v - 0.5) / 0.5];
  const rgb = a.map((x, i) => Math.round(x + (b[i] - x) * t)).join(",");
  return `background:rgb(${rgb})` + (Math.abs(v - 0.5) > 0.3 ? ";color:#fff" : "");
}

function clearAnswer() {
  $("status").textContent = "";
  $("supervised").textContent = "";
  $("targets").tBodies[0].replaceChildren();
  for (const id of ["download-json", "download-png"]) $(id).removeAttribute("href");
  $("taxonomy").removeAttribute("src");
}

function show(p) {
  const q = p.query;
  $("status").textContent = `${p.status}, objective ${p.objective.toFixed(4)}, solved in ` +
    `${p.solve_time_s.toFixed(3)} s (${q.table}, budget ${q.budget}, max order ${q.max_order}, ` +
    `metric ${q.metric}; label cost used ${p.cost_used})`;
  $("supervised").textContent = p.supervised.join(" ");
  $("targets").tBodies[0].replaceChildren(...Object.entries(p.targets).map(([t, c]) => el("tr", {},
    el("td", {}, t + (c.importance !== 1 ? ` (r=${c.importance})` : "")),
    el("td", {}, c.sources[0] === "self" ? "(supervised)" : c.sources.join(" ")),
    el("td", {}, String(c.order)),
    el("td", {}, fmt(c.value)),
    el("td", {style: winStyle(c.gain)}, fmt(c.gain)),
    el("td", {style: winStyle(c.quality)}, fmt(c.quality)))));
}

async function solve() {
  const my = ++state.seq, q = solveQuery();
  $("error").hidden = true;
  document.body.classList.add("busy");
  try {
    const policy = await (await call("api/solve", q)).json();
    if (my !== state.seq) return;
    show(policy);
    offer("json", new Blob([JSON.stringify(policy, null, 2)], {type: "application/json"}), $("download-json"));
    const figure = await (await call(`api/solve/figure?color_by=${$("color-by").value}`, q)).blob();
    if (my !== state.seq) return;
    offer("png", figure, $("download-png"), $("taxonomy"));
  } catch (e) {
    if (my !== state.seq) return;
    clearAnswer();
    $("error").textContent = e.message;
    $("error").hidden = false;
  } finally {
    if (my === state.seq) document.body.classList.remove("busy");
  }
}

function later() {           // solve once the user pauses
  clearTimeout(state.timer);
  state.timer = setTimeout(solve, 350);
}

async function figure(name, request) {
  const err = $(`${name}-error`);
  err.hidden = true;
  try {
    offer(name, await (await request()).blob(), $(`download-${name}`), $(`${name}-img`));
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  }
}

const list = (input) => input.value.split(/[\s,]+/).filter(Boolean).map(Number);

// targets: the table's, not source-only (reset: its default targets checked); metrics the table
// lacks (no Quality/Gain tables) disabled
function useTable(reset) {
  const info = state.tables[$("table").value];
  for (const tr of rows()) {
    const t = tr.dataset.task, target = cell(tr, "target");
    target.disabled = !info.targets.includes(t) || cell(tr, "source_only").checked;
    if (reset) target.checked = info.default_targets.includes(t) && !target.disabled;
    else if (target.disabled) target.checked = false;
  }
  for (const o of $("metric").options) o.disabled = !info.metrics.includes(o.value);
  if ($("metric").selectedOptions[0].disabled) $("metric").value = info.metrics[0];
  $("max-order").max = info.max_order;
}

function taskRow(t) {
  const box = (k, checked) => el("td", {}, el("input", {type: "checkbox", checked, dataset: {k}}));
  const amount = (k) => el("td", {}, el("input", {type: "number", min: "0", step: "any", value: "1", dataset: {k}}));
  const name = el("td", {title: t.description}, t.id, t.paper !== t.id ? el("small", {}, ` ${t.paper}`) : "");
  return el("tr", {dataset: {task: t.id}}, name, box("target", false), box("source_only", false),
            box("source", true), amount("importance"), amount("cost"));
}

async function init() {
  const [tasks, tables] = await Promise.all([
    call("api/tasks").then((r) => r.json()), call("api/tables").then((r) => r.json())]);
  const d = tasks.defaults;
  for (const t of tables.tables) {
    state.tables[t.name] = t;
    $("table").append(el("option", {value: t.name, disabled: !!t.error},
                         t.name + (t.error ? " (cannot be read)" : "")));
  }
  $("table").value = d.affinities;
  $("metric").append(...tasks.metrics.map((m) => el("option", {value: m}, m)));
  $("metric").value = d.metric;
  $("color-by").append(...tasks.color_by.map((m) => el("option", {value: m}, m)));
  $("budget").value = d.budget;
  $("max-order").value = d.max_order;
  $("budgets").value = d.budgets.join(" ");
  $("max-orders").value = d.max_orders.join(" ");
  $("tasks").tBodies[0].append(...tasks.tasks.map(taskRow));
  for (const tr of rows()) cell(tr, "source_only").checked = d.source_only.includes(tr.dataset.task);
  useTable(true);

  $("query").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(state.timer); solve(); });
  $("query").addEventListener("input", later);
  $("query").addEventListener("change", (e) => {
    if (e.target.id === "table" || e.target.dataset.k === "source_only") useTable(e.target.id === "table");
    later();
  });
  $("sweep").addEventListener("click", () => figure("sweep", () => {
    const {budget, max_order, ...q} = solveQuery();
    return call("api/sweep/figure", {...q, budgets: list($("budgets")), max_orders: list($("max-orders"))});
  }));
  $("tree").addEventListener("click", () => figure("tree",
    () => call(`api/tree/figure?affinities=${encodeURIComponent($("table").value)}`)));
  await solve();
}

init().catch((e) => { $("error").textContent = `cannot load the page's data: ${e.message}`; $("error").hidden = false; });
