// A small SVG line chart: one line per series over evenly spaced time buckets, a marker on
// every point the API returned, y ticks at round numbers, x ticks in the viewer's zone.

import { s } from "./dom.js";
import { fmtInt } from "./format.js";

const MARGIN = { top: 12, right: 32, bottom: 34, left: 56 };
export const MAX_MARKERS = 2000; // more would make the page slow: the table lists the points

/** Round tick values from 0 to at least `max` (about `count` of them). */
export function niceTicks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step / 2; v += step) ticks.push(v);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

/**
 * The chart as an <svg>.
 * times: Date per bucket (ascending, evenly spaced); lines: [{key, label, cls, values
 * (number per bucket), marked (bucket indexes the API returned)}]; xTicks(maxCount) gives
 * the bucket indexes to label; tickLabel(date) and pointLabel(date) give the texts of x
 * ticks and marker tooltips.
 */
export function lineChart({ times, lines, width, xTicks, tickLabel, pointLabel, title }) {
  const height = Math.round(Math.min(360, Math.max(220, width * 0.45)));
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const maxValue = Math.max(0, ...lines.flatMap((l) => l.values));
  const ticks = niceTicks(maxValue);
  const top = ticks[ticks.length - 1];
  const x = (i) => MARGIN.left + (times.length > 1 ? (i / (times.length - 1)) * plotW : plotW / 2);
  const y = (v) => MARGIN.top + plotH - (v / top) * plotH;

  const svg = s("svg", {
    class: "chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
  });
  svg.append(s("title", {}, title));
  const grid = s("g", { class: "grid" });
  for (const t of ticks) {
    grid.append(
      s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(t), y2: y(t) }),
      s("text", { x: MARGIN.left - 6, y: y(t), class: "tick y" }, fmtInt(t)),
    );
  }
  for (const i of xTicks(Math.max(2, Math.floor(plotW / 80)))) {
    grid.append(
      s("line", { class: "xtick", x1: x(i), x2: x(i), y1: MARGIN.top + plotH, y2: MARGIN.top + plotH + 4 }),
      s("text", { x: x(i), y: MARGIN.top + plotH + 18, class: "tick x" }, tickLabel(times[i])),
    );
  }
  grid.append(
    s("line", { class: "axis", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(0), y2: y(0) }),
  );
  svg.append(grid);

  const markerTotal = lines.reduce((n, l) => n + l.marked.length, 0);
  for (const line of lines) {
    const g = s("g", { class: `series ${line.cls}`, "data-metric": line.key });
    g.append(
      s("polyline", {
        class: "line",
        points: line.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
      }),
    );
    if (markerTotal <= MAX_MARKERS) {
      for (const i of line.marked) {
        g.append(
          s(
            "circle",
            { class: "point", cx: x(i).toFixed(1), cy: y(line.values[i]).toFixed(1), r: 3 },
            s("title", {}, `${line.label}: ${fmtInt(line.values[i])} — ${pointLabel(times[i])}`),
          ),
        );
      }
    }
    svg.append(g);
  }
  return svg;
}
