// citytwin web viewer: draws the twin's own GeoJSON layers on a 2D canvas (no tile server, no
// WebGL) and keeps them live from the WebSocket feed (docs/protocol.md).
"use strict";

const LAYERS = ["water", "power", "street", "bin", "charger"]; // drawing order, bottom first
const state = {
  features: {},          // layer -> [feature]
  byId: new Map(),       // id -> feature
  visible: new Set(LAYERS),
  view: { scale: 1, x: 0, y: 0 },
  origin: null,          // projection origin {lon, lat, k}
  selected: null,
  ws: null,
  seq: null,
  stats: { snapshots: 0, deltas: 0, changes: 0, kpis: 0, alerts: 0, gaps: 0, errors: [] },
  dirty: true,
  kpis: null,
  waterColour: "pressure", // what colours the water network: pressure, freeChlorine, waterAge
};

const $ = (id) => document.getElementById(id);
const canvas = $("map");
const ctx = canvas.getContext("2d");

// ---- projection: equirectangular around the city centre, metres ----
function project(lon, lat) {
  const o = state.origin;
  return [(lon - o.lon) * o.k * 111320, -(lat - o.lat) * 111320];
}
function toScreen(p) {
  const v = state.view;
  return [p[0] * v.scale + v.x, p[1] * v.scale + v.y];
}
function toWorld(sx, sy) {
  const v = state.view;
  return [(sx - v.x) / v.scale, (sy - v.y) / v.scale];
}

// ---- colours ----
function ramp(t, stops) {
  t = Math.max(0, Math.min(1, t));
  const n = stops.length - 1;
  const i = Math.min(n - 1, Math.floor(t * n));
  const f = t * n - i;
  const a = stops[i], b = stops[i + 1];
  return `rgb(${a.map((c, k) => Math.round(c + (b[k] - c) * f)).join(",")})`;
}
const GREEN_RED = [[46, 160, 67], [240, 200, 40], [214, 40, 40]];
function num(s, k) { const v = s && s[k]; return typeof v === "number" ? v : null; }

function colour(f) {
  const s = f.state;
  switch (f.layer) {
    case "street": {
      if (s.closed === true) return "#222";
      const c = num(s, "congestionLevel");
      return c === null ? "#b9bcc4" : ramp(c, GREEN_RED);
    }
    case "power": {
      if (num(s, "energised") === 0) return "#555";
      const l = num(s, "loading");
      if (l !== null) return ramp(l / 120, GREEN_RED);
      const v = num(s, "voltage");
      if (v !== null) return v < 0.95 || v > 1.05 ? "#d62828" : "#7b3fa0";
      return "#7b3fa0";
    }
    case "water": {
      // Chlorine: red below the 0.2 mg/L residual (WHO), amber below 0.5; age: green to red
      // over two days; pressure: red below 15 m, amber below 25 m.
      if (state.waterColour === "freeChlorine") {
        const c = num(s, "freeChlorine");
        if (c === null) return "#7fb3d5";
        return c < 0.2 ? "#d62828" : c < 0.5 ? "#f0a020" : "#1f6fb2";
      }
      if (state.waterColour === "waterAge") {
        const a = num(s, "waterAge");
        return a === null ? "#7fb3d5" : ramp(a / 48, GREEN_RED);
      }
      const p = num(s, "pressure");
      if (p === null) return "#7fb3d5";
      return p < 15 ? "#d62828" : p < 25 ? "#f0a020" : "#1f6fb2";
    }
    case "bin": {
      const l = num(s, "fillingLevel");
      return l === null ? "#9aa" : ramp(l, GREEN_RED);
    }
    case "charger": {
      const st = s.status;
      if (st === "outOfService" || st === "faulted") return "#d62828";
      if (num(s, "chargingPower") > 0 || st === "occupied") return "#1565c0";
      return "#2e7d32";
    }
  }
  return "#888";
}

// ---- loading ----
async function fetchJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

