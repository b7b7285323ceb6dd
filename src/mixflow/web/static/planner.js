// Planner view: KPIs, the line sequence with its colour and ratio view, output vs. demand, OEE and the
// machine-group Gantt, all from the live plan (refreshed every few seconds).
import { api, chart, header, requireLogin, date, sayNouns, session } from "/static/api.js";
import { Gantt, drawSlots } from "/static/gantt.js";
import { showAlarms } from "/static/alarms.js";

header();
const $ = (id) => document.getElementById(id);
const PAINT = {
  white: "#f8fafc", sany_red: "#c8102e", yellow: "#facc15", blue: "#2563eb", green: "#16a34a", black: "#111827",
  silver: "#cbd5e1", orange: "#f97316", grey: "#6b7280", navy: "#1e3a8a", lime: "#84cc16", bronze: "#a16207",
};
// A colour code the table above does not know gets a stable colour of its own.
function paint(code) {
  if (PAINT[code]) return PAINT[code];
  if (!code) return "#999";
  let h = 0;
  for (const ch of code) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 55% 50%)`;
}
// Options that load line stations heavily; the ratio view shows how densely each comes down the line:
// one row per option, a mark per unit that has it, and the most of them in any WINDOW consecutive units.
// The rows below are the reference truck catalogue's (shown when its variables are there); for any
// other catalogue the rows are the rarest value of each model variable but the first in the sequence.
const WINDOW = 5;
const RATIO = [  // [label, variable, the value codes that must be the catalogue's, has]
  ["8x4 drive", "drive", ["8x4"], (c) => c.drive === "8x4"],
  ["sleeper cab", "cab", ["day"], (c) => c.cab && c.cab !== "day"],
  ["705 kWh pack", "powertrain", ["bev_705"], (c) => c.powertrain === "bev_705"],
  ["fuel cell", "powertrain", ["fcev"], (c) => c.powertrain === "fcev"],
  ["diesel or LNG engine", "powertrain", ["diesel", "lng"], (c) => c.powertrain === "diesel" || c.powertrain === "lng"],
];
let epoch = null;
let info = { product: "unit", products: "units", variables: [] };

function ratioRows(slots) {
  // the reference rows only where the catalogue has their variable with their values (a bus catalogue
  // may have a `drive` variable too, without an 8x4)
  const codes = new Map(info.variables.map((v) => [v.name, new Set(v.values.map((x) => x.code))]));
  const known = RATIO.filter(([, variable, values]) => codes.has(variable) && values.some((c) => codes.get(variable).has(c)));
  if (known.length) return known.map(([label, , , has]) => [label, (s) => has(s.configuration || s)]);
  const model = info.variables.filter((v) => v.scope === "model").slice(1, 6);
  const rows = [];
  for (const variable of model) {
    const counts = new Map();
    for (const s of slots) {
      const code = (s.configuration || {})[variable.name];
      if (code !== undefined) counts.set(code, (counts.get(code) || 0) + 1);
    }
    if (counts.size < 2) continue;
    const [rarest] = [...counts.entries()].sort((a, b) => a[1] - b[1])[0];
    const value = variable.values.find((x) => x.code === rarest);
    rows.push([`${variable.label}: ${value ? value.label : rarest}`, (s) => (s.configuration || {})[variable.name] === rarest]);
  }
  return rows;
}

function kpiCard(label, value) {
  const d = document.createElement("div");
  d.className = "kpi";
  d.innerHTML = `<div class="muted"></div><div class="v"></div>`;
  d.firstChild.textContent = label; d.lastChild.textContent = value;
  return d;
}

function showKpis(view) {
  const k = view.kpis;
  const oee = Object.values(k.oee || {});
  const meanOee = oee.length ? oee.reduce((a, g) => a + g.oee, 0) / oee.length : 0;
  const energy = k.energy_kwh || {};
  const delivered = Math.max(1, k.delivered);
  // before the first delivery there is no lead time and no promise kept or broken yet
  $("kpis").replaceChildren(
    kpiCard("orders / delivered", `${k.orders} / ${k.delivered}`),
    kpiCard("order-to-delivery p50 / p95", k.delivered
      ? `${k.order_to_delivery_days.p50} / ${k.order_to_delivery_days.p95} d` : "no deliveries yet"),
    kpiCard("promises kept", k.delivered ? `${(100 * k.promises_kept).toFixed(1)} %` : "-"),
    kpiCard("orders at risk", `${k.orders_flagged_at_risk ?? 0}`),
    kpiCard("line stops", `${k.line_stops}`),
    kpiCard("parts overdue at the line", `${k.material_overdue ?? 0}`),
    kpiCard("mean OEE", `${(100 * meanOee).toFixed(1)} %`),
    kpiCard("energy (machines + AGVs)", `${((energy.machines || 0) + (energy.agv_drive || 0)).toFixed(0)} kWh`),
    kpiCard(`energy per delivered ${info.product}`, k.delivered
      ? `${(((energy.machines || 0) + (energy.agv_drive || 0)) / delivered).toFixed(0)} kWh`
      : `no ${info.product} delivered yet`),
    kpiCard("AGV collisions", `${k.agv_collisions ?? 0}`),
  );
  const days = k.units_per_day.map((_, i) => `day ${i + 1}`);
  chart("output", [
    { x: days, y: k.units_per_day, type: "bar", name: `${info.products} built` },
    { x: days, y: k.orders_per_day, type: "scatter", mode: "lines+markers", name: "orders (demand)" },
  ], { margin: { t: 10, r: 10, b: 30, l: 40 }, legend: { orientation: "h" } }, { displayModeBar: false });
  const groups = Object.keys(k.oee || {});
  chart("oee", [{ x: groups, y: groups.map((g) => k.oee[g].oee), type: "bar", name: "OEE" }],
    { margin: { t: 10, r: 10, b: 90, l: 40 }, yaxis: { range: [0, 1], tickformat: ".0%" } }, { displayModeBar: false });
}

function windowMax(flags, q) {
  let best = 0, run = 0;
  for (let i = 0; i < flags.length; i++) {
    run += flags[i] ? 1 : 0;
    if (i >= q) run -= flags[i - q] ? 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

// One card per line (data-line = its id): its paint colours, option ratios and a note. The ratio rows
// are chosen from every line's units together, so the lines' cards compare row by row.
function showSequence(view) {
  const lines = view.lines && view.lines.length ? view.lines : [{ id: "", name: "", takt_s: 0, slots: view.slots }];
  const rows = ratioRows(view.slots);
  const box = $("sequences");
  const cards = lines.map((line) => {
    let card = [...box.children].find((c) => c.dataset.line === line.id);
    if (!card) {
      card = document.createElement("div");
      card.className = "card sequence"; card.dataset.line = line.id;
      card.innerHTML = `<h2><span class="title"></span> <span class="muted"></span></h2>`
        + `<div class="muted">Paint colour</div><div class="strip colours"></div><div class="ratios"></div>`
        + `<div class="muted note"></div>`;
    }
    const several = lines.length > 1;
    card.querySelector(".title").textContent = several ? `${line.name}` : "Line sequence";
    card.querySelector("h2 .muted").textContent = (several && line.name !== line.id ? `${line.id} · ` : "")
      + (line.takt_s ? `takt ${Math.round(line.takt_s / 60)} min · ` : "")
      + `released, then upcoming; one column per ${info.product}`;
    fillSequence(card, line.slots, rows, several);
    return card;
  });
  box.replaceChildren(...cards);
}

function fillSequence(card, slots, rows, several) {
  card.querySelector(".colours").replaceChildren(...slots.map((s) => {
    const d = document.createElement("div");
    d.style.background = paint(s.colour);
    const model = info.variables.filter((v) => v.scope === "model").slice(0, 2)
      .map((v) => (s.configuration || {})[v.name] || "").join(" ");
    d.title = `${s.order} · ${model} · ${s.colour} · ${s.state}`;
    if (s.state === "upcoming") d.style.opacity = "0.55";
    return d;
  }));
  const ratios = card.querySelector(".ratios");
  ratios.replaceChildren();
  for (const [label, has] of rows) {
    const flags = slots.map(has);
    const total = flags.filter(Boolean).length;
    const head = document.createElement("div");
    head.className = "muted";
    head.textContent = `${label}: ${total} of ${slots.length} ${info.products}, at most ${windowMax(flags, WINDOW)} in any ${WINDOW} in a row`;
    const strip = document.createElement("div");
    strip.className = "strip"; strip.style.height = "14px";
    for (const f of flags) {
      const d = document.createElement("div");
      d.style.background = f ? "#0a6cff" : "#f1f5f9";
      strip.append(d);
    }
    ratios.append(head, strip);
  }
  let changes = 0;
  for (let i = 1; i < slots.length; i++) if (slots[i].colour !== slots[i - 1].colour) changes++;
  const released = slots.filter((s) => s.state === "released").length;
  card.querySelector(".note").textContent = slots.length
    ? `${slots.length} ${info.products} (${released} released, ${slots.length - released} upcoming), ${changes} paint colour changes`
    : `No ${info.product} released to ${several ? "this" : "the"} line yet (the line starts once the first ${info.products}' parts are built).`;
}

