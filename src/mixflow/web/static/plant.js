// Live floor map: the static floor drawn once, machine states per snapshot, AGVs every animation frame,
// interpolated between the websocket's snapshots so 700+ robots glide at the display's frame rate.
import { api, header, requireLogin, session, date, sayNouns } from "/static/api.js";

header();
const $ = (id) => document.getElementById(id);
const SHOP_COLOURS = ["#475569", "#52606d", "#5b6b7c", "#4b5563", "#57534e", "#44403c"];
const plant = { layout: null, prev: null, next: null, prevAt: 0, nextAt: 0, px: 4, frames: [], snapshots: 0 };
let info = { product: "unit", products: "units" };
window.__mixflowPlant = plant;  // read by the browser tests (frame timestamps, snapshots)

function sizeCanvases() {
  const { width, height } = plant.layout;
  const px = plant.px;
  for (const id of ["floor", "machines", "agvs"]) {
    const c = $(id);
    c.width = width * px; c.height = height * px;
  }
}

function drawFloor() {
  const { layout, px } = plant;
  const g = $("floor").getContext("2d");
  g.fillStyle = "#1e293b";
  g.fillRect(0, 0, layout.width * px, layout.height * px);
  g.fillStyle = "#0b1220";
  layout.blocked_rle.forEach((runs, y) => {
    let x = 0;
    runs.forEach((run, i) => { if (i % 2 === 1) g.fillRect(x * px, y * px, run * px, px); x += run; });
  });
  g.fillStyle = "#a78bfa";
  for (const s of layout.stations) g.fillRect(s.x * px - 1, s.y * px - 1, px + 2, px + 2);  // every line's
  g.fillStyle = "#facc15";
  for (let i = 0; i < layout.chargers.length; i += 2) g.fillRect(layout.chargers[i] * px, layout.chargers[i + 1] * px, px, px);
  drawZoneLabels(g);
}

// Zone names go where they hide the fewest machines, stations and chargers: inside the zone's top or
// bottom edge, or just above or below it (a plant file's zones often start with a row of machines).
function drawZoneLabels(g) {
  const { layout, px } = plant;
  const size = Math.max(10, Math.min(12, 2 * px - 1));
  g.font = `${size}px system-ui`;
  const taken = new Set();
  const mark = (x, y) => taken.add(y * layout.width + x);
  for (let i = 0; i < layout.machine_xy.length; i += 2) mark(layout.machine_xy[i], layout.machine_xy[i + 1]);
  for (let i = 0; i < layout.chargers.length; i += 2) mark(layout.chargers[i], layout.chargers[i + 1]);
  for (const s of layout.stations) mark(s.x, s.y);
  const placed = [];
  for (const [name, [x0, y0, x1, y1]] of Object.entries(layout.zones)) {
    const w = Math.ceil((g.measureText(name).width + 4) / px), h = Math.ceil(size / px);
    const left = Math.max(0, Math.min(x0, layout.width - w));
    let best = null;
    const spots = [[left, y0], [left, y0 - h], [left, y1 - h + 1], [left, y1 + 1]];  // best first
    for (const [k, [x, y]] of spots.entries()) {
      if (y < 0 || y + h > layout.height) continue;
      let cost = k;
      for (let cy = y; cy < y + h; cy++) for (let cx = x; cx < x + w; cx++) cost += taken.has(cy * layout.width + cx) ? 10 : 0;
      for (const [px0, py0, pw, ph] of placed) if (x < px0 + pw && px0 < x + w && y < py0 + ph && py0 < y + h) cost += 1000;
      if (!best || cost < best.cost) best = { x, y, cost };
    }
    if (!best) continue;
    placed.push([best.x, best.y, w, h]);
    g.fillStyle = "#94a3b8";
    g.fillText(name, best.x * px + 2, best.y * px + size - 2);
  }
}

// Each line's stations in line order (the layout lists them line after line).
function stationsOf(lineId) {
  return plant.layout.stations.filter((s) => (s.line || "") === lineId);
}