async function loadLayers() {
  const health = await fetchJson("/health");
  $("city").textContent = health.city;
  document.title = `citytwin — ${health.city}`;
  let minLon = 180, maxLon = -180, minLat = 90, maxLat = -90;
  const raw = {};
  for (const layer of LAYERS) {
    raw[layer] = await fetchJson(`/api/layers/${layer}.geojson`);
    for (const f of raw[layer].features) {
      eachCoord(f.geometry, (lon, lat) => {
        minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
        minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
      });
    }
  }
  const lat0 = (minLat + maxLat) / 2;
  state.origin = { lon: (minLon + maxLon) / 2, lat: lat0, k: Math.cos(lat0 * Math.PI / 180) };
  state.extent = [project(minLon, maxLat), project(maxLon, minLat)];
  for (const layer of LAYERS) {
    state.features[layer] = raw[layer].features.map((f) => {
      const feature = {
        id: f.properties.id,
        layer,
        type: f.properties.assetType,
        name: f.properties.name,
        state: f.properties.state || {},
        line: null,
        point: null,
      };
      if (f.geometry.type === "LineString") feature.line = f.geometry.coordinates.map((c) => project(c[0], c[1]));
      else if (f.geometry.type === "Point") feature.point = project(f.geometry.coordinates[0], f.geometry.coordinates[1]);
      state.byId.set(feature.id, feature);
      return feature;
    });
  }
  fit();
  $("loading").hidden = true;
}

function eachCoord(g, fn) {
  if (!g) return;
  if (g.type === "Point") fn(g.coordinates[0], g.coordinates[1]);
  else if (g.type === "LineString") g.coordinates.forEach((c) => fn(c[0], c[1]));
}

// ---- drawing ----
function resize() {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(r.width * dpr));
  canvas.height = Math.max(1, Math.round(r.height * dpr));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  state.dirty = true;
}

function fit() {
  if (!state.extent) return;
  const r = canvas.getBoundingClientRect();
  const [[x0, y0], [x1, y1]] = state.extent;
  const scale = 0.92 * Math.min(r.width / (x1 - x0 || 1), r.height / (y1 - y0 || 1));
  state.view = { scale, x: r.width / 2 - scale * (x0 + x1) / 2, y: r.height / 2 - scale * (y0 + y1) / 2 };
  state.dirty = true;
}

function pointRadius(f) {
  const z = state.view.scale;
  const base = f.layer === "bin" ? 1.6 : f.layer === "water" ? 1.4 : f.layer === "charger" ? 4 : 3;
  const big = f.type === "substation" ? 2.2 : f.type === "tank" || f.type === "water_source" ? 2 : 1;
  return Math.max(1, Math.min(9, base * big * Math.sqrt(z * 8)));
}

