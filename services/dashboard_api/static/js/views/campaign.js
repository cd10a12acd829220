// One campaign: its hourly or daily chart of the 8 metrics (GET /api/campaigns/{id}/series),
// the points as a table and a CSV, and the campaign's name and totals for the range (from
// GET /api/campaigns/{id}).

import { api } from "../api.js";
import { MAX_MARKERS, lineChart } from "../chart.js";
import { download, stamp, toCsv } from "../csv.js";
import { fill, h, notice, scroller } from "../dom.js";
import { fmtInt, fmtLocal, fmtUtc, fmtUtcDay, isoUtc } from "../format.js";
import {
  METRICS, apiRange, errorNotice, heading, loading, rangeForm, rangeFrom, rangeParams, shareBox,
} from "./common.js";
import { buckets, seriesLines, timeTicks } from "./series.js";

const LONG_RANGE_DAYS = 14;

function chosenMetrics(params) {
  const keys = (params.get("metrics") || "").split(",").filter(Boolean);
  const chosen = METRICS.filter((m) => keys.includes(m.key));
  return chosen.length ? chosen : METRICS;
}

function granularityOf(params, range) {
  const g = params.get("granularity");
  if (g === "hour" || g === "day") return g;
  return range.end - range.start > LONG_RANGE_DAYS * 86400 * 1000 ? "day" : "hour";
}

function pointTime(granularity) {
  return granularity === "day" ? fmtUtcDay : (d) => `${fmtLocal(d)} (${fmtUtc(d)})`;
}

function tickLabel(granularity) {
  const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: granularity === "day" ? "UTC" : undefined });
  const hour = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  // hourly: local midnights show the date, other ticks the time of day
  return (d) => (granularity === "day" || d.getHours() === 0 ? day.format(d) : hour.format(d));
}

function pointsTable(series) {
  const label = pointTime(series.granularity);
  return scroller(h(
    "table",
    { class: "data points", "data-label": "Points of the chart" },
    h("caption", {}, `${series.points.length} ${series.granularity === "day" ? "days" : "hours"} with data`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "text" }, series.granularity === "day" ? "Day (UTC)" : "Hour (your time, UTC)"),
      METRICS.map((m) => h("th", { scope: "col", class: "num" }, m.label)))),
    h("tbody", {}, series.points.map((p) => h(
      "tr", {},
      h("th", { scope: "row", class: "text" }, h("time", { datetime: p.start }, label(new Date(p.start)))),
      METRICS.map((m) => h("td", { class: "num", "data-metric": m.key, "data-value": p.metrics[m.key] }, fmtInt(p.metrics[m.key]))),
    ))),
  ));
}

function totals(summary) {
  return h("dl", { class: "totals", "aria-label": "Totals for the range" },
    METRICS.map((m) => h("div", { class: "total" }, h("dt", {}, m.label), h("dd", { "data-metric": m.key }, fmtInt(summary.metrics[m.key])))));
}

