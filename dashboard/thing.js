// A thing's page: numeric properties as time-series charts (raw records for short ranges,
// `historyAggregate` windows for long ones), other properties as value timelines, actions as a
// table, events as a log, the VO / device connection as online/offline bands, and the VO state.
// New records appear live: `history` is polled every second from the newest record seen.
import {
  request,
  listThings,
  readProperty,
  invokeAction,
  affordance,
  own,
  maxLimit,
  slugOf,
  signedIn,
  Unauthorized,
} from "./td-client.js";
import { h, json, duration, statusBadge, time } from "./format.js";
import { SeriesChart, timeline, bands, rangeAxis } from "./charts.js";
import { thingSections } from "./extensions.js";

const HOUR = 3600e3;
const DAY = 24 * HOUR;
const RANGES = {
  "1h": { label: "Last hour", span: HOUR },
  "1d": { label: "Last day", span: DAY },
  "1w": { label: "Last week", span: 7 * DAY },
};
/** Up to this span, charts draw the raw records (if they fit one `history` read). */
const RAW_MAX_SPAN = 2 * HOUR;
/** Windows per chart when drawing aggregates. */
const TARGET_WINDOWS = 600;
const NICE_WINDOWS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
].map((s) => s * 1000);
const POLL_MS = 1000;
const STATUS_MS = 5000;
const TABLE_ROWS = 200;

