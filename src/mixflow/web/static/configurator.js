// Configurator page: every click asks the API what stays possible; values that conflict with the choices
// made are marked and explain themselves on hover; clicking one offers "switch and adjust" (the fewest
// other choices to change). The price comes line by line; an order is reviewed and confirmed before it
// is placed, with the date wanted beside the earliest the plant can promise.
import { api, header, session, money, date, bigCount, sayNouns, url, PLANT } from "/static/api.js";

header();
const state = {
  catalogue: null, choices: {}, answer: null, seq: 0, explanations: new Map(),
  quoteSeq: 0, everywhereSeq: 0, promise: null, wanted: null, offer: null,
};
const $ = (id) => document.getElementById(id);
const tooltip = $("tooltip");

function showError(e) { $("error").textContent = e ? e.message || String(e) : ""; }

const variableOf = (name) => state.catalogue.variables.find((v) => v.name === name);
const valueOf = (name, code) => (variableOf(name).values.find((x) => x.code === code) || { label: code });

// yyyy-mm-dd of an instant in the reader's time zone (what a date input holds), and back (noon local).
function localDay(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
function noonOf(day) { return new Date(`${day}T12:00:00`).toISOString(); }

function chipFor(variable, value, valid, switchable) {
  const { choices, catalogue } = state;
  const chip = document.createElement("button");
  chip.type = "button";
  chip.className = "chip";
  chip.dataset.variable = variable.name;
  chip.dataset.value = value.code;
  chip.innerHTML = `<span></span><span class="price"></span>`;
  chip.firstChild.textContent = value.label;
  chip.lastChild.textContent = value.price ? `+${money(value.price, catalogue.currency)}` : "";
  const chosen = choices[variable.name];
  let clashes = false;
  if (chosen === value.code) chip.classList.add("chosen");
  else if (chosen === undefined) clashes = valid && !valid.has(value.code);
  else clashes = switchable && !switchable.has(value.code);
  if (clashes) {
    // greyed: not possible with the choices made; conflict: a chosen feature's value that would need others changed
    chip.classList.add(chosen === undefined ? "greyed" : "conflict");
    chip.setAttribute("aria-description", "conflicts with your choices: click to switch and adjust");
    chip.addEventListener("mouseenter", (ev) => explain(chip, ev));
    chip.addEventListener("mouseleave", () => { tooltip.hidden = true; });
  }
  chip.addEventListener("click", () => choose(variable.name, value.code, chip));
  return chip;
}

function render() {
  const { catalogue, answer } = state;
  const root = $("variables");
  root.replaceChildren();
  for (const variable of catalogue.variables) {
    const box = document.createElement("div");
    box.className = "variable";
    box.dataset.variable = variable.name;
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = variable.label;
    const chips = document.createElement("div");
    chips.className = "chips";
    const valid = answer ? new Set(answer.valid[variable.name] || []) : null;
    const switchable = answer && answer.switchable && answer.switchable[variable.name]
      ? new Set(answer.switchable[variable.name]) : null;
    for (const value of variable.values) chips.append(chipFor(variable, value, valid, switchable));
    box.append(name, chips);
    root.append(box);
  }
  if (answer && answer.count === "0") {
    $("price").textContent = "—";
    $("count").textContent = "0";
    showError({ message: answer.conflicts.join(" ") });
  } else if (answer) {
    $("price").textContent = answer.configuration_price !== null
      ? money(answer.configuration_price, catalogue.currency)
      : `${money(answer.price.min, catalogue.currency)} – ${money(answer.price.max, catalogue.currency)}`;
    $("count").textContent = bigCount(answer.count);
  }
  $("count-noun").textContent = answer && answer.count === "1" ? catalogue.product : catalogue.products;
  renderBreakdown($("breakdown"), answer && answer.breakdown, answer && !answer.complete);
  const complete = answer && answer.complete && answer.count !== "0";
  $("order").disabled = !complete;
  if (complete) { quote(); everywhere(); }
  else {
    state.promise = null;
    $("promise").textContent = "Choose every option to see the delivery date.";
    $("earliest").textContent = "";
  }
}

// Base, each chosen value's price, each surcharge by name, and the total (or the total so far).
function renderBreakdown(body, breakdown, partial) {
  body.replaceChildren();
  if (!breakdown) return;
  const currency = breakdown.currency;
  const row = (label, amount, cls) => {
    const tr = document.createElement("tr");
    if (cls) tr.className = cls;
    const a = document.createElement("td"), b = document.createElement("td");
    a.textContent = label;
    b.textContent = amount;
    b.className = "amount";
    tr.append(a, b);
    body.append(tr);
  };
  for (const line of breakdown.lines) {
    const sign = line.kind !== "base" && line.amount > 0 ? "+" : "";
    const label = line.kind === "surcharge" ? `${line.amount < 0 ? "Bundle discount" : "Surcharge"} ${line.label}` : line.label;
    row(label, line.amount ? `${sign}${money(line.amount, currency)}` : "included", `line-${line.kind}`);
  }
  row(partial ? "Total so far" : "Total", money(breakdown.total, currency), "total");
}

async function propagate(undo) {
  const seq = ++state.seq;
  try {
    const answer = await api("/api/configurator/propagate", { method: "POST", body: { choices: state.choices } });
    if (seq !== state.seq) return;  // a newer click already answered
    if (answer.count === "0" && undo) {  // switching a made choice clashed: keep the old one, say why
      undo();
      showError({ message: answer.conflicts.join(" ") });
      return;
    }
    state.answer = answer;
    state.explanations.clear();
    if (answer.count !== "0") showError(null);
    render();
  } catch (e) { showError(e); }
}

function choose(variable, value, chip) {
  tooltip.hidden = true;
  if (chip.classList.contains("greyed") || chip.classList.contains("conflict")) {
    offerAdjust(variable, value);
    return;
  }
  hideOffer();
  const before = state.choices[variable];
  if (before === value) delete state.choices[variable];
  else state.choices[variable] = value;
  $("placed").replaceChildren();
  propagate(before === undefined || before === value ? null : () => { state.choices[variable] = before; });
}

// "Switch and adjust": the server finds the fewest other choices to change so the value fits.
async function offerAdjust(variable, value) {
  const box = $("adjust");
  try {
    const offer = await api("/api/configurator/adjust", {
      method: "POST", body: { choices: state.choices, variable, value },
    });
    state.offer = offer;
    $("adjust-text").textContent = offer.changes.length
      ? `${variableOf(variable).label} = ${valueOf(variable, value).label} needs ${offer.changes.length}`
        + ` other change${offer.changes.length > 1 ? "s" : ""}:`
      : `${variableOf(variable).label} = ${valueOf(variable, value).label} fits your other choices.`;
    const list = $("adjust-changes");
    list.replaceChildren();
    for (const change of offer.changes) {
      const li = document.createElement("li");
      li.dataset.variable = change.variable;
      li.innerHTML = `<strong></strong>: <s></s> → <span></span>`;
      li.querySelector("strong").textContent = change.label;
      li.querySelector("s").textContent = change.old_label;
      li.querySelector("span").textContent = change.new_label;
      list.append(li);
    }
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  } catch (e) { showError(e); }
}

function hideOffer() { state.offer = null; $("adjust").hidden = true; }

$("adjust-apply").addEventListener("click", () => {
  if (!state.offer) return;
  state.choices = { ...state.offer.choices };
  hideOffer();
  $("placed").replaceChildren();
  propagate();
});
$("adjust-keep").addEventListener("click", hideOffer);

async function explain(chip, ev) {
  const key = `${chip.dataset.variable}=${chip.dataset.value}`;
  tooltip.style.left = `${Math.min(ev.clientX + 12, window.innerWidth - 240)}px`;
  tooltip.style.top = `${ev.clientY + 12}px`;
  tooltip.textContent = "checking why…";
  tooltip.hidden = false;
  let text = state.explanations.get(key);
  if (!text) {
    try {
      const why = await api("/api/configurator/explain", {
        method: "POST", body: { choices: state.choices, variable: chip.dataset.variable, value: chip.dataset.value },
      });
      text = `${why.text}. Click to switch and adjust.`;
      state.explanations.set(key, text);
    } catch (e) { text = e.message; }
  }
  chip.title = text;
  chip.dataset.reason = text;
  if (!tooltip.hidden) tooltip.textContent = text;
}

// Ask the plant for a promise for the date wanted (its default when none is chosen yet); the earliest
// date it could deliver shows beside the field.
async function quote() {
  const target = $("promise");
  if (!session()) {
    target.innerHTML = `<a href="/static/login.html?next=${encodeURIComponent(url("/static/configurator.html"))}">Log in</a> to see the delivery date and order.`;
    $("order").disabled = true;
    return null;
  }
  const seq = ++state.quoteSeq;
  target.textContent = "asking the plant…";
  const body = { configuration: state.choices };
  if (state.wanted) body.requested_date = state.wanted;
  try {
    const promise = await api("/api/orders/quote", { method: "POST", body });
    if (seq !== state.quoteSeq) return null;
    state.promise = promise;
    if (!promise.available) {
      target.textContent = promise.detail;
      return promise;
    }
    target.textContent = `Delivered by ${date(promise.promised_date)}`;
    target.dataset.promised = promise.promised_date || "";
    const input = $("requested");
    if (!state.wanted) input.value = localDay(promise.requested_date);  // the plant's default wish
    input.min = localDay(promise.earliest_date);
    $("earliest").textContent = `earliest ${date(promise.earliest_date)}`;
    if (new Date(promise.promised_date) > new Date(promise.requested_date)) {
      target.textContent += " (the plant cannot make the date wanted)";
    }
    return promise;
  } catch (e) {
    if (seq === state.quoteSeq) { state.promise = null; target.textContent = e.message; }
    return null;
  }
}

$("requested").addEventListener("change", () => {
  const day = $("requested").value;
  state.wanted = day ? noonOf(day) : null;
  if (state.answer && state.answer.complete && state.answer.count !== "0") { quote(); everywhere(); }
});

// In a cloud: the same configuration quoted by every plant for the customer's region (plant's promise
// plus transport), earliest first, each with its own "Order here"; a plant that cannot take it says why.
let regions = null;
async function everywhere() {
  const box = $("everywhere");
  if (PLANT === null || !session()) return;
  const seq = ++state.everywhereSeq;
  try {
    if (regions === null) {
      const cloud = await api("/api/cloud/plants");
      regions = cloud.regions;
      $("region").replaceChildren(...regions.map((r) => new Option(r, r)));
      const own = cloud.plants.find((p) => p.id === PLANT);  // the region the page's own plant is nearest
      const near = own && Object.entries(own.transport_h).sort((a, b) => a[1] - b[1])[0];
      if (near) $("region").value = near[0];
      $("region").addEventListener("change", everywhere);
    }
    box.hidden = false;
    const body = { configuration: state.choices, region: $("region").value };
    if (state.wanted) body.requested_date = state.wanted;
    const answer = await api("/api/cloud/quote", { method: "POST", body });
    if (seq !== state.everywhereSeq) return;
    const rows = answer.quotes.map((q) => {
      const tr = document.createElement("tr");
      tr.dataset.plant = q.plant;
      const name = document.createElement("td"), when = document.createElement("td"), act = document.createElement("td");
      name.textContent = q.plant + (q.plant === PLANT ? " (this plant)" : "");
      if (q.can_build) {
        when.textContent = `${date(q.delivery_date)} (${q.transport_h} h of transport)`;
        const button = document.createElement("button");
        button.type = "button"; button.textContent = q.plant === answer.best ? "Order here (earliest)" : "Order here";
        button.addEventListener("click", () => orderAt(q.plant, body));
        act.append(button);
      } else {
        when.textContent = q.why_not; when.className = "muted";
      }
      tr.append(name, when, act);
      return tr;
    });
    $("everywhere-quotes").replaceChildren(...rows);
  } catch (e) {
    if (seq === state.everywhereSeq) {
      $("everywhere-quotes").replaceChildren();
      $("everywhere-placed").textContent = e.message;
    }
  }
}

async function orderAt(plant, body) {
  const placed = $("everywhere-placed");
  try {
    const done = await api("/api/cloud/orders", { method: "POST", body: { ...body, plant } });
    placed.className = "ok";
    placed.innerHTML = `<p>Order <strong class="order-id"></strong> placed at <strong class="order-plant"></strong>.</p>
      <p class="order-promise"></p><p><a class="order-link">Follow it in My orders</a></p>`;
    placed.querySelector(".order-id").textContent = done.order.id;
    placed.querySelector(".order-plant").textContent = done.plant;
    placed.querySelector(".order-promise").textContent = done.delivery_date
      ? `Delivered at ${$("region").value} by ${date(done.delivery_date)}` : "No delivery promise yet.";
    placed.querySelector(".order-link").href = `${done.base}/static/orders.html`;
  } catch (e) {
    placed.className = "error"; placed.textContent = e.message;
  }
}

$("cheapest").addEventListener("click", async () => {
  hideOffer();
  try {
    const done = await api("/api/configurator/complete", { method: "POST", body: { choices: state.choices, objective: "cheapest" } });
    state.choices = done.configuration;
    propagate();
  } catch (e) { showError(e); }
});

$("reset").addEventListener("click", () => { state.choices = {}; hideOffer(); $("placed").replaceChildren(); propagate(); });

// Review: the whole configuration, the price line by line and a fresh promise, then confirm.
const dialog = $("confirm");
$("order").addEventListener("click", async () => {
  const { catalogue, choices, answer } = state;
  const rows = $("confirm-configuration");
  rows.replaceChildren();
  for (const variable of catalogue.variables) {
    const tr = document.createElement("tr");
    const a = document.createElement("th"), b = document.createElement("td");
    a.textContent = variable.label;
    b.textContent = valueOf(variable.name, choices[variable.name]).label;
    tr.append(a, b);
    rows.append(tr);
  }
  renderBreakdown($("confirm-breakdown"), answer.breakdown, false);
  $("confirm-error").textContent = "";
  $("confirm-promise").textContent = "asking the plant…";
  $("confirm-note").textContent = "";
  $("confirm-order").disabled = false;
  dialog.showModal();
  const promise = await quote();
  if (promise && promise.available) {
    $("confirm-promise").textContent = `Delivered by ${date(promise.promised_date)} (wanted by ${date(promise.requested_date)})`;
    $("confirm-note").textContent = new Date(promise.promised_date) > new Date(promise.requested_date)
      ? "The date wanted is earlier than the plant can build: the promise is its earliest free line slot, "
        + "which may move by minutes if other orders take it before you confirm."
      : "The promise is the date you want; the plant books it when you confirm.";
  } else {
    $("confirm-promise").textContent = promise ? promise.detail : $("promise").textContent;
  }
});
$("confirm-back").addEventListener("click", () => dialog.close());

$("confirm-order").addEventListener("click", async () => {
  $("confirm-order").disabled = true;
  const quoted = state.promise && state.promise.available ? state.promise.promised_date : null;
  // the exact date quoted (the default wish included), so the order books what the customer saw
  const body = { configuration: state.choices };
  const wanted = state.wanted || (state.promise && state.promise.requested_date);
  if (wanted) body.requested_date = wanted;
  try {
    const order = await api("/api/orders", { method: "POST", body });
    dialog.close();
    $("order").disabled = true;
    const placed = $("placed");
    placed.className = "ok";
    placed.innerHTML = `<p>Order <strong class="order-id"></strong> placed.</p><p class="order-promise"></p>
      <p class="muted order-moved"></p><p><a href="${url("/static/orders.html")}">Follow it in My orders</a></p>`;
    placed.querySelector(".order-id").textContent = order.id;
    placed.querySelector(".order-promise").textContent = order.promised_date
      ? `Promised for ${date(order.promised_date)}` : "No delivery promise yet (promise service not running).";
    if (quoted && order.promised_date && order.promised_date !== quoted) {
      placed.querySelector(".order-moved").textContent = `Quoted ${date(quoted)}: the plant ran on while you `
        + "confirmed and the quoted line slot was taken, so the next one was booked.";
    }
  } catch (e) {
    $("confirm-error").textContent = e.message;
    $("confirm-order").disabled = false;
  }
});

(async () => {
  try {
    state.catalogue = await sayNouns();
    render();
    await propagate();
  } catch (e) { showError(e); }
})();