let gantt = null;
let layout = null;
const when = (at_s) => (epoch ? date(new Date(epoch.getTime() + at_s * 1000).toISOString()) : `${at_s} s`);
const role = () => (session() || {}).role;

async function refreshGantt() {
  if (!layout) return;
  const hours = Number($("zoom").value);
  const view = await api(`/api/plan/gantt/window?back_h=${hours}&ahead_h=${Math.min(48, Math.max(8, hours))}`);
  view.to_s = view.at_s + Math.round(hours * 3600 / 8);  // the shop lanes end a little after now
  const ms = gantt.show(view);
  const risky = view.ops.filter((o) => o[4]).length;
  $("gantt-note").textContent = `${view.ops.length} operations in the window, ${risky} of orders at risk · drawn in ${ms.toFixed(0)} ms`;
  drawSlots($("slots"), { ...view, to_s: view.at_s + Math.min(48, Math.max(8, hours)) * 3600 }, layout.lines.map((l) => l.id));
}

async function refreshSide() {
  const [alarms, audit] = await Promise.all([api("/api/planner/alarms"), api("/api/planner/audit?limit=30")]);
  const open = showAlarms($("alarms"), [...alarms.alarms].reverse(), {
    when, canClear: role() !== "operator", errorBox: $("action-error"), onChange: refreshSide,
  });
  $("alarm-count").textContent = `(${open} open)`;
  $("audit").replaceChildren(...audit.actions.map((a) => {
    const d = document.createElement("div");
    d.textContent = `${date(a.at)} · ${a.username} · ${a.action} ${a.target} · ${a.outcome}${a.reason ? `: ${a.reason}` : ""}`;
    if (a.outcome !== "done") d.className = "error";
    return d;
  }));
}