export function thingPage(main, ctx, name, params) {
  const view = (ctx.state.thing = {
    name,
    title: undefined,
    range: undefined,
    charts: {},
    timelines: {},
    actions: 0,
    refused: 0,
    events: 0,
    bands: {},
    firstChartMs: undefined,
    loading: true,
    loads: 0,
    polls: 0,
    lastPollAt: undefined,
    unauthorized: false,
  });
  let stopped = false;
  let gen = 0;
  let td;
  let limit = 1000;
  let range = rangeFrom(params);
  let cursor = { time: 0, id: 0 };
  let pollTimer;
  let lastStatusAt = 0;
  const charts = new Map(); // name → { chart, card, data: { xs, ys, ids? }, source }
  const timelines = new Map(); // name → { el, points }
  const extensionUpdaters = [];
  const els = {};

  async function init() {
    try {
      td = await findThing(ctx, name);
    } catch (err) {
      if (err instanceof Unauthorized) ctx.unauthorized();
      else ctx.error(err.message);
      return;
    }
    if (stopped) return;
    if (!td) {
      main.replaceChildren(
        h("h1", {}, "Not found"),
        h("p", {}, `No exposed thing named '${name}'. `, h("a", { href: "#/" }, "All things")),
      );
      return;
    }
    view.title = td.title;
    limit = maxLimit(td);
    ctx.setCrumbs(h("a", { href: "#/" }, "Overview"), h("span", {}, td.title));
    document.title = `${td.title} — node-wot-vo`;
    layout();
    await load();
    schedulePoll();
  }

  // ---- layout ----

  function layout() {
    const numeric = own(td, "property").filter(([, a]) => isNumeric(a));
    const other = own(td, "property").filter(([, a]) => !isNumeric(a));
    els.status = h("span", { class: "badges", id: "thing-status" });
    els.rangeButtons = Object.entries(RANGES).map(([key, r]) =>
      h(
        "button",
        { type: "button", dataset: { range: key }, onclick: () => setRange({ kind: key }) },
        r.label,
      ),
    );
    els.from = h("input", { type: "datetime-local", "aria-label": "from", step: 1 });
    els.to = h("input", { type: "datetime-local", "aria-label": "to", step: 1 });
    els.custom = h(
      "form",
      {
        class: "custom",
        onsubmit: (e) => {
          e.preventDefault();
          const from = Date.parse(els.from.value);
          const to = Date.parse(els.to.value);
          if (Number.isFinite(from) && Number.isFinite(to) && from < to)
            setRange({ kind: "custom", from, to });
          else ctx.error("the custom range needs a start before its end");
        },
      },
      els.from,
      h("span", {}, "–"),
      els.to,
      h("button", { type: "submit" }, "Show"),
    );
    els.rangeLabel = h("span", { class: "muted small", id: "range-label" });
    const toolbar = h(
      "div",
      { class: "toolbar", role: "group", "aria-label": "time range" },
      ...els.rangeButtons,
      els.custom,
      els.rangeLabel,
    );

    els.charts = h("section", { id: "charts", class: "grid" });
    for (const [pname, a] of numeric) {
      const box = h("div", { class: "chart" });
      const value = h("span", { class: "current" });
      const note = h("span", { class: "muted small" });
      const card = h(
        "article",
        { class: "card chart-card", dataset: { name: pname, points: 0, source: "" } },
        h(
          "header",
          {},
          h("h3", {}, a.title ?? pname, a.unit ? h("span", { class: "muted small" }, ` ${a.unit}`) : ""),
          value,
        ),
        box,
        note,
      );
      const chart = new SeriesChart(box, {
        label: pname,
        unit: a.unit,
        stepped: a.readOnly !== true,
        onSelect: (from, to) => setRange({ kind: "custom", from, to }),
      });
      charts.set(pname, { chart, card, value, note, data: empty(), source: "" });
      els.charts.append(card);
    }
    els.timelines = h("section", { id: "timelines" });
    for (const [pname, a] of other) {
      const el = h(
        "div",
        { class: "card timeline-card", dataset: { name: pname, changes: 0 } },
        h("h3", {}, a.title ?? pname),
      );
      timelines.set(pname, { el, points: [] });
      els.timelines.append(el);
    }
    els.connection = h("section", { id: "connection", class: "card" });
    els.actionsBody = h("tbody");
    els.actions = h(
      "table",
      { id: "actions", class: "log" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Time", "Action", "Input", "Output / error", "Duration", "Source"].map((t) => h("th", {}, t)),
        ),
      ),
      els.actionsBody,
    );
    els.eventsBody = h("tbody");
    els.events = h(
      "table",
      { id: "events", class: "log" },
      h("thead", {}, h("tr", {}, ...["Time", "Event", "Data", "Source"].map((t) => h("th", {}, t)))),
      els.eventsBody,
    );
    els.state = h("section", { id: "vo-state", class: "cards" });

    main.replaceChildren(
      ...[
        h("div", { class: "title" }, h("h1", {}, td.title), els.status),
        h(
          "p",
          { class: "muted small" },
          td.id,
          " · ",
          h("a", { href: td.__url, target: "_blank", rel: "noopener" }, "Thing Description"),
        ),
        td.description ? h("p", {}, td.description) : "",
        toolbar,
        numeric.length ? els.charts : "",
        other.length ? [h("h2", {}, "Other properties"), els.timelines] : "",
        h("h2", {}, "Connection"),
        els.connection,
        own(td, "action").length ? [h("h2", {}, "Actions"), h("div", { class: "scroll" }, els.actions)] : "",
        own(td, "event").length ? [h("h2", {}, "Events"), h("div", { class: "scroll" }, els.events)] : "",
        affordance(td, "property", "observers") ? [h("h2", {}, "VO state"), els.state] : "",
      ].flat(),
    );
    for (const section of thingSections(td)) {
      const el = h("section", { class: "extension", id: `section-${section.id}` });
      main.append(h("h2", {}, section.title ?? section.id), el);
      const sctx = sectionContext();
      Promise.resolve(section.render(el, sctx)).then((update) => {
        if (typeof update === "function") extensionUpdaters.push(() => update(sectionContext()));
      });
    }
  }

  function sectionContext() {
    return { ...ctx, td, range: current() };
  }

  // ---- ranges ----

  function current() {
    if (range.kind === "custom") return [range.from, range.to];
    const to = Date.now();
    return [to - RANGES[range.kind].span, to];
  }

  function setRange(r) {
    range =
      r.kind === "custom"
        ? { kind: "custom", from: Math.round(r.from), to: Math.round(r.to) }
        : { kind: r.kind };
    const hash =
      `#/thing/${encodeURIComponent(name)}?` +
      (range.kind === "custom" ? `from=${range.from}&to=${range.to}` : `range=${range.kind}`);
    history.replaceState(null, "", hash);
    load();
  }

  function showRange([from, to]) {
    for (const b of els.rangeButtons) b.setAttribute("aria-pressed", String(b.dataset.range === range.kind));
    els.from.value = localInput(from);
    els.to.value = localInput(to);
    els.rangeLabel.textContent =
      range.kind === "custom" ? "Drag over a chart to zoom in" : "Live · drag over a chart to zoom in";
    ctx.setLive(range.kind !== "custom");
    view.range = { kind: range.kind, from, to };
  }

  // ---- loading ----

  async function load() {
    const my = ++gen;
    const r = current();
    view.loading = true;
    showRange(r);
    try {
      // The newest record first: live updates continue from it.
      const newest = await readProperty(td, "history", { limit: 1 });
      if (my !== gen) return;
      cursor = newest?.[0] ? { time: newest[0].time, id: newest[0].id } : { time: r[1], id: 0 };
      for (const [pname, c] of charts) {
        await loadChart(pname, c, r, my);
        if (my !== gen) return;
      }
      await Promise.all([
        ...[...timelines].map(([pname, t]) => loadTimeline(pname, t, r, my)),
        loadActions(r, my),
        loadEvents(r, my),
        loadConnection(r, my),
        loadState(my),
        loadStatus(),
      ]);
      if (my !== gen) return;
      for (const u of extensionUpdaters) await u();
      view.unauthorized = false;
      ctx.clearError();
    } catch (err) {
      if (my !== gen) return;
      failed(err);
    } finally {
      if (my === gen) {
        view.loading = false;
        view.loads += 1;
        view.loadedAt = Date.now();
        view.firstLoadMs ??= performance.now();
      }
    }
  }

  function failed(err) {
    if (err instanceof Unauthorized) {
      view.unauthorized = true;
      ctx.unauthorized();
      ctx.setLive(false);
      for (const [, c] of charts) c.note.textContent = "Sign in to see the history.";
    } else ctx.error(err.message);
  }

  async function loadChart(pname, c, [from, to], my) {
    const span = to - from;
    if (span <= RAW_MAX_SPAN) {
      const rows = await readProperty(td, "history", {
        name: pname,
        kind: "property",
        from,
        to,
        order: "asc",
        limit,
      });
      if (my !== gen) return;
      if (rows.length < limit) {
        const data = empty(true);
        for (const r of rows) addRaw(data, r);
        drawChart(pname, c, data, "raw", [from, to], rows.length === 0 ? "no records in this range" : "");
        return;
      }
    }
    const window =
      NICE_WINDOWS.find((w) => w >= span / TARGET_WINDOWS) ?? Math.ceil(span / TARGET_WINDOWS / 1000) * 1000;
    c.window = window;
    // Long ranges arrive in chunks, newest first, so the chart is drawn before the whole range is read.
    const chunk = Math.max(window, Math.ceil(DAY / window) * window);
    const data = empty();
    const parts = [];
    for (let end = to; end > from;) {
      const start = Math.max(from, Math.floor((end - chunk) / window) * window);
      const windows = await readProperty(td, "historyAggregate", {
        name: pname,
        kind: "property",
        from: start,
        to: end === to ? to : end - 1,
        window,
      });
      if (my !== gen) return;
      parts.unshift(windows);
      const merged = empty();
      merged.mins = [];
      merged.maxs = [];
      for (const part of parts)
        for (const w of part) {
          if (w.mean === null || w.mean === undefined) continue;
          merged.xs.push(Math.min(to, w.start + window / 2));
          merged.ys.push(w.mean);
          merged.mins.push(w.min);
          merged.maxs.push(w.max);
        }
      Object.assign(data, merged);
      drawChart(pname, c, data, "aggregate", [from, to], `${label(window)} windows: mean, with min–max band`);
      end = start;
    }
  }

  function drawChart(pname, c, data, source, r, note) {
    c.data = data;
    c.source = source;
    const points = c.chart.draw(data, r);
    c.card.dataset.points = String(points);
    c.card.dataset.source = source;
    c.note.textContent = note;
    const last = data.ys.length ? data.ys[data.ys.length - 1] : undefined;
    c.value.textContent = last === undefined ? "" : `${+Number(last).toFixed(3)}`;
    view.charts[pname] = source === "aggregate" ? { points, source, window: c.window } : { points, source };
    if (view.firstChartMs === undefined) view.firstChartMs = performance.now();
  }

  async function loadTimeline(pname, t, [from, to], my) {
    const [before, rows] = await Promise.all([
      readProperty(td, "history", { name: pname, kind: "property", to: Math.max(0, from - 1), limit: 5 }),
      readProperty(td, "history", { name: pname, kind: "property", from, to, order: "asc", limit }),
    ]);
    if (my !== gen) return;
    const start = before.find((r) => r.ok);
    t.points = [
      ...(start ? [{ time: start.time, value: start.value }] : []),
      ...rows.filter((r) => r.ok).map((r) => ({ time: r.time, value: r.value })),
    ];
    t.refused = rows.filter((r) => !r.ok).length;
    renderTimeline(pname, t, [from, to]);
  }

  function renderTimeline(pname, t, r) {
    const last = t.points[t.points.length - 1];
    const inRange = t.points.filter((p) => p.time >= r[0]).length;
    t.el.dataset.changes = String(inRange);
    view.timelines[pname] = { changes: inRange, value: last?.value };
    t.el.replaceChildren(
      h("header", {}, h("h3", {}, pname), h("span", { class: "current" }, last ? json(last.value, 60) : "—")),
      timeline(t.points, r),
      rangeAxis(r),
      t.refused
        ? h(
            "p",
            { class: "muted small refused-note" },
            `${t.refused} refused write${t.refused > 1 ? "s" : ""} in this range`,
          )
        : "",
    );
  }

  async function loadActions([from, to], my) {
    if (!own(td, "action").length) return;
    const rows = await readProperty(td, "history", { kind: "action", from, to, limit: TABLE_ROWS });
    if (my !== gen) return;
    els.actionsBody.replaceChildren(...rows.map(actionRow));
    if (rows.length === 0)
      els.actionsBody.append(
        h("tr", { class: "empty" }, h("td", { colspan: 6, class: "muted" }, "No invocations in this range.")),
      );
    countActions();
  }

  function actionRow(r) {
    const result = r.ok
      ? json(r.output, 200)
      : h(
          "span",
          { class: "error" },
          h("span", { class: "badge offline" }, "refused"),
          " ",
          r.error ?? "failed",
        );
    return h(
      "tr",
      { class: r.ok ? "ok" : "refused", dataset: { id: r.id, name: r.name } },
      h("td", { class: "time" }, time(r.time)),
      h("td", {}, r.name),
      h("td", { class: "json" }, json(r.value, 200)),
      h("td", { class: "json" }, result),
      h("td", { class: "num" }, duration(r.durationMs)),
      h("td", {}, r.source),
    );
  }

  function countActions() {
    view.actions = els.actionsBody.querySelectorAll("tr[data-id]").length;
    view.refused = els.actionsBody.querySelectorAll("tr.refused").length;
  }

  async function loadEvents([from, to], my) {
    if (!own(td, "event").length) return;
    const rows = await readProperty(td, "history", { kind: "event", from, to, limit: TABLE_ROWS });
    if (my !== gen) return;
    els.eventsBody.replaceChildren(...rows.map(eventRow));
    if (rows.length === 0)
      els.eventsBody.append(
        h("tr", { class: "empty" }, h("td", { colspan: 4, class: "muted" }, "No events in this range.")),
      );
    view.events = els.eventsBody.querySelectorAll("tr[data-id]").length;
  }

  function eventRow(r) {
    return h(
      "tr",
      { dataset: { id: r.id, name: r.name } },
      h("td", { class: "time" }, time(r.time)),
      h("td", {}, r.name),
      h("td", { class: "json" }, json(r.value, 300)),
      h("td", {}, r.source),
    );
  }

  async function loadConnection([from, to], my) {
    const read = async (prop) => {
      if (!affordance(td, "property", prop)) return undefined;
      const rows = await readProperty(td, prop, { limit: maxLimit(td, prop, 1000) });
      // Newest first; keep the last check before the range (the state it started in).
      const asc = [...rows].reverse().filter((r) => r.time <= to);
      const firstIn = asc.findIndex((r) => r.time >= from);
      return firstIn < 0 ? asc.slice(-1) : asc.slice(Math.max(0, firstIn - 1));
    };
    const [vo, device] = await Promise.all([read("voStatusHistory"), read("deviceStatusHistory")]);
    if (my !== gen) return;
    const parts = [];
    if (vo) {
      view.bands.vo = vo.length;
      parts.push(
        h(
          "div",
          { class: "band-row", dataset: { band: "vo" } },
          h("span", { class: "band-label" }, "VO"),
          bands(vo, [from, to], "VO self-check"),
        ),
      );
    }
    if (device) {
      view.bands.device = device.length;
      parts.push(
        h(
          "div",
          { class: "band-row", dataset: { band: "device" } },
          h("span", { class: "band-label" }, "Device"),
          bands(device, [from, to], "device check"),
        ),
      );
    }
    if (parts.length === 0)
      parts.push(h("p", { class: "muted" }, "This thing's TD offers no status history."));
    else
      parts.push(h("div", { class: "band-row" }, h("span", { class: "band-label" }), rangeAxis([from, to])));
    els.connection.replaceChildren(...parts);
  }

  async function loadStatus() {
    lastStatusAt = Date.now();
    if (!affordance(td, "property", "voStatus")) return;
    const s = await readProperty(td, "voStatus");
    els.status.replaceChildren(
      statusBadge(s?.vo?.online, "VO"),
      s?.device?.configured ? statusBadge(s.device.online, "device") : "",
    );
    view.status = {
      vo: s?.vo?.online ?? null,
      device: s?.device?.configured ? (s.device.online ?? null) : "none",
    };
  }

  async function loadState(my) {
    if (!affordance(td, "property", "observers")) return;
    const lists = [
      ["observers", "Observers", "addObserver", "removeObserver"],
      ["redirectIps", "Redirect IPs", "addRedirectIp", "removeRedirectIp"],
    ].filter(([prop]) => affordance(td, "property", prop));
    const values = await Promise.all(lists.map(([prop]) => readProperty(td, prop)));
    const deviceIp = affordance(td, "property", "deviceIp") ? await readProperty(td, "deviceIp") : undefined;
    if (my !== gen) return;
    const mayChange = signedIn();
    els.state.replaceChildren(
      ...lists.map(([prop, title, add, remove], i) => {
        const items = values[i] ?? [];
        const canAdd = mayChange && affordance(td, "action", add);
        const canRemove = mayChange && affordance(td, "action", remove);
        const input = h("input", { placeholder: "10.0.0.2:8080", "aria-label": `${title}: address` });
        return h(
          "div",
          { class: "card", dataset: { list: prop } },
          h("h3", {}, title),
          items.length
            ? h(
                "ul",
                { class: "plain" },
                items.map((a) =>
                  h(
                    "li",
                    {},
                    h("code", {}, a),
                    canRemove
                      ? h(
                          "button",
                          { type: "button", class: "link", onclick: () => change(remove, a) },
                          "remove",
                        )
                      : "",
                  ),
                ),
              )
            : h("p", { class: "muted" }, "none"),
          canAdd
            ? h(
                "form",
                {
                  class: "inline",
                  onsubmit: (e) => {
                    e.preventDefault();
                    if (input.value.trim()) change(add, input.value.trim());
                  },
                },
                input,
                h("button", { type: "submit" }, "Add"),
              )
            : "",
        );
      }),
      deviceIp !== undefined
        ? h(
            "div",
            { class: "card" },
            h("h3", {}, "Device IP"),
            h(
              "p",
              {},
              deviceAddress(deviceIp)
                ? h("code", {}, deviceAddress(deviceIp))
                : h("span", { class: "muted" }, "not set"),
            ),
          )
        : "",
      mayChange ? "" : h("p", { class: "muted small" }, "Sign in to change the VO state."),
    );
  }

  async function change(action, address) {
    try {
      await invokeAction(td, action, { address });
      await loadState(gen);
    } catch (err) {
      if (err instanceof Unauthorized)
        ctx.error(`${action}: ${err.message}; sign in with this thing's credentials`);
      else ctx.error(`${action}: ${err.message}`);
    }
  }

  // ---- live ----

  function schedulePoll() {
    if (stopped) return;
    pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    if (stopped) return;
    // Nothing to poll for a fixed range, during a load, or without the credentials the TD needs.
    if (range.kind === "custom" || view.loading || view.unauthorized) return schedulePoll();
    const my = gen;
    try {
      const rows = await readProperty(td, "history", { from: cursor.time, order: "asc", limit });
      if (my !== gen || stopped) return schedulePoll();
      const fresh = rows.filter((r) => r.id > cursor.id);
      for (const r of fresh) if (r.id > cursor.id) cursor = { time: r.time, id: r.id };
      const r = current();
      apply(fresh, r);
      if (Date.now() - lastStatusAt > STATUS_MS) {
        await Promise.all([loadStatus(), loadConnection(r, my)]);
        for (const u of extensionUpdaters) await u();
      }
      view.polls += 1;
      view.lastPollAt = Date.now();
      if (view.unauthorized) {
        view.unauthorized = false;
        ctx.clearError();
      }
    } catch (err) {
      if (my === gen) failed(err);
    }
    schedulePoll();
  }

  function apply(rows, r) {
    showRange(r);
    const [from] = r;
    for (const row of rows) {
      if (row.kind === "property") {
        const c = charts.get(row.name);
        if (c) addRaw(c.data, row);
        const t = timelines.get(row.name);
        if (t && row.ok) t.points.push({ time: row.time, value: row.value });
        if (t && !row.ok) t.refused = (t.refused ?? 0) + 1;
      } else if (row.kind === "action") {
        els.actionsBody.querySelector("tr.empty")?.remove();
        els.actionsBody.prepend(actionRow(row));
      } else if (row.kind === "event") {
        els.eventsBody.querySelector("tr.empty")?.remove();
        els.eventsBody.prepend(eventRow(row));
      }
    }
    for (const body of [els.actionsBody, els.eventsBody])
      while (body.children.length > TABLE_ROWS) body.lastElementChild.remove();
    countActions();
    view.events = els.eventsBody.querySelectorAll("tr[data-id]").length;
    // Slide every chart and timeline to the current range.
    for (const [pname, c] of charts) {
      trim(c.data, from);
      drawChart(pname, c, c.data, c.source, r, c.note.textContent);
    }
    for (const [pname, t] of timelines) {
      // Keep the value the range starts in.
      const firstIn = t.points.findIndex((p) => p.time >= from);
      if (firstIn > 1) t.points.splice(0, firstIn - 1);
      renderTimeline(pname, t, r);
    }
  }

  init();
  return {
    stop() {
      stopped = true;
      gen++;
      clearTimeout(pollTimer);
      for (const [, c] of charts) c.chart.destroy();
    },
  };
}

