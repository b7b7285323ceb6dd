// The pages' access to the API: JSON calls, the session, and the shared header.
//
// The session itself is an httpOnly cookie that no script can read (so no injected script can steal it);
// the pages keep only who is logged in (name, role, expiry) in localStorage, to draw the header and pick
// the pages. Requests that change data carry the session's CSRF token (the mixflow_csrf cookie) as the
// X-CSRF-Token header, which a page of another site cannot read.

const PROFILE_KEY = "mixflow.session";

// In a cloud (`mixflow serve --cloud`) each plant's pages and API live under /plants/<id>/, and the cloud's
// own (log in, accounts, the overview) at the root. The pages are the same files either way, so every path
// they ask for is taken from the plant they were opened at; BASE is "" for a server of one plant.
export const BASE = (location.pathname.match(/^\/plants\/[^/]+/) || [""])[0];
export const PLANT = BASE ? decodeURIComponent(BASE.slice("/plants/".length)) : null;
const CLOUD_WIDE = ["/api/auth/", "/api/staff/", "/api/cloud/"];

// The URL of an API path or page of this plant (the cloud's own paths stay at the root).
export function url(path) {
  return CLOUD_WIDE.some((prefix) => path.startsWith(prefix)) ? path : BASE + path;
}

// The websocket URL of an API path of this plant.
export function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${url(path)}`;
}

function loginPage() {
  return `/static/login.html?next=${encodeURIComponent(location.pathname)}`;
}
localStorage.removeItem("mixflow.token"); // where older versions kept the token itself

export function session() {
  try { return JSON.parse(localStorage.getItem(PROFILE_KEY) || "null"); } catch { return null; }
}

export function saveSession(token) {
  const { username, role, expires_at } = token;
  localStorage.setItem(PROFILE_KEY, JSON.stringify({ username, role, expires_at }));
}

export async function logout() {
  localStorage.removeItem(PROFILE_KEY);
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* the cookie expires by itself */ }
  location.href = loginPage();
}

function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("mixflow_csrf="));
  return cookie ? decodeURIComponent(cookie.slice("mixflow_csrf=".length)) : null;
}

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { "Accept": "application/json" };
  const csrf = method === "GET" || method === "HEAD" ? null : csrfToken();
  if (csrf) headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(path), {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && session()) localStorage.removeItem(PROFILE_KEY);
    throw new ApiError(response.status, (data && data.detail) || response.statusText);
  }
  return data;
}

// Load a classic script (plotly) once, after the page has drawn its text: resolves when it has run.
const scripts = new Map();
export function loadScript(src) {
  if (!scripts.has(src)) {
    scripts.set(src, new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = src; el.async = true;
      el.onload = resolve; el.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.append(el);
    }));
  }
  return scripts.get(src);
}

// Plotly.react(id, ...) once plotly.js (4.9 MB, gzipped to 1.4 MB) has loaded in the background.
export async function chart(id, data, layout, config) {
  await loadScript("/vendor/plotly.min.js");
  return window.Plotly.react(id, data, layout, config);
}

// Send the user to the login page unless logged in (with one of `roles`, when given).
export function requireLogin(roles) {
  const s = session();
  if (!s || new Date(s.expires_at) < new Date() || (roles && !roles.includes(s.role))) {
    location.href = loginPage() + (s && roles ? "&role=1" : "");
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
  if (PLANT !== null || here === "cloud.html") {  // in a cloud: its overview, and which plant this is
    const a = document.createElement("a");
    a.href = "/static/cloud.html"; a.textContent = "All plants";
    if (here === "cloud.html") a.className = "here";
    el.append(a);
    if (PLANT !== null) {
      const plant = document.createElement("span");
      plant.className = "plant-name"; plant.textContent = `plant ${PLANT}`;
      el.append(plant);
    }
  }
  if (here !== "cloud.html") {
    for (const [file, title, roles] of PAGES) {
      if (roles && !(s && roles.includes(s.role))) continue;
      const a = document.createElement("a");
      a.href = url(`/static/${file}`); a.textContent = title;
      if (file === here) a.className = "here";
      el.append(a);
    }
  }
  const who = document.createElement("span");
  who.className = "who";
  if (s) {
    who.textContent = `${s.username} (${s.role}) `;
    const out = document.createElement("button");
    out.textContent = "log out"; out.onclick = logout;
    who.append(out);
  } else {
    const a = document.createElement("a");
    a.href = loginPage(); a.textContent = "log in";
    who.append(a);
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

// A date and time in the reader's own time zone, named ("12 May 2025, 14:05 CEST").
export function date(iso) {
  return new Date(iso).toLocaleString("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
}

// Group a decimal integer string with thin spaces: exact counts may exceed 2^53.
export function bigCount(text) { return text.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f"); }