// One planner action: POST, then say what it did (or why not) on the page.
async function act(label, path, body, say) {
  $("action-error").textContent = "";
  try {
    const done = await api(path, { method: "POST", body });
    $("action-result").textContent = `${label}: ${say(done)}`;
  } catch (e) {
    $("action-result").textContent = "";
    $("action-error").textContent = `${label} refused: ${e.message}`;
  }
  refreshSide(); refreshGantt().catch(() => {});
}

function sayExpedite(r) {
  const late = r.pushed.filter((p) => p.at_risk).map((p) => p.order);
  return `${r.order} in slot ${r.slot} (was ${r.was_slot}), promised ${when(r.promised_s)}; `
    + `${r.pushed.length} orders pushed one slot on, ${late.length} now at risk${late.length ? ` (${late.slice(0, 8).join(", ")})` : ""}`
    + ` · ${r.took_ms} ms`;
}

function wireActions() {
  const machine = () => encodeURIComponent($("machine-id").value.trim());
  $("machine-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("Machine down", `/api/planner/machines/${machine()}/down`,
      { reason: $("machine-reason").value, expected_h: Number($("machine-hours").value || 0) },
      (r) => `${r.machine} is ${r.state}`);
  });
  $("machine-up").addEventListener("click", () => act("Machine up", `/api/planner/machines/${machine()}/up`, undefined,
    (r) => `${r.machine} is ${r.state}`));
  $("rush-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const pick = $("rush-family");
      const choices = pick.value ? { [pick.dataset.variable]: pick.value } : {};
      const done = await api("/api/configurator/complete", { method: "POST", body: { choices } });
      act("Rush order", "/api/planner/rush-orders",
        { configuration: done.configuration, priority: Number($("rush-priority").value || 1) }, sayExpedite);
    } catch (e) { $("action-error").textContent = `Rush order refused: ${e.message}`; }
  });
  $("priority-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("Re-prioritise", `/api/planner/orders/${encodeURIComponent($("priority-order").value.trim())}/priority`,
      { priority: Number($("priority-value").value || 0) }, sayExpedite);
  });
  $("horizon-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("Freeze", "/api/planner/freeze", { frozen_h: Number($("freeze-hours").value || 0) },
      (r) => `the next ${(r.frozen_s / 3600).toFixed(1)} h of the shop plan are frozen`);
  });
  $("replan").addEventListener("click", () => act("Re-plan", "/api/planner/replan",
    { horizon_h: Number($("replan-hours").value || 0) }, (r) => `shop plan made again over ${(r.horizon_s / 3600).toFixed(0)} h`));
  $("zoom").addEventListener("change", () => refreshGantt().catch((e) => { $("error").textContent = e.message; }));
  window.addEventListener("resize", () => gantt && gantt.draw());
}

