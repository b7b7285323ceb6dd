// The live Gantt on a canvas: one lane per machine group (expand a group for one lane per machine),
// grouped by shop, a red "now" line, orders at risk drawn red; and the line sequence's slots, one lane
// per line. Drawn in one pass over the window's operations, so 2,040 machines cost a few milliseconds.
const LANE = 14, HEAD = 18, LABEL = 170, AXIS = 18;
const SHOP_COLOURS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#475569"];

export class Gantt {
  constructor(canvas, layout) {
    this.canvas = canvas;
    this.layout = layout;
    this.expanded = new Set();
    this.collapsedShops = new Set();
    this.shops = [...new Set(layout.groups.map((g) => g.shop))];
    this.machinesOf = layout.groups.map(() => []);
    layout.machine_group.forEach((g, m) => this.machinesOf[g].push(m));
    this.view = null;
    this.lanes = [];
    this.pan_s = 0; // how far the shown window is dragged back (+) or on (-) from the fetched one
    this.frames = 0;
    this.pending = false;
    canvas.addEventListener("click", (ev) => { if (!this.dragged) this.click(ev); this.dragged = false; });
    canvas.addEventListener("pointerdown", (ev) => {
      if (ev.clientX - canvas.getBoundingClientRect().left <= LABEL) return;
      this.drag = ev.clientX; this.dragged = false; canvas.setPointerCapture(ev.pointerId);
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (this.drag === undefined || !this.view) return;
      const width = (canvas.clientWidth || 900) - LABEL - 6;
      this.panBy(((this.drag - ev.clientX) / width) * (this.view.to_s - this.view.from_s));
      this.drag = ev.clientX; this.dragged = true;
    });
    canvas.addEventListener("pointerup", () => { this.drag = undefined; });
    canvas.addEventListener("dblclick", () => { this.pan_s = 0; this.draw(); });
  }

  // Drag the shown window by `seconds` (later when positive), within what was fetched around now;
  // redrawn once per animation frame however many pointer moves arrive.
  panBy(seconds) {
    const view = this.view;
    if (!view) return;
    const span = view.to_s - view.from_s;
    this.pan_s = Math.max(-span / 2, Math.min(span / 2, this.pan_s + seconds));
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  // Lanes top to bottom: [kind, label, shop index, group index, machine index or -1]
  buildLanes() {
    const lanes = [];
    this.shops.forEach((shop, s) => {
      lanes.push(["shop", `${this.collapsedShops.has(shop) ? "▸" : "▾"} ${shop}`, s, -1, -1]);
      if (this.collapsedShops.has(shop)) return;
      this.layout.groups.forEach((g, gi) => {
        if (g.shop !== shop) return;
        const open = this.expanded.has(gi);
        lanes.push(["group", `${open ? "▾" : "▸"} ${g.id} (${g.machines})`, s, gi, -1]);
        if (open) for (const m of this.machinesOf[gi]) lanes.push(["machine", this.layout.machine_ids[m], s, gi, m]);
      });
    });
    this.lanes = lanes;
  }

  click(ev) {
    const rect = this.canvas.getBoundingClientRect();
    const y = ev.clientY - rect.top - AXIS;
    const lane = this.lanes[Math.floor(y / LANE)];
    if (!lane || ev.clientX - rect.left > LABEL) return;
    if (lane[0] === "shop") {
      const shop = this.shops[lane[2]];
      if (this.collapsedShops.has(shop)) this.collapsedShops.delete(shop); else this.collapsedShops.add(shop);
    } else if (lane[0] === "group") {
      if (this.expanded.has(lane[3])) this.expanded.delete(lane[3]); else this.expanded.add(lane[3]);
    }
    this.draw();
  }

  show(view) { this.view = view; return this.draw(); }

  draw() {
    const view = this.view;
    if (!view) return 0;
    const began = performance.now();
    this.buildLanes();
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const width = c.clientWidth || 900, height = AXIS + this.lanes.length * LANE + 4;
    c.style.height = `${height}px`;
    c.width = Math.round(width * dpr); c.height = Math.round(height * dpr);
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const from = view.from_s + this.pan_s, to = Math.max(view.to_s, view.at_s) + this.pan_s;
    const span = Math.max(1, to - from);
    const x = (t) => LABEL + ((t - from) / span) * (width - LABEL - 6);
    // lane of each machine: its own when its group is open, else its group's
    const laneOfGroup = new Map(), laneOfMachine = new Map();
    this.lanes.forEach((lane, k) => {
      if (lane[0] === "group") laneOfGroup.set(lane[3], k);
      if (lane[0] === "machine") laneOfMachine.set(lane[4], k);
    });
    g.font = "11px system-ui, sans-serif"; g.textBaseline = "middle";
    this.lanes.forEach((lane, k) => {
      const y = AXIS + k * LANE;
      if (lane[0] === "shop") { g.fillStyle = "#eef2f7"; g.fillRect(0, y, width, LANE); }
      else if (k % 2) { g.fillStyle = "#fafbfc"; g.fillRect(LABEL, y, width - LABEL, LANE); }
      g.fillStyle = lane[0] === "shop" ? SHOP_COLOURS[lane[2] % SHOP_COLOURS.length] : "#334155";
      g.font = lane[0] === "shop" ? "bold 11px system-ui, sans-serif" : "11px system-ui, sans-serif";
      g.fillText(lane[1], lane[0] === "machine" ? 24 : lane[0] === "group" ? 10 : 2, y + LANE / 2, LABEL - 12);
    });
    // hour ticks
    g.fillStyle = "#64748b"; g.strokeStyle = "#e2e8f0"; g.font = "10px system-ui, sans-serif";
    const step = span > 36 * 3600 ? 6 * 3600 : span > 12 * 3600 ? 2 * 3600 : 3600;
    for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
      g.beginPath(); g.moveTo(x(t), AXIS); g.lineTo(x(t), height); g.stroke();
      const day = Math.floor(t / 86400), h = Math.floor((t % 86400) / 3600);
      g.fillText(`d${day + 1} ${String(h).padStart(2, "0")}:00`, x(t) + 2, AXIS / 2);
    }
    // operations: ordinary ones first, then those of orders at risk on top
    const machineGroup = this.layout.machine_group;
    for (const pass of [false, true]) {
      for (const [m, s, e, , risk] of view.ops) {
        if (risk !== pass) continue;
        const gi = machineGroup[m];
        const k = laneOfMachine.has(m) ? laneOfMachine.get(m) : laneOfGroup.get(gi);
        if (k === undefined) continue;
        const shop = this.shops.indexOf(this.layout.groups[gi].shop);
        g.fillStyle = risk ? "#dc2626" : SHOP_COLOURS[shop % SHOP_COLOURS.length];
        g.globalAlpha = risk ? 0.95 : laneOfMachine.has(m) ? 0.85 : 0.35;
        const x0 = Math.max(LABEL, x(s)), x1 = Math.min(width, x(e));
        if (x1 > x0) g.fillRect(x0, AXIS + k * LANE + 2, Math.max(1, x1 - x0), LANE - 4);
      }
    }
    g.globalAlpha = 1;
    g.strokeStyle = "#ef4444"; g.lineWidth = 2;
    g.beginPath(); g.moveTo(x(view.at_s), AXIS - 4); g.lineTo(x(view.at_s), height); g.stroke();
    g.lineWidth = 1;
    g.fillStyle = "#ef4444"; g.fillText("now", x(view.at_s) + 3, AXIS - 8 > 0 ? AXIS - 8 : 6);
    this.drawMs = performance.now() - began;
    this.frames += 1;
    c.dataset.drawMs = this.drawMs.toFixed(1);
    c.dataset.frames = String(this.frames);
    c.dataset.panS = String(Math.round(this.pan_s));
    return this.drawMs;
  }
}

