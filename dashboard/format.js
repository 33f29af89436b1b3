// Formatting and DOM helpers shared by the pages.

/** Creates an element: h("td", { class: "x", dataset: { a: 1 } }, child, "text", …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Local time, `YYYY-MM-DD HH:MM:SS.mmm` (ms only when not zero). */
export function time(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const d = new Date(ms);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.getMilliseconds() ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** "3 s ago", "5 min ago", … */
export function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.round((now - ms) / 1000);
  if (s < 2) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A JSON value, cut for a table cell. */
export function json(v, max = 160) {
  if (v === undefined) return "";
  let s;
  try {
    s = typeof v === "string" ? v : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

export function number(n) {
  if (n === null || n === undefined) return "—";
  return Number(n).toLocaleString("en-US");
}

export function duration(ms) {
  if (ms === undefined || ms === null) return "";
  return ms < 1
    ? `${ms.toFixed(2)} ms`
    : ms < 1000
      ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
      : `${(ms / 1000).toFixed(2)} s`;
}

/** A badge: online / offline / unknown. */
export function statusBadge(online, label) {
  const state = online === true ? "online" : online === false ? "offline" : "unknown";
  return h(
    "span",
    { class: `badge ${state}`, title: label ? `${label}: ${state}` : state },
    label ? `${label} ${state}` : state,
  );
}

/** Stable colour for a value (non-numeric timelines). */
export function colourOf(value) {
  const s = json(value, 200);
  let hash = 0;
  for (let i = 0; i < s.length; i++) hash = (hash * 31 + s.charCodeAt(i)) | 0;
  return `hsl(${Math.abs(hash) % 360} 55% 55%)`;
}
