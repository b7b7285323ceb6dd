// The plant's alarm list (newest first): time, severity, source, state, and acknowledge / clear buttons
// for those who may. A refusal (an alarm cleared meanwhile) is shown in `errorBox`.
import { api } from "/static/api.js";

export function showAlarms(box, alarms, { when, canClear = false, errorBox, onChange } = {}) {
  const rows = [...alarms].reverse().map((a) => {
    const row = document.createElement("div");
    row.className = `alarm ${a.state || "active"}`;
    row.dataset.alarm = a.id;
    const sev = document.createElement("span");
    sev.className = `sev ${a.severity || "minor"}`; sev.textContent = a.severity || "minor";
    const text = document.createElement("span");
    const state = a.state === "acknowledged" ? ` · acknowledged by ${a.acked_by}`
      : a.state === "cleared" ? ` · cleared by ${a.cleared_by}` : "";
    text.textContent = `${when ? when(a.at_s) : `${a.at_s} s`} · ${a.kind} · ${a.source}: ${a.text}${state}`;
    row.append(sev, text);
    const act = (what, label) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "secondary"; b.textContent = label;
      b.addEventListener("click", async () => {
        try {
          await api(`/api/planner/alarms/${a.id}/${what}`, { method: "POST" });
          if (errorBox) errorBox.textContent = "";
          if (onChange) onChange();
        } catch (e) { if (errorBox) errorBox.textContent = `${label}: ${e.message}`; }
      });
      row.append(b);
    };
    if (a.id && a.state !== "cleared") {
      if (a.state !== "acknowledged") act("acknowledge", "Acknowledge");
      if (canClear) act("clear", "Clear");
    }
    return row;
  });
  box.replaceChildren(...rows);
  return alarms.filter((a) => a.state !== "cleared").length;
}