// The line sequence over the same kind of window: one lane per line, a bar per unit from its slot to
// off the line (rush orders outlined, orders at risk red).
export function drawSlots(canvas, view, lineIds) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 900, height = AXIS + lineIds.length * 3 * LANE + 4;
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, width, height);
  const from = view.at_s - 3600, to = view.to_s, span = Math.max(1, to - from);
  const x = (t) => LABEL + ((t - from) / span) * (width - LABEL - 6);
  g.font = "11px system-ui, sans-serif"; g.textBaseline = "middle";
  lineIds.forEach((id, k) => { g.fillStyle = "#334155"; g.fillText(id, 2, AXIS + k * 3 * LANE + 1.5 * LANE, LABEL - 8); });
  const row = new Map();
  for (const [line, order, s, e, status, risk, rush] of view.slots) {
    const k = lineIds.indexOf(line);
    if (k < 0 || e < from) continue;
    const r = (row.get(line) || 0) % 3; row.set(line, r + 1);
    const y = AXIS + (k * 3 + r) * LANE + 2;
    g.fillStyle = risk ? "#dc2626" : status === "on_line" ? "#16a34a" : status === "parts_built" ? "#2563eb" : "#94a3b8";
    g.fillRect(Math.max(LABEL, x(s)), y, Math.max(2, x(e) - Math.max(LABEL, x(s))), LANE - 4);
    if (rush) { g.strokeStyle = "#f59e0b"; g.lineWidth = 2; g.strokeRect(Math.max(LABEL, x(s)), y, Math.max(2, x(e) - Math.max(LABEL, x(s))), LANE - 4); g.lineWidth = 1; }
    if (x(e) - x(s) > 60) { g.fillStyle = "#fff"; g.fillText(order, Math.max(LABEL, x(s)) + 3, y + LANE / 2 - 2); }
  }
  g.strokeStyle = "#ef4444"; g.lineWidth = 2;
  g.beginPath(); g.moveTo(x(view.at_s), AXIS - 4); g.lineTo(x(view.at_s), height); g.stroke();
}
