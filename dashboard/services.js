// Services panel (overview): the service manager's services — id, version, state, status, unit —
// and each unit's traffic this period against its limits. Shown when a listed thing is the
// ServiceManager Thing (its title, or a TD with the `services` and `traffic` properties); read
// through that TD's forms (`services`, `traffic`) on every overview refresh. Read-only: it offers
// none of the Thing's changing actions.
import { affordance, slugOf, Unauthorized } from "./td-client.js";
import { h, time } from "./format.js";

export const SERVICE_MANAGER_TITLE = "ServiceManager";

/** True for the ServiceManager Thing's TD. */
export function isServiceManager(td) {
  return (
    td?.title === SERVICE_MANAGER_TITLE ||
    (affordance(td, "property", "services") !== undefined &&
      affordance(td, "property", "traffic") !== undefined)
  );
}

/** Bytes, decimal units: 0 B, 950 B, 12.3 kB, 1 MB, 4.57 GB. */
export function bytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(v) : Number(v.toPrecision(3))} ${units[i]}`;
}

/** Registers the panel on the dashboard's extension point. */
export default function register(dashboard) {
  dashboard.addOverviewSection({
    id: "services",
    title: "Services",
    applies: (tds) => tds.some(isServiceManager),
    render: renderServices,
  });
}

function renderServices(el, ctx) {
  const view = { managers: [] };
  if (ctx.state?.overview) ctx.state.overview.services = view;
  const blocks = ctx.tds.filter(isServiceManager).map((td, i, all) => {
    const body = h("div", { class: "services-body" }, h("p", { class: "muted" }, "…"));
    const block = h(
      "div",
      { class: "services", dataset: { manager: td.title } },
      all.length > 1 ? h("h3", {}, td.title) : "",
      body,
    );
    el.append(block);
    return { td, body };
  });

  return async () => {
    const results = await Promise.all(blocks.map((b) => readManager(b.td, ctx.readProperty)));
    let denied = false;
    view.managers = results.map((r, i) => {
      const { td, body } = blocks[i];
      if (r.denied) denied = true;
      if (r.error || r.denied) {
        body.replaceChildren(
          r.denied
            ? h("p", { class: "muted" }, "Sign in to see the services.")
            : h("p", { class: "error" }, `${td.title}: ${r.error}`),
        );
        return { title: td.title, services: [], error: r.error ?? "credentials needed" };
      }
      const rows = serviceRows(r.services, r.traffic);
      body.replaceChildren(...renderTable(rows, r.traffic, ctx.tds));
      return { title: td.title, services: rows, error: undefined };
    });
    view.services = view.managers.flatMap((m) => m.services);
    view.refreshedAt = Date.now();
    if (denied) ctx.unauthorized();
  };
}

async function readManager(td, readProperty) {
  const read = async (name) => {
    try {
      return { value: await readProperty(td, name) };
    } catch (err) {
      if (err instanceof Unauthorized) return { denied: true };
      return { error: `${name}: ${err.message}` };
    }
  };
  const [services, traffic] = await Promise.all([read("services"), read("traffic")]);
  for (const r of [services, traffic]) if (r?.denied || r?.error) return r;
  return {
    services: Array.isArray(services?.value) ? services.value : [],
    traffic: traffic?.value && typeof traffic.value === "object" ? traffic.value : {},
  };
}

/** One row per service, with its unit's chains (in: received, against dlLimit; out: sent, against ulLimit). */
function serviceRows(services, traffic) {
  const chains = Array.isArray(traffic.chains) ? traffic.chains : [];
  const counters = Array.isArray(traffic.counters) ? traffic.counters : [];
  return [...services]
    .sort((a, b) => String(a.id).localeCompare(String(b.id)))
    .map((s) => {
      const unit = typeof s.unit === "string" ? s.unit : "";
      const chain = (direction) =>
        unit === "" ? undefined : chains.find((c) => c.unit === unit && c.direction === direction);
      const inChain = chain("in");
      const outChain = chain("out");
      return {
        id: s.id,
        version: s.version,
        state: s.state,
        status: s.status,
        statusMessage: s.statusMessage ?? "",
        unit,
        in: {
          value: unit === "" ? null : (inChain?.value ?? 0),
          limit: num(s.dlLimit ?? inChain?.limit),
          speed: num(s.dlSpeed ?? inChain?.speed),
        },
        out: {
          value: unit === "" ? null : (outChain?.value ?? 0),
          limit: num(s.ulLimit ?? outChain?.limit),
          speed: num(s.ulSpeed ?? outChain?.speed),
        },
        refused: unit === "" ? 0 : (counters.find((c) => c.unit === unit)?.refused ?? 0),
      };
    });
}

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

function renderTable(rows, traffic, tds) {
  const chains = Array.isArray(traffic.chains) ? traffic.chains : [];
  const period = chains.find((c) => c.periodStart && c.periodEnd);
  const system = (d) => chains.find((c) => c.unit === "SYSTEM" && c.direction === d)?.value;
  const caption = h(
    "p",
    { class: "muted small", id: "services-period" },
    period
      ? `Traffic this period: ${time(Date.parse(period.periodStart))} – ${time(Date.parse(period.periodEnd))}.`
      : "No traffic period reported yet.",
    system("in") !== undefined ? ` All things: ${bytes(system("in"))} in, ${bytes(system("out"))} out.` : "",
  );
  if (rows.length === 0) return [h("p", { class: "muted" }, "No services."), caption];
  const table = h(
    "table",
    { class: "services-table", id: "services" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "Service"),
        h("th", {}, "State"),
        h("th", {}, "Status"),
        h("th", {}, "Unit"),
        h("th", { title: "bytes the unit's thing received this period, against dlLimit" }, "In (received)"),
        h("th", { title: "bytes the unit's thing sent this period, against ulLimit" }, "Out (sent)"),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          { dataset: { service: r.id, state: r.state ?? "", status: r.status ?? "" } },
          h(
            "td",
            { class: "service" },
            h("strong", {}, r.id),
            r.version !== undefined ? h("span", { class: "muted small version" }, ` v${r.version}`) : "",
          ),
          h("td", { class: "state" }, stateBadge(r.state)),
          h(
            "td",
            { class: "status" },
            h("span", { class: `badge ${r.status === "error" ? "offline" : "online"}` }, r.status ?? "?"),
            r.statusMessage ? h("div", { class: "small error status-message" }, r.statusMessage) : "",
          ),
          h("td", { class: "unit" }, unitCell(r.unit, tds)),
          h("td", { class: "traffic traffic-in" }, usage(r.in, r.unit)),
          h(
            "td",
            { class: "traffic traffic-out" },
            usage(r.out, r.unit),
            r.refused ? h("div", { class: "small warn refused" }, `${r.refused} refused (429)`) : "",
          ),
        ),
      ),
    ),
  );
  return [h("div", { class: "scroll" }, table), caption];
}

function stateBadge(state) {
  const cls = state === "running" ? "online" : state === "stopped" ? "offline" : "unknown";
  return h("span", { class: `badge ${cls}` }, state ?? "?");
}

function unitCell(unit, tds) {
  if (!unit) return h("span", { class: "muted" }, "no unit");
  const td = tds.find((t) => t.title === unit);
  return td
    ? h("a", { href: `#/thing/${encodeURIComponent(slugOf(td))}` }, unit)
    : h(
        "span",
        { title: "no listed thing has this title" },
        unit,
        h("div", { class: "muted small" }, "not exposed"),
      );
}

/** `12.3 kB / 1 MB` with a bar, or `12.3 kB / no limit`. */
function usage({ value, limit, speed }, unit) {
  if (!unit || value === null) return h("span", { class: "muted" }, "—");
  const text = h("span", { class: "usage" }, `${bytes(value)} / ${limit > 0 ? bytes(limit) : "no limit"}`);
  const parts = [text];
  if (limit > 0) {
    const ratio = value / limit;
    const fill = h("span", { class: "fill" });
    fill.style.width = `${Math.min(100, ratio * 100).toFixed(1)}%`;
    parts.push(
      h(
        "div",
        {
          class: `bar ${ratio > 1 ? "over" : ratio >= 0.8 ? "high" : ""}`,
          role: "meter",
          "aria-valuemin": 0,
          "aria-valuemax": limit,
          "aria-valuenow": value,
          title: `${(ratio * 100).toFixed(1)} % of the limit${ratio > 1 ? ": past it, requests are refused" : ""}`,
        },
        fill,
      ),
    );
  }
  if (speed > 0) parts.push(h("div", { class: "muted small speed" }, `at most ${bytes(speed)}/s`));
  const cell = h("div", { dataset: { value: String(value), limit: String(limit) } }, parts);
  return cell;
}