// Staff accounts (admins): open one, change its role, disable or re-enable it. Your own row cannot be
// demoted or disabled (the API refuses it too: the plant must keep an admin).
const STAFF_ROLES = ["planner", "operator", "admin"];

function staffRow(a, me, change) {
  const tr = document.createElement("tr");
  tr.dataset.user = a.username;
  if (a.disabled) tr.className = "disabled";
  const name = document.createElement("td");
  name.textContent = a.username;
  const pick = document.createElement("select");
  pick.className = "staff-role"; pick.setAttribute("aria-label", `role of ${a.username}`);
  pick.replaceChildren(...STAFF_ROLES.map((r) => {
    const o = document.createElement("option"); o.value = r; o.textContent = r; return o;
  }));
  pick.value = a.role;
  pick.addEventListener("change", () => change(a, "role", { role: pick.value }, `${a.username} is now ${pick.value}`));
  const state = document.createElement("td");
  state.className = "staff-state"; state.textContent = a.disabled ? "disabled" : "active";
  const button = document.createElement("button");
  button.type = "button"; button.className = "secondary staff-toggle";
  button.textContent = a.disabled ? "Enable" : "Disable";
  button.addEventListener("click", () => (a.disabled
    ? change(a, "enable", undefined, `${a.username} is enabled again`)
    : change(a, "disable", { reason: "" }, `${a.username} is disabled: logged out and cannot log in`)));
  if (a.username === me) {
    pick.disabled = true; button.disabled = true;
    pick.title = button.title = "your own account: another admin can change it";
  }
  const cells = [name, document.createElement("td"), state, document.createElement("td")];
  cells[1].append(pick); cells[3].append(button);
  tr.append(...cells);
  return tr;
}

async function showStaff() {
  if (role() !== "admin") return;
  $("staff").hidden = false;
  const me = (session() || {}).username;
  const list = async () => {
    const staff = await api("/api/staff/accounts");
    $("staff-list").replaceChildren(...staff.accounts.map((a) => staffRow(a, me, change)));
  };
  async function change(account, what, body, say) {
    $("staff-error").textContent = ""; $("staff-result").textContent = "";
    try {
      await api(`/api/staff/accounts/${account.id}/${what}`, { method: "POST", body });
      $("staff-result").textContent = say;
    } catch (e) { $("staff-error").textContent = `${account.username}: ${e.message}`; }
    list().catch((e) => { $("staff-error").textContent = e.message; }); refreshSide();
  }
  $("staff-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/staff/accounts", { method: "POST", body: {
        username: $("staff-name").value.trim(), password: $("staff-password").value, role: $("staff-role").value } });
      $("staff-error").textContent = ""; $("staff-password").value = "";
      list(); refreshSide();
    } catch (e) { $("staff-error").textContent = e.message; }
  });
  list().catch((e) => { $("staff-error").textContent = e.message; });
}

