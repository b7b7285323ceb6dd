// Configurator page: every click asks the API what stays possible; greyed values explain themselves on hover.
import { api, header, session, money, date, bigCount, sayNouns } from "/static/api.js";

header();
const state = { catalogue: null, choices: {}, answer: null, seq: 0, explanations: new Map() };
const $ = (id) => document.getElementById(id);
const tooltip = $("tooltip");

function showError(e) { $("error").textContent = e ? e.message || String(e) : ""; }

function render() {
  const { catalogue, choices, answer } = state;
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
    for (const value of variable.values) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.dataset.variable = variable.name;
      chip.dataset.value = value.code;
      chip.innerHTML = `<span></span><span class="price"></span>`;
      chip.firstChild.textContent = value.label;
      chip.lastChild.textContent = value.price ? `+${money(value.price, catalogue.currency)}` : "";
      if (choices[variable.name] === value.code) chip.classList.add("chosen");
      else if (valid && !(variable.name in choices) && !valid.has(value.code)) {
        chip.classList.add("greyed");
        chip.setAttribute("aria-disabled", "true");
        chip.addEventListener("mouseenter", (ev) => explain(chip, ev));
        chip.addEventListener("mouseleave", () => { tooltip.hidden = true; });
      }
      chip.addEventListener("click", () => choose(variable.name, value.code, chip));
      chips.append(chip);
    }
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
  const complete = answer && answer.complete && answer.count !== "0";
  $("order").disabled = !complete;
  if (complete) quote(); else $("promise").textContent = "Choose every option to see the delivery date.";
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
  if (chip.classList.contains("greyed")) return;  // the reason shows on hover
  const before = state.choices[variable];
  if (before === value) delete state.choices[variable];
  else state.choices[variable] = value;
  $("placed").replaceChildren();
  propagate(before === undefined || before === value ? null : () => { state.choices[variable] = before; });
}

async function explain(chip, ev) {
  const key = `${chip.dataset.variable}=${chip.dataset.value}`;
  tooltip.style.left = `${ev.clientX + 12}px`;
  tooltip.style.top = `${ev.clientY + 12}px`;
  tooltip.textContent = "checking why…";
  tooltip.hidden = false;
  let text = state.explanations.get(key);
  if (!text) {
    try {
      const why = await api("/api/configurator/explain", {
        method: "POST", body: { choices: state.choices, variable: chip.dataset.variable, value: chip.dataset.value },
      });
      text = why.text;
      state.explanations.set(key, text);
    } catch (e) { text = e.message; }
  }
  chip.title = text;
  chip.dataset.reason = text;
  if (!tooltip.hidden) tooltip.textContent = text;
}

async function quote() {
  const target = $("promise");
  if (!session()) {
    target.innerHTML = `<a href="/static/login.html?next=/static/configurator.html">Log in</a> to see the delivery date and order.`;
    $("order").disabled = true;
    return;
  }
  target.textContent = "asking the plant…";
  try {
    const promise = await api("/api/orders/quote", { method: "POST", body: { configuration: state.choices } });
    target.textContent = promise.available ? `Delivered by ${date(promise.promised_date)}` : promise.detail;
    target.dataset.promised = promise.promised_date || "";
  } catch (e) { target.textContent = e.message; }
}

$("cheapest").addEventListener("click", async () => {
  try {
    const done = await api("/api/configurator/complete", { method: "POST", body: { choices: state.choices, objective: "cheapest" } });
    state.choices = done.configuration;
    propagate();
  } catch (e) { showError(e); }
});

$("reset").addEventListener("click", () => { state.choices = {}; $("placed").replaceChildren(); propagate(); });

$("order").addEventListener("click", async () => {
  $("order").disabled = true;
  try {
    const order = await api("/api/orders", { method: "POST", body: { configuration: state.choices } });
    const placed = $("placed");
    placed.className = "ok";
    placed.innerHTML = `<p>Order <strong class="order-id"></strong> placed.</p><p class="order-promise"></p>
      <p><a href="/static/orders.html">Follow it in My orders</a></p>`;
    placed.querySelector(".order-id").textContent = order.id;
    placed.querySelector(".order-promise").textContent = order.promised_date
      ? `Promised for ${date(order.promised_date)}` : "No delivery promise yet (promise service not running).";
  } catch (e) { showError(e); $("order").disabled = false; }
});

(async () => {
  try {
    state.catalogue = await sayNouns();
    render();
    await propagate();
  } catch (e) { showError(e); }
})();
