// datamoat live page: polls /status and draws with the DOM and SVG only.
// Every value from the data is set with textContent or an attribute: never as HTML.
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#5af", "#fb4", "#f66", "#6d6"];
const $ = (id) => document.getElementById(id);

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  return Number(v).toLocaleString("en-US", {maximumFractionDigits: digits ?? 0});
}

function setValue(id, text, value) {
  const el = $(id);
  el.textContent = text;
  el.dataset.value = value === null || value === undefined ? "" : String(value);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

// series: [[x, y], ...] per line; draws lines with a y axis from 0 (or lo) to the max.
function chart(svg, series, opts) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = 600, H = 160, L = 48, B = 14;
  const pts = series.flat().filter((p) => p[1] !== null && Number.isFinite(p[1]));
  if (!pts.length) {
    const t = svgEl("text", {x: L, y: H / 2});
    t.textContent = "no data yet";
    svg.appendChild(t);
    return;
  }
  const xs = pts.map((p) => p[0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const lo = opts && opts.lo !== undefined ? opts.lo : 0;
  const hi = Math.max(...pts.map((p) => p[1]), lo + 1e-9) * 1.05;
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - 4);
  const Y = (y) => H - B - ((y - lo) / (hi - lo)) * (H - B - 6);
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.appendChild(svgEl("line", {x1: L, x2: W, y1: Y(v), y2: Y(v), stroke: "#2a2a2a"}));
    const t = svgEl("text", {x: 2, y: Y(v) + 4});
    t.textContent = fmt(v, Math.abs(hi) < 10 ? 2 : 0);
    svg.appendChild(t);
  }
  const span = svgEl("text", {x: W - 70, y: H - 2});
  span.textContent = `last ${fmt(x1 - x0)} s`;
  svg.appendChild(span);
  series.forEach((line, i) => {
    const d = line.filter((p) => p[1] !== null && Number.isFinite(p[1]))
      .map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    if (d) svg.appendChild(svgEl("path", {d, fill: "none", stroke: COLORS[i % 4], "stroke-width": 1.6}));
  });
}

function spark(values) {
  const svg = svgEl("svg", {viewBox: "0 0 100 20", width: 100, height: 20, class: "spark"});
  if (values.length > 1) {
    const hi = Math.max(...values, 1e-9), lo = Math.min(...values, 0);
    const d = values.map((v, i) => `${i ? "L" : "M"}${(i * 100 / (values.length - 1)).toFixed(1)},${(19 - 18 * (v - lo) / (hi - lo || 1)).toFixed(1)}`).join("");
    svg.appendChild(svgEl("path", {d, fill: "none", stroke: "#fb4", "stroke-width": 1.2}));
  }
  svg.style.height = "20px";
  svg.style.width = "100px";
  return svg;
}

function sentimentCell(v) {
  return el("td", fmt(v, 3), "n " + (v > 0.05 ? "pos" : v < -0.05 ? "neg" : ""));
}

function fill(tbody, rows, cells) {
  while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of cells(r)) tr.appendChild(c);
    tbody.appendChild(tr);
  }
}

function rates(history, field) {
  const out = [];
  for (let i = 1; i < history.length; i++) {
    const dt = history[i].t - history[i - 1].t;
    if (dt > 0) out.push([history[i].t, Math.max(0, history[i][field] - history[i - 1][field]) / dt]);
  }
  return out;
}