async function refresh() {
  try {
    const [kpis, sequence] = await Promise.all([api("/api/plan/kpis"), api("/api/plan/sequence")]);
    const state = await api("/api/plant/state");
    if (!epoch) epoch = new Date(new Date(state.at).getTime() - state.at_s * 1000);
    showMachineStates(state); showAgvStates(state);
    $("clock").textContent = date(new Date(epoch.getTime() + kpis.at_s * 1000).toISOString());
    showKpis(kpis); showSequence(sequence);
    await Promise.all([refreshGantt(), refreshSide()]);
    $("error").textContent = "";
  } catch (e) { $("error").textContent = e.message; }
}

// Each machine's standard state (OPC 40001-1 MachineryItemState: Executing, NotExecuting, OutOfService,
// NotAvailable) beside its id in the machine list, so a planner sees what is down before taking it down.
function showMachineStates(state) {
  const numbers = state.machine_states || [], names = state.machine_state_names || [];
  const options = $("machine-list").children;
  for (let i = 0; i < options.length; i++) options[i].label = numbers[i] === undefined ? "" : names[numbers[i]];
}

// How many AGVs are in each VDA 5050 state, each counted once: offline, then an error (FATAL or WARNING),
// paused, charging, driving, and idle (none of these). `agv_vda` holds a bit per flag of `agv_vda_flags`.
const AGV_COUNTED = [["offline", ["offline"]], ["error", ["FATAL", "WARNING"]], ["paused", ["paused"]],
  ["charging", ["charging"]], ["driving", ["driving"]]];
function showAgvStates(state) {
  const flags = state.agv_vda_flags || [];
  const mask = (names) => names.reduce((m, f) => (flags.includes(f) ? m | (1 << flags.indexOf(f)) : m), 0);
  const counted = AGV_COUNTED.map(([name, names]) => [name, mask(names)]), fatalBit = mask(["FATAL"]);
  const counts = Object.fromEntries([...AGV_COUNTED.map(([name]) => [name, 0]), ["idle", 0]]);
  let fatal = 0;
  for (const code of state.agv_vda || []) {
    const found = counted.find(([, bits]) => code & bits);
    counts[found ? found[0] : "idle"] += 1;
    if (code & fatalBit) fatal += 1;
  }
  const shown = Object.entries(counts).filter(([name, n]) => name !== "offline" || n > 0);
  $("agv-states").replaceChildren(...shown.map(([name, n]) => {
    const card = kpiCard(name, name === "error" && n ? `${n} (${fatal} FATAL)` : `${n}`);
    card.dataset.state = name;
    return card;
  }));
}

async function start() {
  try { info = await sayNouns(); } catch (e) { $("error").textContent = e.message; }
  try {
    layout = await api("/api/plant/layout");
    gantt = new Gantt($("gantt"), layout);
    $("machine-list").replaceChildren(...layout.machine_ids.slice(0, 3000).map((id) => {
      const o = document.createElement("option"); o.value = id; return o;
    }));
    const family = info.variables.find((v) => v.name === "family") || info.variables[0];
    if (family) $("rush-family").dataset.variable = family.name;
    $("rush-family").replaceChildren(...(family ? family.values : []).map((v) => {
      const o = document.createElement("option"); o.value = v.code; o.textContent = v.label; return o;
    }));
  } catch (e) { $("error").textContent = e.message; }
  wireActions(); showStaff();
  refresh(); setInterval(refresh, 5000);
}

if (requireLogin(["planner", "operator", "admin"])) start();