function draw() {
  state.dirty = false;
  const r = canvas.getBoundingClientRect();
  ctx.clearRect(0, 0, r.width, r.height);
  ctx.fillStyle = "#f7f7f2";
  ctx.fillRect(0, 0, r.width, r.height);
  for (const layer of LAYERS) {
    if (!state.visible.has(layer)) continue;
    const features = state.features[layer] || [];
    for (const f of features) {
      if (!f.line) continue;
      ctx.strokeStyle = colour(f);
      ctx.lineWidth = f.layer === "street" ? Math.max(1, Math.min(5, state.view.scale * 6)) : 0.8;
      ctx.globalAlpha = f.layer === "street" ? 1 : 0.6;
      ctx.beginPath();
      f.line.forEach((p, k) => {
        const [x, y] = toScreen(p);
        if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    for (const f of features) {
      if (!f.point) continue;
      const [x, y] = toScreen(f.point);
      if (x < -10 || y < -10 || x > r.width + 10 || y > r.height + 10) continue;
      ctx.fillStyle = colour(f);
      ctx.beginPath();
      ctx.arc(x, y, pointRadius(f), 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  if (state.selected) {
    const f = state.selected;
    const p = f.point || (f.line && f.line[Math.floor(f.line.length / 2)]);
    if (p) {
      const [x, y] = toScreen(p);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(x, y, pointRadius(f) + 5, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }
}

function frame() {
  if (state.dirty) draw();
  requestAnimationFrame(frame);
}

// ---- interaction ----
let drag = null;
canvas.addEventListener("mousedown", (e) => {
  drag = { x: e.clientX, y: e.clientY, vx: state.view.x, vy: state.view.y, moved: false };
  canvas.classList.add("dragging");
});
window.addEventListener("mousemove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
  state.view.x = drag.vx + dx;
  state.view.y = drag.vy + dy;
  state.dirty = true;
});
window.addEventListener("mouseup", (e) => {
  if (!drag) return;
  const clicked = !drag.moved;
  drag = null;
  canvas.classList.remove("dragging");
  if (clicked) {
    const r = canvas.getBoundingClientRect();
    const f = pick(e.clientX - r.left, e.clientY - r.top);
    if (f) select(f); else closePanel();
  }
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const r = canvas.getBoundingClientRect();
  zoomAt(e.clientX - r.left, e.clientY - r.top, e.deltaY < 0 ? 1.25 : 0.8);
}, { passive: false });
function zoomAt(sx, sy, factor) {
  const [wx, wy] = toWorld(sx, sy);
  state.view.scale *= factor;
  state.view.x = sx - wx * state.view.scale;
  state.view.y = sy - wy * state.view.scale;
  state.dirty = true;
}
function zoomCentre(factor) {
  const r = canvas.getBoundingClientRect();
  zoomAt(r.width / 2, r.height / 2, factor);
}
$("zoom-in").onclick = () => zoomCentre(1.5);
$("zoom-out").onclick = () => zoomCentre(1 / 1.5);
$("zoom-fit").onclick = fit;
$("water-colour").addEventListener("change", (e) => {
  state.waterColour = e.target.value;
  state.dirty = true;
});
document.querySelectorAll("[data-layer]").forEach((box) => {
  box.addEventListener("change", () => {
    if (box.checked) state.visible.add(box.dataset.layer); else state.visible.delete(box.dataset.layer);
    state.dirty = true;
  });
});

function segmentDistance(px, py, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len = dx * dx + dy * dy;
  let t = len ? ((px - a[0]) * dx + (py - a[1]) * dy) / len : 0;
  t = Math.max(0, Math.min(1, t));
  return Math.hypot(px - a[0] - t * dx, py - a[1] - t * dy);
}

// The asset under a screen point: points first (drawn on top), then lines, within 8 px.
function pick(sx, sy) {
  let best = null, bestD = 8;
  for (const layer of [...LAYERS].reverse()) {
    if (!state.visible.has(layer)) continue;
    for (const f of state.features[layer] || []) {
      if (!f.point) continue;
      const [x, y] = toScreen(f.point);
      const d = Math.hypot(x - sx, y - sy);
      if (d < bestD) { best = f; bestD = d; }
    }
  }
  if (best) return best;
  for (const layer of LAYERS) {
    if (!state.visible.has(layer)) continue;
    for (const f of state.features[layer] || []) {
      if (!f.line) continue;
      const pts = f.line.map(toScreen);
      for (let k = 1; k < pts.length; k++) {
        const d = segmentDistance(sx, sy, pts[k - 1], pts[k]);
        if (d < bestD) { best = f; bestD = d; }
      }
    }
  }
  return best;
}

// ---- the asset panel ----
function fmt(v) {
  if (typeof v === "number") return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
function fillTable(table, obj) {
  table.replaceChildren(...Object.entries(obj).map(([k, v]) => {
    const tr = document.createElement("tr");
    const a = document.createElement("td"); a.textContent = k;
    const b = document.createElement("td"); b.textContent = fmt(v); b.dataset.field = k;
    tr.append(a, b);
    return tr;
  }));
}

async function select(f) {
  state.selected = f;
  state.dirty = true;
  const panel = $("panel");
  panel.hidden = false;
  panel.dataset.entity = f.id;
  $("panel-title").textContent = f.name ? `${f.name} (${f.id})` : f.id;
  $("panel-type").textContent = f.type.replace(/_/g, " ");
  fillTable($("panel-state"), f.state);
  try {
    const [detail, hist] = await Promise.all([
      fetchJson(`/api/entities/${encodeURIComponent(f.id)}`),
      fetchJson(`/api/entities/${encodeURIComponent(f.id)}/history?last=true&limit=500`),
    ]);
    if (state.selected !== f) return;
    fillTable($("panel-attributes"), detail.attributes || {});
    f.history = hist.points;
    drawChart(f);
    panel.dataset.loaded = "true";
  } catch (e) {
    $("panel-chart-label").textContent = `history unavailable: ${e.message}`;
  }
}
function closePanel() {
  state.selected = null;
  $("panel").hidden = true;
  delete $("panel").dataset.entity;
  state.dirty = true;
}
$("panel-close").onclick = closePanel;

function drawChart(f) {
  const svg = $("panel-chart");
  const counts = {};
  for (const p of f.history || []) if (typeof p.value === "number") counts[p.quantity] = (counts[p.quantity] || 0) + 1;
  const quantity = Object.keys(counts).sort((a, b) => counts[b] - counts[a])[0];
  if (!quantity) {
    svg.innerHTML = "";
    $("panel-chart-label").textContent = "no numeric history yet";
    return;
  }
  const pts = f.history.filter((p) => p.quantity === quantity && typeof p.value === "number")
    .map((p) => [Date.parse(p.observedAt), p.value]);
  const t0 = Math.min(...pts.map((p) => p[0])), t1 = Math.max(...pts.map((p) => p[0]));
  let v0 = Math.min(...pts.map((p) => p[1])), v1 = Math.max(...pts.map((p) => p[1]));
  if (v0 === v1) { v0 -= 1; v1 += 1; }
  const xy = pts.map(([t, v]) => [5 + 290 * (t1 > t0 ? (t - t0) / (t1 - t0) : 1), 105 - 100 * (v - v0) / (v1 - v0)]);
  svg.innerHTML = `<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="${xy.map((p) => p.join(",")).join(" ")}"/>` +
    xy.map(([x, y]) => `<circle cx="${x}" cy="${y}" r="1.8" fill="#1565c0"/>`).join("");
  $("panel-chart-label").textContent = `${quantity}: ${fmt(v0)} – ${fmt(v1)} over the last ${pts.length} readings`;
}

// ---- KPIs, alerts, clock ----
const KPI_LABELS = [
  ["mean_congestion", "mean congestion", (v) => v === null ? "—" : (100 * v).toFixed(0) + " %"],
  ["congested_streets", "congested streets"],
  ["closed_streets", "closed streets"],
  ["power_load_kw", "power load", (v) => (v / 1000).toFixed(2) + " MW"],
  ["min_voltage_pu", "lowest voltage", (v) => v === null ? "—" : v.toFixed(3) + " pu"],
  ["de_energised_nodes", "de-energised nodes"],
  ["overloaded_elements", "overloaded elements"],
  ["water_demand_l_s", "metered water demand", (v) => v.toFixed(0) + " l/s"],
  ["min_pressure_m", "lowest pressure", (v) => v === null ? "—" : v.toFixed(1) + " m"],
  ["low_pressure_junctions", "low-pressure junctions"],
  ["mean_bin_fill", "mean bin fill", (v) => v === null ? "—" : (100 * v).toFixed(0) + " %"],
  ["bins_above_80pct", "bins above 80 %"],
  ["bins_overflowing", "bins overflowing"],
  ["charging_power_kw", "EV charging", (v) => v.toFixed(0) + " kW"],
  ["chargers_in_use", "chargers in use"],
  ["clients", "viewers connected"],
];
function showKpis(k) {
  state.kpis = k;
  state.stats.kpis++;
  const table = $("kpis");
  table.replaceChildren(...KPI_LABELS.map(([key, label, f]) => {
    const tr = document.createElement("tr");
    const a = document.createElement("td"); a.textContent = label;
    const b = document.createElement("td"); b.textContent = f ? f(k[key]) : String(k[key]);
    b.dataset.kpi = key;
    tr.append(a, b);
    return tr;
  }));
  if (k.twin_time) $("twin-time").textContent = k.twin_time.replace("T", " ").replace("Z", " UTC");
  $("feed-rate").textContent = k.readings_per_s.toFixed(0);
}
function showAlerts(alerts) {
  state.stats.alerts++;
  $("alert-count").textContent = alerts.length;
  $("alerts").replaceChildren(...alerts.slice(0, 200).map((a) => {
    const li = document.createElement("li");
    const b = document.createElement("b"); b.textContent = `${a.code.replace(/_/g, " ")} · ${a.network}`;
    li.append(b, document.createTextNode(a.message));
    li.onclick = () => { const f = state.byId.get(a.entities[0]); if (f) { centreOn(f); select(f); } };
    return li;
  }));
}
function centreOn(f) {
  const p = f.point || (f.line && f.line[0]);
  if (!p) return;
  const r = canvas.getBoundingClientRect();
  state.view.x = r.width / 2 - p[0] * state.view.scale;
  state.view.y = r.height / 2 - p[1] * state.view.scale;
  state.dirty = true;
}

// ---- the live feed ----
function applyStates(entities, replace) {
  for (const [id, fields] of Object.entries(entities)) {
    const f = state.byId.get(id);
    if (!f) continue;
    f.state = replace ? {} : f.state;
    // null removes a field (JSON merge patch, RFC 7396): a bin no longer filling has no time to full.
    for (const [k, v] of Object.entries(fields)) {
      if (v === null) delete f.state[k]; else f.state[k] = v;
    }
    state.stats.changes++;
    if (state.selected === f) fillTable($("panel-state"), f.state);
  }
  state.dirty = true;
}

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${location.search}`;
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.onopen = () => {
    $("connection").textContent = "live";
    $("connection").className = "up";
    ws.send(JSON.stringify({ type: "subscribe", id: "map", layers: [...LAYERS, "kpi", "alert"], rate: 5 }));
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.sub !== undefined && m.seq !== undefined) {
      if (state.seq !== null && m.seq !== state.seq + 1 && !(m.type === "snapshot" && m.part === 0)) state.stats.gaps++;
      state.seq = m.seq;
    }
    switch (m.type) {
      case "snapshot":
        // Entities come in parts; each entity is in exactly one part.
        if (m.part + 1 === m.parts) state.stats.snapshots++;
        if (m.entities) applyStates(m.entities, true);
        if (m.kpis) showKpis(m.kpis);
        if (m.alerts) showAlerts(m.alerts);
        break;
      case "delta":
        state.stats.deltas++;
        applyStates(m.entities, false);
        break;
      case "kpi": showKpis(m.kpis); break;
      case "alert": showAlerts(m.alerts); break;
      case "error": state.stats.errors.push(m); console.warn("citytwin:", m.reason, m.message); break;
    }
  };
  ws.onclose = () => {
    $("connection").textContent = "reconnecting…";
    $("connection").className = "down";
    state.seq = null;
    setTimeout(connect, 2000);
  };
}

// For tests and scripts: where an asset is on screen.
window.citytwin = {
  state,
  stats: state.stats,
  screenPosition(id) {
    const f = state.byId.get(id);
    if (!f) return null;
    const p = f.point || (f.line && f.line[Math.floor(f.line.length / 2)]);
    const r = canvas.getBoundingClientRect();
    const [x, y] = toScreen(p);
    return { x: x + r.left, y: y + r.top };
  },
  centreOn(id) { const f = state.byId.get(id); if (f) { centreOn(f); draw(); } },
  colourOf(id) { const f = state.byId.get(id); return f ? colour(f) : null; },
};

// The canvas changes size with the window and when the asset panel opens or closes.
new ResizeObserver(() => resize()).observe(canvas);
resize();
requestAnimationFrame(frame);
loadLayers().then(connect).catch((e) => {
  $("loading").textContent = `cannot load the city: ${e.message}`;
});
