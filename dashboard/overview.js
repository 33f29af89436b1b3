// Overview: every exposed thing with its VO and device status, and the health of recording and
// shipping. Everything is read through the TDs' forms (voStatus, voHealth, history, observers).
import { listThings, readProperty, affordance, slugOf, Unauthorized } from "./td-client.js";
import { h, ago, number, statusBadge, time } from "./format.js";
import { overviewSections } from "./extensions.js";

const REFRESH_MS = 2000;

export function overviewPage(main, ctx) {
  const view = (ctx.state.overview = { things: [], health: undefined, refreshedAt: undefined });
  let stopped = false;
  let timer;
  const updaters = [];

  const healthEl = h("section", { class: "cards", id: "health", "aria-label": "recording and shipping" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "things", id: "things" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "Thing"),
        h("th", {}, "VO"),
        h("th", {}, "Device"),
        h("th", {}, "Last record"),
        h("th", {}, "Observers"),
      ),
    ),
    tbody,
  );
  main.append(
    h("h1", {}, "Things"),
    h("div", { class: "scroll-x" }, table),
    h("h2", {}, "Recording and shipping"),
    healthEl,
  );
  ctx.setCrumbs(h("span", {}, "Overview"));

  let tds = [];
  const rows = new Map();

  async function load() {
    try {
      tds = await listThings(ctx.thingsUrl());
    } catch (err) {
      ctx.error(`could not list the things: ${err.message}`);
      tds = [];
    }
    if (stopped) return;
    view.things = tds.map((td) => ({ title: td.title, id: td.id, url: td.__url }));
    tbody.replaceChildren();
    if (tds.length === 0)
      tbody.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No things exposed.")));
    for (const td of tds) {
      const cells = {
        vo: h("td", { class: "vo" }, "…"),
        device: h("td", { class: "device" }, "…"),
        last: h("td", { class: "last" }, "…"),
        observers: h("td", { class: "observers" }, "…"),
      };
      const link = h("a", { href: `#/thing/${encodeURIComponent(slugOf(td))}` }, td.title);
      const tr = h(
        "tr",
        { dataset: { thing: td.title } },
        h("td", {}, link, td.description ? h("div", { class: "muted small" }, td.description) : ""),
        cells.vo,
        cells.device,
        cells.last,
        cells.observers,
      );
      rows.set(td, cells);
      tbody.append(tr);
    }
    for (const section of overviewSections()) {
      if (typeof section.applies === "function" && !section.applies(tds)) continue;
      const el = h("section", { class: "extension", id: `section-${section.id}` });
      main.append(h("h2", {}, section.title ?? section.id), el);
      const sctx = { ...ctx, tds };
      const update = await section.render(el, sctx);
      if (typeof update === "function") updaters.push(() => update(sctx));
    }
    await refresh();
  }

  async function refresh() {
    if (stopped) return;
    // The health view is the servient's: read it from the first thing that offers it.
    const healthTd = tds.find((td) => affordance(td, "property", "voHealth"));
    let healthShown = false;
    let denied = false;
    await Promise.all(
      tds.map(async (td) => {
        const cells = rows.get(td);
        const entry = view.things.find((t) => t.id === td.id);
        const read = async (name, vars) => {
          if (!affordance(td, "property", name)) return undefined;
          try {
            return await readProperty(td, name, vars);
          } catch (err) {
            if (err instanceof Unauthorized) denied = true;
            else ctx.error(`${td.title}: ${name}: ${err.message}`);
            return null;
          }
        };
        const [status, last, observers, health] = await Promise.all([
          read("voStatus"),
          read("history", { limit: 1 }),
          read("observers"),
          td === healthTd ? read("voHealth") : undefined,
        ]);
        if (stopped) return;
        if (status) {
          entry.vo = status.vo?.online ?? null;
          entry.device = status.device?.configured ? (status.device?.online ?? null) : "none";
          cells.vo.replaceChildren(statusBadge(status.vo?.online), since(status.vo?.since));
          cells.device.replaceChildren(
            status.device?.configured
              ? statusBadge(status.device.online)
              : h("span", { class: "muted" }, "no device configured"),
            status.device?.configured ? since(status.device.since) : "",
          );
        } else cells.vo.replaceChildren(status === null ? locked() : h("span", { class: "muted" }, "—"));
        if (status === null) cells.device.replaceChildren(locked());
        if (Array.isArray(last)) {
          entry.lastRecord = last[0]?.time ?? null;
          cells.last.replaceChildren(
            last[0]
              ? h("span", { title: time(last[0].time) }, `${last[0].name} · ${ago(last[0].time)}`)
              : h("span", { class: "muted" }, "none yet"),
          );
        } else cells.last.replaceChildren(last === null ? locked() : "—");
        cells.observers.replaceChildren(
          Array.isArray(observers) ? String(observers.length) : observers === null ? locked() : "—",
        );
        if (health) {
          healthShown = true;
          view.health = health;
          renderHealth(healthEl, health);
        }
      }),
    );
    if (stopped) return;
    if (denied) ctx.unauthorized();
    else ctx.clearError();
    if (!healthShown && denied)
      healthEl.replaceChildren(
        h("p", { class: "muted" }, "Sign in to see the health of recording and shipping."),
      );
    for (const u of updaters) await u();
    view.refreshedAt = Date.now();
    timer = setTimeout(refresh, REFRESH_MS);
  }

  load();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function locked() {
  return h("span", { class: "muted", title: "needs credentials" }, "🔒");
}

