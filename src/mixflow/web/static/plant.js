// Live floor map: the static floor drawn once, machine states per snapshot, AGVs every animation frame,
// interpolated between the websocket's snapshots so 700+ robots glide at the display's frame rate.
import { api, header, requireLogin, session, date, sayNouns, socketUrl } from "/static/api.js";
import { showAlarms } from "/static/alarms.js";

header();
const $ = (id) => document.getElementById(id);
// Idle machines in their shop's colour (distinct hues, dark enough that busy green and down red stand out).
const SHOP_COLOURS = ["#3b5b9a", "#7a4f9a", "#2f7f86", "#8a6a2f", "#9a4f6a", "#5b7a3a", "#6b5b4a", "#4a6b8a"];
let startSpeed = null;
const plant = {
  layout: null, prev: null, next: null, prevAt: 0, nextAt: 0, px: 4, frames: [], snapshots: 0, agvStyles: [],
};
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
  drawShopLabels(g);
}

// Each shop named over the middle of its machines, in its colour, with a dark halo to stay readable.
function drawShopLabels(g) {
  const { layout, px } = plant;
  const shops = [...new Set(layout.groups.map((gr) => gr.shop))];
  const sum = shops.map(() => [0, 0, 0, 1e9, -1e9]);
  for (let i = 0; i < layout.machine_ids.length; i++) {
    const k = shops.indexOf(layout.groups[layout.machine_group[i]].shop), x = layout.machine_xy[2 * i];
    sum[k][0] += x; sum[k][1] += layout.machine_xy[2 * i + 1]; sum[k][2] += 1;
    sum[k][3] = Math.min(sum[k][3], layout.machine_xy[2 * i + 1]);
  }
  g.font = "bold 13px system-ui"; g.textAlign = "center";
  shops.forEach((shop, k) => {
    if (!sum[k][2]) return;
    const x = (sum[k][0] / sum[k][2]) * px, y = Math.max(12, sum[k][3] * px - 3);
    g.lineWidth = 3; g.strokeStyle = "#0b1220"; g.strokeText(shop, x, y);
    g.fillStyle = "#e2e8f0"; g.fillText(shop, x, y);
  });
  g.textAlign = "start";
  $("shop-legend").replaceChildren(...shops.map((shop, k) => {
    const span = document.createElement("span");
    const i = document.createElement("i"); i.style.background = SHOP_COLOURS[k % SHOP_COLOURS.length];
    span.append(i, `${shop} (idle)`);
    return span;
  }));
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

// Each AGV's fill and error frame (null: none) by its VDA 5050 state, worked out once per snapshot: offline
// grey, paused white, charging lime, battery low amber, else blue; a FATAL error a red frame, a WARNING
// an orange one.
function agvStyles(snap) {
  const codes = snap.agv_vda || [], bit = vdaBits(snap);
  return snap.agv_soc.map((soc, i) => {
    const code = codes[i] || 0;
    const fill = code & bit.offline ? "#64748b" : code & bit.paused ? "#f8fafc" : code & bit.charging ? "#a3e635"
      : soc < 0.25 ? "#f59e0b" : "#38bdf8";
    return [fill, code & bit.FATAL ? "#f43f5e" : code & bit.WARNING ? "#fb923c" : null];
  });
}

// An AGV's VDA 5050 state (`agv_vda`) is one int: the bit of each flag in `agv_vda_flags` that holds, plus
// the index of its operatingMode in `agv_operating_modes` times the first bit past the flags.
function vdaBits(snap) {
  const flags = snap.agv_vda_flags || [];
  return { ...Object.fromEntries(flags.map((f, k) => [f, 1 << k])), modeStep: 1 << flags.length };
}

// What an AGV's VDA 5050 state says, for its detail: [state and mode, battery, errors].
function vdaText(snap, i) {
  const code = (snap.agv_vda || [])[i];
  const battery = `batteryCharge ${(100 * snap.agv_soc[i]).toFixed(0)} %`;
  if (code === undefined) return [null, battery, null];
  const bit = vdaBits(snap);
  const held = ["offline", "paused", "driving", "charging"].filter((f) => code & bit[f]);
  const mode = (snap.agv_operating_modes || [])[Math.floor(code / bit.modeStep)] || "?";
  const types = ((snap.agv_errors || []).find((e) => e[0] === i) || [i, []])[1];
  const levels = ["FATAL", "WARNING"].filter((l) => code & bit[l]);
  return [
    `VDA 5050: ${held.length ? held.join(", ") : "standing"} · ${mode}`,
    `${battery}${code & bit.charging ? " (charging)" : ""}`,
    levels.length ? `errors (${levels.join(", ")}): ${types.join(", ")}` : "no errors",
  ];
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
    const n = next.agv_x.length, styles = plant.agvStyles;
    const fills = {}, rings = {};  // colour -> x, y, x, y, ...: one path per colour
    for (let i = 0; i < n; i++) {
      const x0 = prev ? prev.agv_x[i] : next.agv_x[i], y0 = prev ? prev.agv_y[i] : next.agv_y[i];
      const x = x0 + (next.agv_x[i] - x0) * t, y = y0 + (next.agv_y[i] - y0) * t;
      const [fill, ring] = styles[i] || ["#38bdf8", null];
      (fills[fill] ||= []).push(x, y);
      if (ring) (rings[ring] ||= []).push(x, y);
    }
    for (const [colour, xy] of Object.entries(fills)) {
      g.fillStyle = colour;
      g.beginPath();
      for (let i = 0; i < xy.length; i += 2) g.rect(xy[i] * px, xy[i + 1] * px, px, px);
      g.fill();
    }
    g.lineWidth = 2;
    for (const [colour, xy] of Object.entries(rings)) {
      g.strokeStyle = colour;
      g.beginPath();
      for (let i = 0; i < xy.length; i += 2) g.rect(xy[i] * px - 2, xy[i + 1] * px - 2, px + 4, px + 4);
      g.stroke();
    }
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
  plant.agvStyles = agvStyles(snap);
  plant.snapshots += 1;
  drawMachines(snap);
  $("clock").textContent = date(snap.at);
  showLines(snap);
  $("speed-now").textContent = snap.running ? `${snap.speed}× real time` : "paused";
  document.querySelectorAll("#speeds button").forEach((b) => b.classList.toggle("on", Number(b.dataset.speed) === snap.speed));
  if (startSpeed === null) { startSpeed = snap.speed; speedButtons(); }
  const shown = JSON.stringify(snap.alarms.map((a) => [a.id, a.state]));
  if (snap.alarms.length && shown !== plant.alarmsShown) {
    plant.alarmsShown = shown;
    const epochMs = new Date(snap.at).getTime() - snap.at_s * 1000;
    const open = showAlarms($("alarms"), snap.alarms.slice(-50), {
      when: (at_s) => date(new Date(epochMs + at_s * 1000).toISOString()),
      canClear: (session() || {}).role !== "operator", errorBox: $("alarm-error"),
    });
    $("alarm-count").textContent = `(${open} open)`;
  }
  if (plant.selected) showDetail(plant.selected);
}

// What was clicked on the map: the AGV or machine nearest the click (within two cells).
function pick(ev) {
  const { layout, px, next } = plant;
  const rect = $("agvs").getBoundingClientRect();
  const cx = ((ev.clientX - rect.left) / rect.width) * layout.width, cy = ((ev.clientY - rect.top) / rect.height) * layout.height;
  let best = null;
  const consider = (kind, i, x, y) => {
    const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
    if (d <= 2 && (!best || d < best.d)) best = { kind, i, d };
  };
  if (next) for (let i = 0; i < next.agv_x.length; i++) consider("agv", i, next.agv_x[i], next.agv_y[i]);
  for (let i = 0; i < layout.machine_ids.length; i++) consider("machine", i, layout.machine_xy[2 * i], layout.machine_xy[2 * i + 1]);
  plant.selected = best;
  showDetail(best, true);
  void px;
}

async function showDetail(sel, fetchPlan = false) {
  const box = $("detail");
  if (!sel) { box.textContent = "Click a machine or an AGV on the map for its detail."; return; }
  const { layout, next } = plant;
  const lines = [];
  if (sel.kind === "machine") {
    const group = layout.groups[layout.machine_group[sel.i]];
    const state = !next ? "?" : next.machines_down.includes(sel.i) ? "down" : next.machines_busy.includes(sel.i) ? "busy" : "idle";
    const standard = next && next.machine_states ? ` (${next.machine_state_names[next.machine_states[sel.i]]})` : "";
    lines.push(`machine ${layout.machine_ids[sel.i]}`, `shop ${group.shop} · group ${group.id} (${group.operation})`, `state: ${state}${standard}`);
    if (fetchPlan || plant.detailOp === undefined) {
      try {
        const w = await api("/api/plan/gantt/window?back_h=8&ahead_h=0");
        const running = w.ops.filter((o) => o[0] === sel.i && o[2] >= w.at_s);
        const last = w.ops.filter((o) => o[0] === sel.i).sort((a, b) => b[2] - a[2])[0];
        plant.detailOp = running.length ? `running ${running[0][3]}${running[0][4] ? " (order at risk)" : ""}`
          : last ? `last ran ${last[3]}` : "no operation in the last 8 h";
      } catch (e) { plant.detailOp = e.message; }
    }
    lines.push(plant.detailOp);
  } else {
    lines.push(`AGV ${layout.agv_ids[sel.i]}`);
    if (next) {
      const [state, battery, errors] = vdaText(next, sel.i);
      if (state) lines.push(state);
      lines.push(`${battery} · at (${Math.round(next.agv_x[sel.i])}, ${Math.round(next.agv_y[sel.i])})`);
      if (errors) lines.push(errors);
    }
    if (fetchPlan || plant.detailOp === undefined) {
      try {
        const t = await api("/api/plan/tasks");
        const [state, task] = (t.agvs || {})[layout.agv_ids[sel.i]] || ["?", ""];
        plant.detailOp = `state: ${state.replace("_", " ")}${task ? ` · task ${task}` : " · no task"}`;
      } catch (e) { plant.detailOp = e.message; }
    }
    lines.push(plant.detailOp);
  }
  box.replaceChildren(...lines.map((t) => { const d = document.createElement("div"); d.textContent = t; return d; }));
}

function connect() {
  const ws = new WebSocket(socketUrl("/api/plant/stream")); // the session cookie logs it in
  ws.onmessage = (ev) => onSnapshot(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    if (ev.code === 4503) { $("error").textContent = "No live plant: start `mixflow serve --twin`."; return; }
    if (ev.code === 4401 || ev.code === 4403) { $("error").textContent = "Not allowed to watch the plant."; return; }
    setTimeout(connect, 1000);
  };
}

function speedButtons() {
  $("speeds").replaceChildren();
  const speeds = [0, 1, 10, 60, 300, 1200];
  if (startSpeed !== null && !speeds.includes(startSpeed)) speeds.push(startSpeed);  // back to the start speed
  for (const speed of speeds.sort((a, b) => a - b)) {
    const b = document.createElement("button");
    b.className = "secondary"; b.dataset.speed = speed;
    b.textContent = speed === 0 ? "pause" : `${speed}×${speed === startSpeed ? " (start)" : ""}`;
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
    $("agvs").addEventListener("click", pick);
    showDetail(null);
    requestAnimationFrame(frame);
    connect();
  } catch (e) { $("error").textContent = e.message; }
})();