// ---- helpers ----

async function findThing(ctx, name) {
  const base = ctx.thingsUrl();
  // The TD at <things URL>/<name> (node-wot serves it by title slug and by id) …
  try {
    const url = new URL(encodeURIComponent(name), base).href;
    const td = await request(url);
    if (td && typeof td === "object" && td.title) return { ...td, __url: url };
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
  }
  // … else look it up in the list.
  const tds = await listThings(base);
  return tds.find((t) => slugOf(t) === name || t.id === name || t.title === name);
}

/** `deviceIp` reads `{ address }` (or a bare string from other VOs). */
function deviceAddress(v) {
  if (typeof v === "string") return v;
  return v && typeof v === "object" && typeof v.address === "string" ? v.address : undefined;
}

function isNumeric(a) {
  return a?.type === "number" || a?.type === "integer";
}

function empty(withIds = false) {
  return withIds ? { xs: [], ys: [], ids: new Set() } : { xs: [], ys: [] };
}

/** Adds one raw record to chart data (ok and numeric only; each id once). */
function addRaw(data, r) {
  if (!r.ok || typeof r.value !== "number") return;
  if (data.ids) {
    if (data.ids.has(r.id)) return;
    data.ids.add(r.id);
  }
  // Records arrive in time order; keep xs sorted anyway.
  let i = data.xs.length;
  while (i > 0 && data.xs[i - 1] > r.time) i--;
  data.xs.splice(i, 0, r.time);
  data.ys.splice(i, 0, r.value);
  if (data.mins) {
    data.mins.splice(i, 0, r.value);
    data.maxs.splice(i, 0, r.value);
  }
}

/** Drops points before `from`. */
function trim(data, from) {
  let n = 0;
  while (n < data.xs.length && data.xs[n] < from) n++;
  if (n === 0) return;
  data.xs.splice(0, n);
  data.ys.splice(0, n);
  if (data.mins) {
    data.mins.splice(0, n);
    data.maxs.splice(0, n);
  }
}

function rangeFrom(params) {
  const from = Number(params.get("from"));
  const to = Number(params.get("to"));
  if (Number.isFinite(from) && Number.isFinite(to) && from > 0 && from < to)
    return { kind: "custom", from, to };
  const r = params.get("range");
  return { kind: r && RANGES[r] ? r : "1h" };
}

function label(ms) {
  if (ms < 60e3) return `${ms / 1000} s`;
  if (ms < HOUR) return `${ms / 60e3} min`;
  if (ms < DAY) return `${ms / HOUR} h`;
  return `${ms / DAY} d`;
}

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}
