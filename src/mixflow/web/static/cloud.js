// The cloud's overview (`mixflow serve --cloud`): every plant you may see, with its time, line and KPIs
// (staff of the plant), links to its pages, and your orders wherever they are. Refreshed every 10 s.
import { api, header, requireLogin, date } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const STAFF = ["planner", "operator", "admin"];

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function pages(plant, role) {
  const td = document.createElement("td");
  const wanted = [["configurator.html", "Configure"], ["orders.html", "Orders"]];
  if (STAFF.includes(role)) wanted.push(["plant.html", "Plant"], ["planner.html", "Planner"]);
  for (const [file, title] of wanted) {
    const a = document.createElement("a");
    a.href = `${plant.base}/static/${file}`; a.textContent = title;
    td.append(a, " ");
  }
  return td;
}

function plantRow(plant, role) {
  const tr = document.createElement("tr");
  tr.dataset.plant = plant.id;
  const name = cell(plant.name ? `${plant.id} · ${plant.name}` : plant.id);
  if (!plant.running) {
    tr.append(name, cell(`not running: ${plant.error}`, "error"));
    tr.lastChild.colSpan = 7;
    return tr;
  }
  const k = plant.kpis;
  const percent = (x) => (x === undefined ? "–" : `${Math.round(100 * x)}%`);
  tr.append(name, cell(date(plant.at)), cell(plant.line_stopped ? "stopped" : "running", plant.line_stopped ? "error" : ""),
    cell(k ? String(k.orders) : "–"), cell(k ? String(k.delivered) : "–"), cell(k ? percent(k.promises_kept) : "–"),
    cell(k && k.order_to_delivery_days ? `${k.order_to_delivery_days.p95.toFixed(1)} d` : "–"), pages(plant, role));
  return tr;
}

async function refresh(role) {
  try {
    const [cloud, mine] = await Promise.all([api("/api/cloud/plants"), api("/api/cloud/orders")]);
    $("cloud-name").textContent = `${cloud.name}: all plants`;
    $("plants").replaceChildren(...cloud.plants.map((p) => plantRow(p, role)));
    $("orders").replaceChildren(...mine.orders.slice(0, 50).map((o) => {
      const tr = document.createElement("tr");
      const id = document.createElement("td");
      const a = document.createElement("a");
      a.href = `${o.base}/static/orders.html`; a.textContent = o.order.id;
      id.append(a);
      tr.append(id, cell(o.plant), cell(o.order.status), cell(o.order.promised_date ? date(o.order.promised_date) : "–"));
      return tr;
    }));
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
  }
}

header();
const who = requireLogin();
if (who) {
  refresh(who.role);
  setInterval(() => refresh(who.role), 10_000);
}