function lineList() {
  const { layout } = plant;
  if (layout.lines && layout.lines.length) return layout.lines;
  return [{ id: "", name: "Final assembly", takt_s: layout.takt_s, stations: layout.stations.length }];
}

function buildLinePanel() {
  const lines = lineList();
  $("lines-title").textContent = lines.length > 1 ? `Lines (${lines.length})` : "Line";
  $("lines").replaceChildren(...lines.map((line) => {
    const d = document.createElement("div");
    d.className = "line"; d.dataset.line = line.id;
    d.innerHTML = `<div class="name"></div><div class="bar"><div style="width:0"></div></div>`
      + `<div class="stations"></div><div class="muted state">…</div>`;
    d.querySelector(".name").textContent = line.id && line.name !== line.id ? `${line.name} · ${line.id}` : line.name;
    d.querySelector(".stations").replaceChildren(...stationsOf(line.id).map((s) => {
      const c = document.createElement("div");
      c.title = s.id;
      return c;
    }));
    return d;
  }));
}

function showLines(snap) {
  const lines = lineList();
  const states = snap.lines && snap.lines.length ? snap.lines
    : [{ id: lines[0].id, position_s: snap.line_position_s, stopped: snap.line_stopped, units: [], waiting: 0 }];
  for (const state of states) {
    const line = lines.find((l) => l.id === state.id) || lines[0];
    const el = [...$("lines").children].find((d) => d.dataset.line === line.id);
    if (!el) continue;
    const takt = line.takt_s;
    el.classList.toggle("stopped", state.stopped);
    el.querySelector(".bar").classList.toggle("stopped", state.stopped);
    el.querySelector(".bar > div").style.width = `${(100 * (state.position_s % takt)) / takt}%`;
    const units = state.units || [];
    const cells = el.querySelector(".stations").children;
    const stations = stationsOf(line.id);
    for (let i = 0; i < cells.length; i++) {
      const order = units[i] || null;
      cells[i].classList.toggle("busy", order !== null);
      cells[i].title = order ? `${stations[i].id}: ${order}` : `${stations[i].id}: empty`;
    }
    let text = `${state.stopped ? "stopped" : "moving"} · ${state.position_s % takt} s of ${takt} s takt`;
    if (units.length) {
      const on = units.filter((u) => u).length;
      text += ` · ${on} ${on === 1 ? info.product : info.products} on ${units.length} stations, ${state.waiting || 0} waiting`;
    }
    el.querySelector(".state").textContent = text;
  }
}

function drawMachines(snap) {
  const { layout, px } = plant;
  const g = $("machines").getContext("2d");
  g.clearRect(0, 0, layout.width * px, layout.height * px);
  const xy = layout.machine_xy;
  const shops = [...new Set(layout.groups.map((gr) => gr.shop))];
  g.fillStyle = "#64748b";
  for (let i = 0; i < layout.machine_ids.length; i++) {
    g.fillStyle = SHOP_COLOURS[shops.indexOf(layout.groups[layout.machine_group[i]].shop) % SHOP_COLOURS.length];
    g.fillRect(xy[2 * i] * px, xy[2 * i + 1] * px, px, px);
  }
  if (!snap) return;
  g.fillStyle = "#22c55e";
  for (const i of snap.machines_busy) g.fillRect(xy[2 * i] * px, xy[2 * i + 1] * px, px, px);
  g.fillStyle = "#ef4444";
  for (const i of snap.machines_down) g.fillRect(xy[2 * i] * px - 1, xy[2 * i + 1] * px - 1, px + 2, px + 2);
  for (const line of snap.lines || []) {  // units on the stations, and a red frame round a stopped line's
    const stations = stationsOf(line.id);
    g.fillStyle = "#f5f3ff";
    (line.units || []).forEach((order, i) => {
      if (order && stations[i]) g.fillRect(stations[i].x * px + 1, stations[i].y * px + 1, px - 2, px - 2);
    });
    if (line.stopped) {
      g.strokeStyle = "#ef4444"; g.lineWidth = 2;
      for (const s of stations) g.strokeRect(s.x * px - 2, s.y * px - 2, px + 4, px + 4);
    }
  }
}