function since(iso) {
  return iso ? h("div", { class: "muted small" }, `since ${ago(Date.parse(iso))}`) : "";
}

function renderHealth(el, v) {
  const r = v.recorder ?? {};
  const s = v.shipping ?? {};
  const row = (k, val, cls) => h("div", { class: `kv ${cls ?? ""}` }, h("span", {}, k), h("strong", {}, val));
  el.replaceChildren(
    h(
      "div",
      { class: `card ${r.state === "failing" ? "bad" : "good"}`, id: "health-recording" },
      h(
        "h3",
        {},
        "Recording ",
        h("span", { class: `badge ${r.state === "failing" ? "offline" : "online"}` }, r.state ?? "?"),
      ),
      row("committed since start", number(r.committed)),
      row("pending", number(r.pending)),
      row("failed commits", number(r.failedBatches), r.failedBatches ? "warn" : ""),
      row("last commit", r.lastCommitAt ? ago(Date.parse(r.lastCommitAt)) : "never"),
      r.lastError ? row("last error", `${r.lastError} (${ago(Date.parse(r.lastErrorAt))})`, "warn") : "",
    ),
    h(
      "div",
      { class: `card ${s.state === "down" ? "bad" : s.configured ? "good" : "off"}`, id: "health-shipping" },
      h(
        "h3",
        {},
        "Shipping to InfluxDB ",
        h(
          "span",
          { class: `badge ${s.state === "down" ? "offline" : s.configured ? "online" : "unknown"}` },
          s.state ?? "off",
        ),
      ),
      s.configured
        ? [
            row("backlog", number(s.queued), s.queued > 10000 ? "warn" : ""),
            row("shipped", number(s.shipped)),
            row("dropped", number(s.dropped), s.dropped ? "warn" : ""),
            row("dead letters", number(s.deadLettered), s.deadLettered ? "warn" : ""),
            row("last shipped", s.lastShippedAt ? ago(Date.parse(s.lastShippedAt)) : "never"),
            s.lastError
              ? row("last error", `${s.lastError} (${ago(Date.parse(s.lastErrorAt))})`, "warn")
              : "",
          ]
        : h("p", { class: "muted" }, "No InfluxDB configured: the SQLite history is the store."),
    ),
    v.store?.movedAside
      ? h(
          "div",
          { class: "card bad" },
          h("h3", {}, "Store"),
          row("moved aside at start", `${v.store.movedAside.file}: ${v.store.movedAside.reason}`, "warn"),
        )
      : "",
  );
}
