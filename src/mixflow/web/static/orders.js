// My orders: each order with its whole configuration and its status along the flow, refreshed every few
// seconds; dates in the reader's time zone; an open history stays open (across refreshes and reloads);
// cancelling asks first.
import { api, header, requireLogin, money, date, catalogue, url } from "/static/api.js";

header();
const LABELS = {
  placed: "placed", promised: "promised", sequenced: "sequenced", parts_built: "parts built",
  on_line: "on the line", off_line: "off the line", tested: "tested", delivered: "delivered",
  cancelled: "cancelled",
};
const $ = (id) => document.getElementById(id);

// The order's headline: the values of the catalogue's first two model variables (family and drive of a truck).
let headline = ["family", "drive"];
let product = "product";
let info = null;  // the catalogue: labels of variables and values

const label = (name) => { const v = info && info.variables.find((x) => x.name === name); return v ? v.label : name; };
const valueLabel = (name, code) => {
  const v = info && info.variables.find((x) => x.name === name);
  const value = v && v.values.find((x) => x.code === code);
  return value ? value.label : code;
};

// Which orders' histories are open, kept in the browser so a refresh or a reload leaves them open.
const OPEN_KEY = "mixflow.orders.history-open";
const openHistories = new Set((() => { try { return JSON.parse(localStorage.getItem(OPEN_KEY) || "[]"); } catch { return []; } })());
function rememberOpen(id, open) {
  if (open) openHistories.add(id); else openHistories.delete(id);
  try { localStorage.setItem(OPEN_KEY, JSON.stringify([...openHistories].slice(-200))); } catch { /* private mode */ }
}

function configurationList(configuration) {
  const dl = document.createElement("dl");
  dl.className = "config";
  const names = info ? info.variables.map((v) => v.name).filter((n) => n in configuration) : Object.keys(configuration);
  for (const name of names) {
    const item = document.createElement("div");
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label(name);
    dd.textContent = valueLabel(name, configuration[name]);
    dd.dataset.variable = name;
    item.append(dt, dd);
    dl.append(item);
  }
  return dl;
}

function card(order) {
  const el = document.createElement("div");
  el.className = "card order";
  el.dataset.order = order.id;
  const reached = new Set(order.history.map((h) => h.status));
  const flow = order.flow.map((s) => {
    const cls = order.status === s ? "now" : reached.has(s) ? "done" : "";
    return `<span class="${cls}" data-status="${s}">${LABELS[s] || s}</span>`;
  }).join("");
  const cancelled = order.status === "cancelled" ? `<span class="cancelled">cancelled</span>` : "";
  el.innerHTML = `<h2></h2><div class="muted summary"></div><div class="flow">${flow}${cancelled}</div>
    <div class="muted promise"></div><div class="configuration"></div>
    <details class="history"><summary>history</summary><table><tbody></tbody></table></details>`;
  el.querySelector("h2").textContent = `${order.id} · ${headline.map((v) => valueLabel(v, order.configuration[v] || "")).join(" · ")}`;
  el.querySelector(".summary").textContent =
    `${money(order.price, info ? info.currency : "EUR")} · placed ${date(order.placed_date)} · ${LABELS[order.status] || order.status}`;
  el.querySelector(".promise").textContent = order.promised_date
    ? `promised for ${date(order.promised_date)} · wanted by ${date(order.requested_date)}`
    : `no delivery promise yet · wanted by ${date(order.requested_date)}`;
  el.querySelector(".configuration").append(configurationList(order.configuration));
  const history = el.querySelector("details.history");
  history.open = openHistories.has(order.id);
  history.addEventListener("toggle", () => rememberOpen(order.id, history.open));
  // remembered at the click itself too: a refresh may replace the card before its toggle event runs
  history.querySelector("summary").addEventListener("click", () => rememberOpen(order.id, !history.open));
  const body = el.querySelector("tbody");
  for (const step of order.history) {
    const tr = document.createElement("tr");
    const note = step.promised_date ? `promised for ${date(step.promised_date)}` : step.note;
    for (const text of [date(step.at), LABELS[step.status] || step.status, note]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    body.append(tr);
  }
  if (["placed", "promised", "sequenced"].includes(order.status)) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary cancel"; b.textContent = "Cancel…";
    b.addEventListener("click", () => askCancel(order));
    el.append(b);
  }
  return el;
}

// Cancelling asks first, naming the order, its configuration headline, price and promise.
const dialog = $("cancel-dialog");
let cancelling = null;
function askCancel(order) {
  cancelling = order;
  $("cancel-id").textContent = order.id;
  $("cancel-summary").textContent = `${headline.map((v) => valueLabel(v, order.configuration[v] || "")).join(" ")}`
    + ` · ${money(order.price, info ? info.currency : "EUR")}`
    + (order.promised_date ? ` · promised for ${date(order.promised_date)}` : "");
  $("cancel-error").textContent = "";
  $("cancel-confirm").disabled = false;
  dialog.showModal();
}
$("cancel-keep").addEventListener("click", () => dialog.close());
$("cancel-confirm").addEventListener("click", async () => {
  if (!cancelling) return;
  $("cancel-confirm").disabled = true;
  try {
    await api(`/api/orders/${encodeURIComponent(cancelling.id)}/cancel`, { method: "POST" });
    dialog.close();
    load();
  } catch (e) { $("cancel-error").textContent = e.message; $("cancel-confirm").disabled = false; }
});

// Orders come a page at a time, newest first; "Show older" adds a page, and every refresh walks the
// pages shown so far by cursor (the last id of each page), so older orders keep their status current.
const PAGE = 50;
let pages = 1;

async function load() {
  try {
    const orders = [];
    let before = null, full = false;
    for (let k = 0; k < pages; k++) {
      const query = `limit=${PAGE}` + (before ? `&before=${encodeURIComponent(before)}` : "");
      const page = await api(`/api/orders?${query}`);
      orders.push(...page);
      full = page.length === PAGE;
      if (!full) break;
      before = page[page.length - 1].id;
    }
    const root = $("orders");
    root.replaceChildren(...orders.map(card));
    if (!orders.length) {
      root.innerHTML = `<p class="muted">No orders yet. <a href="${url("/static/configurator.html")}">Configure a <span></span></a>.</p>`;
      root.querySelector("span").textContent = product;
    }
    $("older").hidden = !full;
    $("error").textContent = "";
  } catch (e) { $("error").textContent = e.message; }
}

$("older").addEventListener("click", () => { pages += 1; load(); });
async function start() {
  try {
    info = await catalogue();
    product = info.product;
    const model = info.variables.filter((v) => v.scope === "model").map((v) => v.name);
    if (model.length) headline = model.slice(0, 2);
  } catch (e) { $("error").textContent = e.message; }
  load(); setInterval(load, 5000);
}

if (requireLogin()) start();
