// Live floor map: the static floor drawn once, machine states per snapshot, AGVs every animation frame,
// interpolated between the websocket's snapshots so 700+ robots glide at the display's frame rate.
import { api, header, requireLogin, session, date } from "/static/api.js";

header();
const $ = (id) => document.getElementById(id);
const SHOP_COLOURS = ["#475569", "#52606d", "#5b6b7c", "#4b5563", "#57534e", "#44403c"];
const plant = { layout: null, prev: null, next: null, prevAt: 0, nextAt: 0, px: 4, frames: [], snapshots: 0 };
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
  g.font = "12px system-ui"; g.fillStyle = "#94a3b8";
  for (const [name, [x0, y0]] of Object.entries(layout.zones)) g.fillText(name, x0 * px + 3, y0 * px + 12);
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
  const takt = plant.layout.takt_s;
  $("takt").style.width = `${(100 * (snap.line_position_s % takt)) / takt}%`;
  $("takt").style.background = snap.line_stopped ? "#ef4444" : "";
  const lines = plant.layout.lines || [];
  if (lines.length > 1 && snap.lines) {
    // several lines: the bar follows the first, the text names each line's state
    $("line-state").textContent = snap.lines.map((l, k) => {
      const t = (lines[k] || lines[0]).takt_s;
      return `${l.id} ${l.stopped ? "stopped" : "moving"} · ${l.position_s % t} s of ${t} s`;
    }).join(" | ");
  } else {
    $("line-state").textContent = `${snap.line_stopped ? "stopped" : "moving"} · ${snap.line_position_s % takt} s of ${takt} s takt`;
  }
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
    plant.px = Math.max(2, Math.min(6, Math.floor(($("floor").parentElement.clientWidth || 960) / plant.layout.width)));
    sizeCanvases();
    drawFloor();
    drawMachines(null);
    speedButtons();
    requestAnimationFrame(frame);
    connect();
  } catch (e) { $("error").textContent = e.message; }
})();