export async function render(ctx) {
  const { root, params, user, args } = ctx;
  const campaignId = /^\d{1,19}$/.test(args[0] || "") ? args[0] : null;
  const range = rangeFrom(params);
  const granularity = granularityOf(params, range);
  let clientId = params.get("client") || "";
  if (!user.is_superuser && !clientId && user.client_ids.length) clientId = String(user.client_ids[0]);
  const metrics = chosenMetrics(params);
  const current = (extra = {}) => ({
    client: clientId, ...rangeParams(range), granularity,
    metrics: metrics.length === METRICS.length ? "" : metrics.map((m) => m.key).join(","), ...extra,
  });
  const back = h("a", { href: ctx.href("campaigns", [], { client: clientId, ...rangeParams(range) }), class: "back" }, "← All campaigns");
  if (!campaignId) {
    fill(root, back, heading("Campaign not found"), notice("error", `“${args[0] || ""}” is not a campaign id.`, "Go back to the campaign list and pick one."));
    return;
  }
  if (range.filled || !params.get("granularity") || clientId !== (params.get("client") || "")) ctx.replace(current());

  const title = heading(`Campaign #${campaignId}`);
  const summarySlot = h("div", { class: "summary" });
  const chartSlot = h("div", { class: "chart-box" });
  const tableSlot = h("div", {});
  const actions = h("div", { class: "actions" });
  const grain = h("div", { class: "segmented", role: "group", "aria-label": "Granularity" },
    ["hour", "day"].map((g) => h("button", {
      type: "button", "aria-pressed": String(g === granularity), "data-granularity": g,
      onclick: () => ctx.go(current({ granularity: g })),
    }, g === "hour" ? "Hourly" : "Daily")));
  fill(root, back, title,
    h("div", { class: "toolbar" }, rangeForm(range, (r) => ctx.go(current(rangeParams(r)))), grain),
    summarySlot, chartSlot, tableSlot, actions);

  const seriesQuery = { ...apiRange(range, granularity), granularity };
  fill(chartSlot, loading("the chart"));
  fill(summarySlot, loading("the campaign's totals"));
  // the name and totals are extras: their failure never hides the chart
  const summaryPromise = api(`/api/campaigns/${campaignId}`, { params: apiRange(range) }).catch((error) => ({ error }));
  let series;
  try {
    series = await api(`/api/campaigns/${campaignId}/series`, { params: seriesQuery });
  } catch (error) {
    fill(summarySlot);
    if (error.status === 404) {
      title.querySelector("h1").textContent = "Campaign not found";
      const root = /root campaign (\d+)/.exec(error.message || "");
      fill(chartSlot, notice("error", `Campaign ${campaignId} not found.`, root
        ? `It is not a root campaign: its figures are part of campaign ${root[1]}'s.`
        : "It does not exist, or it belongs to another client. Go back to your campaigns and pick one from the list."));
    } else {
      fill(chartSlot, errorNotice(error, () => ctx.rerender(), "Could not load the campaign's series."));
    }
    return;
  }
  summaryPromise.then((body) => {
    if (body && body.error) {
      fill(summarySlot, notice("info", "The campaign's name and totals could not be loaded.", "The chart below is complete; retry later for the totals."));
      return;
    }
    title.querySelector("h1").textContent = `${body.name || "Campaign"} #${campaignId}`;
    fill(summarySlot, h("h2", {}, "Totals for the range"), totals(body));
  });

  const grid = buckets(new Date(series.start), new Date(series.end), granularity);
  const legend = h("div", { class: "legend", role: "group", "aria-label": "Metrics shown in the chart" },
    METRICS.map((m, i) => {
      const on = metrics.includes(m);
      const next = on ? metrics.filter((x) => x !== m) : METRICS.filter((x) => x === m || metrics.includes(x));
      return h("button", {
        type: "button", class: `key m${i}`, "aria-pressed": String(on), "data-metric": m.key, title: m.help,
        onclick: () => ctx.go(current({ metrics: next.length && next.length < METRICS.length ? next.map((x) => x.key).join(",") : "" })),
      }, h("span", { class: "swatch", "aria-hidden": "true" }), m.label);
    }));
  const what = granularity === "day" ? "Daily (UTC days)" : "Hourly";
  if (series.points.length === 0) {
    fill(chartSlot, h("h2", {}, `${what} chart`), notice("empty", "No data for this campaign in this date range.",
      "Pick a wider range, or switch granularity. Hours without events have no data."));
  } else {
    const draw = () => {
      const width = Math.max(300, chartSlot.clientWidth || 800);
      const lines = seriesLines(series.points, grid, METRICS).filter((l) => metrics.some((m) => m.key === l.key));
      const chart = lineChart({
        times: grid.times, lines, width, tickLabel: tickLabel(granularity), pointLabel: pointTime(granularity),
        xTicks: (max) => timeTicks(grid.times, granularity, max),
        title: `${what} chart of ${metrics.map((m) => m.label).join(", ")}: ${series.points.length} points`,
      });
      const unit = granularity === "day" ? "days" : "hours";
      const markers = series.points.length * lines.length <= MAX_MARKERS
        ? `markers are the ${unit} with data (hover one for its value)`
        : "too many points for markers: the table below lists them";
      fill(chartSlot, h("h2", {}, `${what} chart`), legend, chart,
        h("p", { class: "hint" }, `${granularity === "day" ? "Days are UTC days. " : ""}${unit[0].toUpperCase()}${unit.slice(1)} without data are drawn at 0; ${markers}.`));
    };
    draw();
    ctx.onResize(draw);
  }
  fill(tableSlot, series.points.length
    ? h("details", { class: "points-box" }, h("summary", {}, `The ${series.points.length} points as a table`), pointsTable(series))
    : null);
  const header = ["start_utc", ...METRICS.map((m) => m.key)];
  const rows = series.points.map((p) => [isoUtc(new Date(p.start)), ...METRICS.map((m) => p.metrics[m.key])]);
  fill(actions,
    h("button", { type: "button", onclick: () => download(`campaign-${campaignId}-${granularity}-${stamp(range.start)}-${stamp(range.end)}.csv`, toCsv(header, rows)) }, "Download series (CSV)"),
    shareBox());
}