function render(s) {
  const ops = s.ops, sig = s.signals, h = s.history, now = ops.t;
  $("role").textContent = s.role;
  const prod = rates(h, "produced"), proc = rates(h, "processed");
  const last = (a) => (a.length ? a[a.length - 1][1] : null);
  setValue("produced_rate", fmt(last(prod)), last(prod));
  setValue("processed_rate", fmt(last(proc)), last(proc));
  setValue("processed", fmt(ops.processed), ops.processed);
  setValue("lag", fmt(ops.lag), ops.lag);
  setValue("latency", `${fmt(ops.latency_p50_s, 2)} / ${fmt(ops.latency_p99_s, 2)} s`, ops.latency_p50_s);
  setValue("dead_lettered", fmt(ops.dead_lettered), ops.dead_lettered);
  setValue("windows_emitted", fmt(ops.windows_emitted), ops.windows_emitted);
  setValue("sentiment", fmt(sig.window.sentiment, 3), sig.window.sentiment);
  const wm = ops.watermark_s ? `watermark ${fmt(now - ops.watermark_s, 1)} s behind` : "no watermark yet";
  $("state").textContent = `updated ${new Date(now * 1000).toLocaleTimeString()} · ${wm} · ` +
    `${fmt(ops.open_windows)} open windows · ${fmt(ops.rss_bytes / 1048576)} MiB`;
  const rel = (pts) => pts.map((p) => [p[0] - now, p[1]]);
  chart($("chart-throughput"), [rel(prod), rel(proc)]);
  chart($("chart-lag"), [rel(h.map((p) => [p.t, p.lag]))]);
  const wins = sig.windows;
  chart($("chart-latency"), [rel(wins.map((w) => [w.emitted, w.latency_s]))]);
  chart($("chart-sentiment"), [
    rel(wins.map((w) => [w.end, w.sentiment])),
    rel(wins.map((w) => [w.end, w.positive])),
    rel(wins.map((w) => [w.end, w.negative])),
  ], {lo: Math.min(0, ...wins.map((w) => w.sentiment ?? 0))});
  fill($("trending"), sig.trending, (r) => {
    const sp = el("td");
    sp.appendChild(spark(r.spark));
    return [el("td", "#" + r.key), el("td", fmt(r.score, 1), "n"), el("td", fmt(r.posts), "n"), sentimentCell(r.sentiment), sp];
  });
  $("trending-empty").style.display = sig.trending.length ? "none" : "";
  fill($("volume"), sig.top_volume, (r) => [el("td", "#" + r.key), el("td", fmt(r.posts), "n"), sentimentCell(r.sentiment)]);
  fill($("cascades"), sig.cascades, (r) => [el("td", String(r.root_id)), el("td", fmt(r.reposts), "n"), el("td", fmt(r.size), "n"), el("td", fmt(r.depth), "n")]);
  fill($("trended"), sig.trended.slice(-15).reverse(), (r) => [
    el("td", "#" + r.key),
    el("td", new Date(r.first_window_end).toLocaleTimeString()),
    el("td", fmt(r.peak_score, 1), "n"),
    el("td", fmt(r.windows), "n"),
  ]);
  const pv = sig.provisional || {};
  $("provisional-window").textContent = pv.start === undefined ? "no open window yet" :
    `window from ${new Date(pv.start * 1000).toLocaleTimeString()}: ${fmt(100 * pv.covered)} % seen, ` +
    `${fmt(pv.posts)} posts so far, ${fmt(pv.velocity)} posts/s, sentiment ${fmt(pv.sentiment, 3)} (provisional)`;
  fill($("provisional"), pv.top || [], (r) => [
    el("td", "#" + r.key), el("td", fmt(r.score, 1), "n"), el("td", fmt(r.posts), "n"), sentimentCell(r.sentiment),
  ]);
  const alerts = sig.alerts || [];
  fill($("alerts"), alerts, (r) => [
    el("td", r.kind, r.kind === "retraction" ? "retracted" : "alert"),
    el("td", "#" + r.key), el("td", fmt(r.score, 1), "n"), el("td", fmt(r.posts), "n"),
    sentimentCell(r.sentiment), el("td", new Date(r.fired_at * 1000).toLocaleTimeString()),
  ]);
  $("alerts-empty").style.display = alerts.length ? "none" : "";
  document.body.dataset.ready = ops.processed > 0 ? "1" : "0";
}

async function tick() {
  try {
    const r = await fetch("/status", {cache: "no-store"});
    render(await r.json());
  } catch (e) {
    $("state").textContent = "no answer from /status: " + e;
  }
}

tick();
setInterval(tick, 2000);
