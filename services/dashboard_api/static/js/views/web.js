// Web hits of one site per day (GET /api/web/{site}/daily): hits and distinct visitors from
// the Matomo log import, as a chart and a table.

import { api } from "../api.js";
import { lineChart } from "../chart.js";
import { download, stamp, toCsv } from "../csv.js";
import { fill, h, notice, scroller } from "../dom.js";
import { fmtInt, fmtUtcDay } from "../format.js";
import { apiRange, errorNotice, heading, loading, rangeForm, rangeFrom, rangeParams, shareBox } from "./common.js";
import { buckets, timeTicks } from "./series.js";
import { searchForm } from "./rows.js";

const SERIES = [
  { key: "hits", label: "Hits" },
  { key: "visitors", label: "Visitors" },
];

export async function render(ctx) {
  const { root, params } = ctx;
  const site = (params.get("site") || "").trim();
  const range = rangeFrom(params);
  if (range.filled) ctx.replace({ site, ...rangeParams(range) });
  const content = h("div", { class: "content" });
  fill(root, heading("Web hits"),
    h("div", { class: "toolbar" },
      searchForm({ id: "site", label: "Site", value: site, placeholder: "www.example.org",
        help: "The site's name as in the piwik sites file.", onSearch: (value) => ctx.go({ site: value, ...rangeParams(range) }) }),
      rangeForm(range, (r) => ctx.go({ site, ...rangeParams(r) }))),
    content);
  if (!site) {
    fill(content, notice("empty", "Enter a site name to see its hits per day.", "For example www.example.org."));
    return;
  }
  fill(content, loading(`hits of ${site}`));
  let body;
  try {
    body = await api(`/api/web/${encodeURIComponent(site)}/daily`, { params: apiRange(range, "day") });
  } catch (error) {
    fill(content, error.status === 404
      ? notice("empty", `No site ${site} was ever imported.`, "Check the site's name (as in the piwik sites file).")
      : errorNotice(error, () => ctx.rerender(), `Could not load the hits of ${site}.`));
    return;
  }
  if (body.days.length === 0) {
    fill(content, notice("empty", `No hits for ${site} in this date range.`,
      "Check the site's name (as in the piwik sites file) and pick a wider range; the piwik worker imports each day after it ends."), shareBox());
    return;
  }
  const grid = buckets(new Date(body.start), new Date(body.end), "day");
  const lines = SERIES.map((serie, i) => {
    const values = new Array(grid.times.length).fill(0);
    const marked = [];
    for (const day of body.days) {
      const at = grid.index(new Date(`${day.day}T00:00:00Z`));
      if (at >= 0 && at < values.length) {
        values[at] = day[serie.key];
        marked.push(at);
      }
    }
    return { key: serie.key, label: serie.label, cls: `m${i}`, values, marked };
  });
  const tick = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  const chartSlot = h("div", { class: "chart-box" });
  const draw = () => fill(chartSlot,
    h("div", { class: "legend static" }, SERIES.map((serie, i) => h("span", { class: `key m${i}` }, h("span", { class: "swatch", "aria-hidden": "true" }), serie.label))),
    lineChart({ times: grid.times, lines, width: Math.max(300, chartSlot.clientWidth || 800),
      xTicks: (max) => timeTicks(grid.times, "day", max), tickLabel: (d) => tick.format(d), pointLabel: fmtUtcDay, title: `Daily hits and visitors of ${site}: ${body.days.length} days` }));
  const csv = toCsv(["day", "hits", "visitors"], body.days.map((d) => [d.day, d.hits, d.visitors]));
  fill(content, chartSlot,
    scroller(h("table", { class: "data web-days", "data-label": "Hits per day" },
      h("caption", {}, `${body.days.length} day${body.days.length === 1 ? "" : "s"} with hits (UTC days)`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day (UTC)"), h("th", { scope: "col", class: "num" }, "Hits"), h("th", { scope: "col", class: "num" }, "Visitors"))),
      h("tbody", {}, body.days.map((d) => h("tr", { "data-day": d.day },
        h("th", { scope: "row" }, fmtUtcDay(new Date(`${d.day}T00:00:00Z`))),
        h("td", { class: "num", "data-value": d.hits }, fmtInt(d.hits)),
        h("td", { class: "num", "data-value": d.visitors }, fmtInt(d.visitors))))))),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => download(`web-${site}-${stamp(range.start)}-${stamp(range.end)}.csv`, csv) }, "Download days (CSV)"),
      shareBox()));
  draw();
  ctx.onResize(draw);
}
