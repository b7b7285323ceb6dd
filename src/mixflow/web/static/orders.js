// My orders: each order with its status along the flow, refreshed every few seconds.
import { api, header, requireLogin, money, date, catalogue } from "/static/api.js";

header();
const LABELS = {
  placed: "placed", promised: "promised", sequenced: "sequenced", parts_built: "parts built",
  on_line: "on the line", off_line: "off the line", tested: "tested", delivered: "delivered",
};

// The order's headline: the values of the catalogue's first two model variables (family and drive of a truck).
let headline = ["family", "drive"];
let product = "product";

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
    <div class="muted promise"></div><details><summary>history</summary><table><tbody></tbody></table></details>`;
  el.querySelector("h2").textContent = `${order.id} · ${headline.map((v) => order.configuration[v] || "").join(" ")}`;
  el.querySelector(".summary").textContent = `${money(order.price)} · placed ${date(order.placed_date)} · status ${order.status}`;
  el.querySelector(".promise").textContent = order.promised_date
    ? `promised for ${date(order.promised_date)}` : "no delivery promise yet";
  const body = el.querySelector("tbody");
  for (const step of order.history) {
    const tr = document.createElement("tr");
    for (const text of [date(step.at), step.status, step.note]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    body.append(tr);
  }
  if (["placed", "promised", "sequenced"].includes(order.status)) {
    const b = document.createElement("button");
    b.className = "secondary"; b.textContent = "Cancel";
    b.onclick = async () => { try { await api(`/api/orders/${order.id}/cancel`, { method: "POST" }); load(); }
                              catch (e) { document.getElementById("error").textContent = e.message; } };
    el.append(b);
  }
  return el;
}

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
    const root = document.getElementById("orders");
    root.replaceChildren(...orders.map(card));
    if (!orders.length) root.innerHTML = `<p class="muted">No orders yet. <a href="/static/configurator.html">Configure a ${product}</a>.</p>`;
    document.getElementById("older").hidden = !full;
  } catch (e) { document.getElementById("error").textContent = e.message; }
}

document.getElementById("older").onclick = () => { pages += 1; load(); };
async function start() {
  try {
    const info = await catalogue();
    product = info.product;
    const model = info.variables.filter((v) => v.scope === "model").map((v) => v.name);
    if (model.length) headline = model.slice(0, 2);
  } catch (e) { document.getElementById("error").textContent = e.message; }
  load(); setInterval(load, 5000);
}

if (requireLogin()) start();
