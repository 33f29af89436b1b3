// Charts: uPlot time series for numeric properties, and DOM strips for value timelines and
// online/offline bands. Times are milliseconds since the epoch throughout; uPlot gets seconds.
import { h, colourOf, json, time } from "./format.js";

const LINE = "#2563eb";
const BAND = "rgba(37, 99, 235, 0.14)";
const EDGE = "rgba(37, 99, 235, 0.35)";

/**
 * A time-series chart of one numeric property. `data` is { xs (ms), ys, mins?, maxs? }; with
 * mins/maxs (aggregate windows) the min–max band is drawn behind the mean.
 * `onSelect(fromMs, toMs)` is called when the user drags over a range (zoom).
 */
export class SeriesChart {
  constructor(container, { label, unit, stepped = false, onSelect }) {
    this.container = container;
    this.stepped = stepped;
    this.label = label;
    this.unit = unit;
    this.onSelect = onSelect;
    this.range = [Date.now() - 3600e3, Date.now()];
    this.plot = undefined;
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(container);
  }

  /** Draws `data` over `range` [fromMs, toMs]; returns the number of points drawn. */
  draw(data, range) {
    this.range = range;
    const withBand = Boolean(data.mins);
    const aligned = [data.xs.map((t) => t / 1000), data.ys, ...(withBand ? [data.mins, data.maxs] : [])];
    if (this.plot && this.plot.withBand === withBand) {
      this.plot.setData(aligned, true);
    } else {
      this.plot?.destroy();
      this.plot = this.create(aligned, withBand);
      this.plot.withBand = withBand;
    }
    // What the chart itself holds (not what was handed to it).
    return this.plot.data[0].length;
  }

  create(aligned, withBand) {
    const unit = this.unit ? ` ${this.unit}` : "";
    const fmt = (u, v) => (v === null || v === undefined ? "—" : `${+v.toFixed(3)}${unit}`);
    const series = [
      { value: (u, v) => (v === null ? "—" : time(v * 1000)) },
      {
        label: withBand ? `${this.label} (mean)` : this.label,
        stroke: LINE,
        width: 1.5,
        value: fmt,
        // A set point holds until the next write: steps, not slopes.
        ...(this.stepped ? { paths: uPlot.paths.stepped({ align: 1 }) } : {}),
        points: { show: (u, si, i0, i1) => i1 - i0 < 120, size: 5, fill: LINE },
      },
    ];
    if (withBand)
      series.push(
        { label: "min", stroke: EDGE, width: 1, value: fmt, points: { show: false } },
        { label: "max", stroke: EDGE, width: 1, value: fmt, points: { show: false } },
      );
    const opts = {
      width: Math.max(240, this.container.clientWidth),
      height: this.container.clientWidth < 500 ? 180 : 240,
      scales: { x: { time: true, range: () => [this.range[0] / 1000, this.range[1] / 1000] } },
      axes: [{}, { size: 56, values: (u, vals) => vals.map((v) => +v.toFixed(2)) }],
      series,
      bands: withBand ? [{ series: [3, 2], fill: BAND }] : [],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const from = Math.round(u.posToVal(u.select.left, "x") * 1000);
            const to = Math.round(u.posToVal(u.select.left + u.select.width, "x") * 1000);
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.onSelect?.(from, to);
          },
        ],
      },
    };
    return new uPlot(opts, aligned, this.container);
  }

  fit() {
    if (!this.plot) return;
    const width = Math.max(240, this.container.clientWidth);
    if (Math.abs(width - this.plot.width) > 2) this.plot.setSize({ width, height: width < 500 ? 180 : 240 });
  }

  destroy() {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }
}

/**
 * A value timeline: each value holds from its time until the next one (or the end of the range).
 * `points` are [{ time, value }] oldest first.
 */
export function timeline(points, [from, to], { empty = "no value in this range" } = {}) {
  const strip = h("div", { class: "strip", dataset: { changes: points.length } });
  if (points.length === 0) {
    strip.append(h("span", { class: "strip-empty" }, empty));
    return strip;
  }
  const span = Math.max(1, to - from);
  points.forEach((p, i) => {
    const start = Math.max(from, p.time);
    const end = Math.min(to, i + 1 < points.length ? points[i + 1].time : to);
    if (end < from || start > to) return;
    const left = ((start - from) / span) * 100;
    const width = Math.max(0.3, ((end - start) / span) * 100);
    const label = json(p.value, 40);
    strip.append(
      h(
        "span",
        {
          class: "segment",
          style: `left:${left}%;width:${width}%;background:${colourOf(p.value)}`,
          title: `${label} — from ${time(p.time)}`,
        },
        width > 6 ? label : "",
      ),
    );
  });
  return strip;
}

/**
 * Online / offline bands from status rows [{ time, online }] oldest first. Before the first row
 * the state is unknown.
 */
export function bands(rows, [from, to], label) {
  const strip = h("div", { class: "strip bands", dataset: { rows: rows.length }, "aria-label": label });
  const span = Math.max(1, to - from);
  // Only the changes matter: collapse runs of the same state.
  const changes = [];
  for (const r of rows)
    if (changes.length === 0 || changes[changes.length - 1].online !== r.online) changes.push(r);
  if (changes.length === 0) {
    strip.append(h("span", { class: "strip-empty" }, "no checks recorded in this range"));
    return strip;
  }
  changes.forEach((c, i) => {
    const start = Math.max(from, c.time);
    const end = Math.min(to, i + 1 < changes.length ? changes[i + 1].time : rows[rows.length - 1].time);
    if (end <= from || start >= to) return;
    const left = ((start - from) / span) * 100;
    const width = Math.max(0.3, ((end - start) / span) * 100);
    strip.append(
      h(
        "span",
        {
          class: `segment ${c.online ? "online" : "offline"}`,
          style: `left:${left}%;width:${width}%`,
          title: `${c.online ? "online" : "offline"} from ${time(c.time)}`,
        },
        width > 8 ? (c.online ? "online" : "offline") : "",
      ),
    );
  });
  return strip;
}

/** Axis labels under strips: the range's start and end. */
export function rangeAxis([from, to]) {
  return h("div", { class: "strip-axis" }, h("span", {}, time(from)), h("span", {}, time(to)));
}
