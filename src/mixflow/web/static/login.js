// The login page: log in, or open a customer account and then log in with it.
import { api, saveSession, header } from "/static/api.js";

header();
const params = new URLSearchParams(location.search);
const next = params.get("next") || "/";
document.getElementById("role-note").hidden = !params.get("role");
const form = document.getElementById("login");
const message = document.getElementById("message");

async function logIn(body) {
  saveSession(await api("/api/auth/login", { method: "POST", body }));
  // only a page of this site: /static/... or a plant's /plants/<id>/static/... (never another origin)
  location.href = /^(\/plants\/[^/]+)?\/static\/[\w.-]+$/.test(next) ? next : "/";
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try { await logIn({ username: form.username.value, password: form.password.value }); }
  catch (e) { message.textContent = e.message; }
});

document.getElementById("register").addEventListener("click", async () => {
  const body = { username: form.username.value, password: form.password.value };
  try { await api("/api/auth/register", { method: "POST", body }); }
  catch (e) { message.textContent = e.message; return; }
  // The answer is the same whether or not the name was free; logging in tells which.
  try { await logIn(body); }
  catch (e) {
    message.textContent = e.status === 401 ? "That user name cannot be used: choose another one." : e.message;
  }
});
