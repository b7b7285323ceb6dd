// The pages' access to the API: the token kept in localStorage, JSON calls, and the shared header.

const TOKEN_KEY = "mixflow.token";

export function session() {
  try { return JSON.parse(localStorage.getItem(TOKEN_KEY) || "null"); } catch { return null; }
}

export function saveSession(token) { localStorage.setItem(TOKEN_KEY, JSON.stringify(token)); }

export function logout() { localStorage.removeItem(TOKEN_KEY); location.href = "/static/login.html"; }

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { "Accept": "application/json" };
  const s = session();
  if (s) headers["Authorization"] = `Bearer ${s.access_token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && s) localStorage.removeItem(TOKEN_KEY);
    throw new ApiError(response.status, (data && data.detail) || response.statusText);
  }
  return data;
}

// Send the user to the login page unless logged in (with one of `roles`, when given).
export function requireLogin(roles) {
  const s = session();
  if (!s || new Date(s.expires_at) < new Date() || (roles && !roles.includes(s.role))) {
    location.href = `/static/login.html?next=${encodeURIComponent(location.pathname)}` + (s && roles ? "&role=1" : "");
    return null;
  }
  return s;
}

const PAGES = [
  ["configurator.html", "Configure", null],
  ["orders.html", "My orders", null],
  ["plant.html", "Plant", ["planner", "operator", "admin"]],
  ["planner.html", "Planner", ["planner", "operator", "admin"]],
];

export function header() {
  const s = session();
  const el = document.createElement("header");
  const here = location.pathname.split("/").pop();
  el.innerHTML = `<strong>mixflow</strong>`;
  for (const [file, title, roles] of PAGES) {
    if (roles && !(s && roles.includes(s.role))) continue;
    const a = document.createElement("a");
    a.href = `/static/${file}`; a.textContent = title;
    if (file === here) a.className = "here";
    el.append(a);
  }
  const who = document.createElement("span");
  who.className = "who";
  if (s) {
    who.textContent = `${s.username} (${s.role}) `;
    const out = document.createElement("button");
    out.textContent = "log out"; out.onclick = logout;
    who.append(out);
  } else {
    who.innerHTML = `<a href="/static/login.html?next=${encodeURIComponent(location.pathname)}">log in</a>`;
  }
  el.append(who);
  document.body.prepend(el);
}

// What the plant builds, from the catalogue: { product, products, name, plant, variables, ... }, fetched
// once per page. Pages say `product`/`products` (truck, bus...) instead of assuming one.
let catalogueInfo = null;
export function catalogue() {
  if (!catalogueInfo) catalogueInfo = api("/api/catalogue");
  return catalogueInfo;
}

// Fill every element marked data-noun="product" or "products" (capitalised when data-capital is set)
// with the catalogue's noun, and the page title's "{product}" / "{products}" placeholders.
export async function sayNouns(root = document) {
  const info = await catalogue();
  const say = (word, capital) => (capital ? word.charAt(0).toUpperCase() + word.slice(1) : word);
  for (const el of root.querySelectorAll("[data-noun]")) {
    el.textContent = say(el.dataset.noun === "products" ? info.products : info.product, "capital" in el.dataset);
  }
  document.title = document.title.replace("{products}", info.products).replace("{product}", info.product);
  return info;
}

export function money(value, currency = "EUR") {
  return new Intl.NumberFormat("en-GB", { style: "currency", currency, maximumFractionDigits: 0 }).format(value);
}

export function date(iso) {
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";
}

// Group a decimal integer string with thin spaces: exact counts may exceed 2^53.
export function bigCount(text) { return text.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f"); }