function frame(now) {
  plant.frames.push(now);
  if (plant.frames.length > 1200) plant.frames.splice(0, 600);
  const { prev, next, px, layout } = plant;
  const g = $("agvs").getContext("2d");
  g.clearRect(0, 0, layout.width * px, layout.height * px);
  if (next) {
    const span = Math.max(1, plant.nextAt - plant.prevAt);
    const t = prev ? Math.min(1, (now - plant.nextAt) / span) : 1;
    const n = next.agv_x.length;
    const low = [];
    g.fillStyle = "#38bdf8";
    g.beginPath();
    for (let i = 0; i < n; i++) {
      const x0 = prev ? prev.agv_x[i] : next.agv_x[i], y0 = prev ? prev.agv_y[i] : next.agv_y[i];
      const x = x0 + (next.agv_x[i] - x0) * t, y = y0 + (next.agv_y[i] - y0) * t;
      if (next.agv_soc[i] < 0.25) { low.push(x, y); continue; }
      g.rect(x * px, y * px, px, px);
    }
    g.fill();
    g.fillStyle = "#f59e0b";
    g.beginPath();
    for (let i = 0; i < low.length; i += 2) g.rect(low[i] * px, low[i + 1] * px, px, px);
    g.fill();
  }
  if (plant.frames.length % 30 === 0) {
    const f = plant.frames, k = Math.min(60, f.length - 1);
    $("fps").textContent = `${(1000 * k / (f[f.length - 1] - f[f.length - 1 - k])).toFixed(0)} frames/s`;
  }
  requestAnimationFrame(frame);
}

function onSnapshot(snap) {
  const now = performance.now();
  plant.prev = plant.next; plant.prevAt = plant.nextAt;
  plant.next = snap; plant.nextAt = now;
  plant.snapshots += 1;
  drawMachines(snap);
  $("clock").textContent = date(snap.at);
  showLines(snap);
  $("speed-now").textContent = snap.running ? `${snap.speed}× real time` : "paused";
  document.querySelectorAll("#speeds button").forEach((b) => b.classList.toggle("on", Number(b.dataset.speed) === snap.speed));
  const alarms = $("alarms");
  if (snap.alarms.length) {
    alarms.replaceChildren(...snap.alarms.slice(-50).reverse().map((a) => {
      const d = document.createElement("div");
      d.textContent = `${a.kind} · ${a.source}: ${a.text}`;
      return d;
    }));
  }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/plant/stream?token=${encodeURIComponent(session().access_token)}`);
  ws.onmessage = (ev) => onSnapshot(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    if (ev.code === 4503) { $("error").textContent = "No live plant: start `mixflow serve --twin`."; return; }
    if (ev.code === 4401 || ev.code === 4403) { $("error").textContent = "Not allowed to watch the plant."; return; }
    setTimeout(connect, 1000);
  };
}

function speedButtons() {
  for (const speed of [0, 1, 10, 60, 300, 1200]) {
    const b = document.createElement("button");
    b.className = "secondary"; b.dataset.speed = speed;
    b.textContent = speed === 0 ? "pause" : `${speed}×`;
    b.onclick = async () => {
      try { await api("/api/plant/time", { method: "POST", body: { speed } }); }
      catch (e) { $("error").textContent = e.message; }
    };
    $("speeds").append(b);
  }
}

(async () => {
  if (!requireLogin(["planner", "operator", "admin"])) return;
  try {
    plant.layout = await api("/api/plant/layout");
    try { info = await sayNouns(); } catch (e) { $("error").textContent = e.message; }
    plant.px = Math.max(2, Math.min(6, Math.floor(($("floor").parentElement.clientWidth || 960) / plant.layout.width)));
    sizeCanvases();
    drawFloor();
    drawMachines(null);
    buildLinePanel();
    speedButtons();
    requestAnimationFrame(frame);
    connect();
  } catch (e) { $("error").textContent = e.message; }
})();
