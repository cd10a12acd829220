// Internal event counts (the old edgedash): events by type, hour and campaign since a time
// (GET /api/internal/events), with totals per type.

import { api } from "../api.js";
import { download, stamp, toCsv } from "../csv.js";
import { fill, h, notice, scroller } from "../dom.js";
import { HOUR_MS, TIME_ZONE, fmtBoth, fmtInt, isoUtc, localDateTimeValue, toDate } from "../format.js";
import { errorNotice, heading, loading, shareBox, timeCell } from "./common.js";

const ROW_LIMIT = 10000; // the API's most rows per answer

function sinceOf(params) {
  const since = toDate(params.get("since"));
  if (since) return { since, filled: false };
  const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  return { since: new Date(hour - 24 * HOUR_MS), filled: true };
}

export async function render(ctx) {
  const { root, params } = ctx;
  const { since, filled } = sinceOf(params);
  if (filled) ctx.replace({ since: isoUtc(since) });
  const input = h("input", { type: "datetime-local", id: "since", name: "since", required: true, value: localDateTimeValue(since) });
  const form = h("form", { class: "search-form" },
    h("div", { class: "field" }, h("label", { for: "since" }, `Since (${TIME_ZONE})`), input,
      h("small", {}, `= ${fmtBoth(since)}`)),
    h("button", { type: "submit", class: "primary" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const date = new Date(input.value);
    if (!Number.isNaN(date.getTime())) ctx.go({ since: isoUtc(date) });
  });
  const content = h("div", { class: "content" });
  fill(root, heading("Event counts"), form, content);
  fill(content, loading("event counts"));
  let body;
  try {
    body = await api("/api/internal/events", { params: { since: isoUtc(since) } });
  } catch (error) {
    fill(content, errorNotice(error, () => ctx.rerender(), "Could not load the event counts."));
    return;
  }
  if (body.counts.length === 0) {
    fill(content, notice("empty", `No events since ${fmtBoth(since)}.`, "Pick an earlier time; events arrive with each sync of the source database."), shareBox());
    return;
  }
  const byType = new Map();
  for (const c of body.counts) byType.set(c.type, (byType.get(c.type) || 0) + c.count);
  const types = [...byType.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([type]) => type);
  const csv = toCsv(["hour_utc", "type", "campaign_id", "count"], body.counts.map((c) => [isoUtc(new Date(c.hour)), c.type, c.campaign_id, c.count]));
  fill(content,
    body.counts.length >= ROW_LIMIT ? notice("info", `The API returned its limit of ${fmtInt(ROW_LIMIT)} rows: later hours may be missing.`, "Pick a later time for complete counts.") : null,
    h("h2", {}, "Totals by type"),
    scroller(h("table", { class: "data by-type", "data-label": "Totals by type" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Type"), h("th", { scope: "col", class: "num" }, "Events"))),
      h("tbody", {}, types.map((type) => h("tr", { "data-type": type }, h("th", { scope: "row" }, type),
        h("td", { class: "num", "data-value": byType.get(type) }, fmtInt(byType.get(type)))))))),
    h("h2", {}, "By hour"),
    pivot(body.counts, types, "hour", "Hour", (hour) => timeCell(hour, "th")),
    h("h2", {}, "By campaign"),
    pivot(body.counts, types, "campaign_id", "Campaign", (id) => h("th", { scope: "row" }, id === null ? "none" : `#${id}`)),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => download(`events-since-${stamp(since)}.csv`, csv) }, "Download counts (CSV)"),
      shareBox()));
}

/** Counts summed per `key` (a row each, in first-seen order) and type (a column each). */
function pivot(counts, types, key, label, rowHead) {
  const rows = new Map();
  for (const c of counts) {
    const k = c[key];
    if (!rows.has(k)) rows.set(k, new Map());
    const cells = rows.get(k);
    cells.set(c.type, (cells.get(c.type) || 0) + c.count);
  }
  return scroller(h("table", { class: `data pivot by-${key}`, "data-label": `Events by ${label.toLowerCase()} and type` },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "text" }, label),
      types.map((t) => h("th", { scope: "col", class: "num" }, t)), h("th", { scope: "col", class: "num" }, "Total"))),
    h("tbody", {}, [...rows.entries()].map(([k, cells]) => h("tr", { "data-key": String(k) }, rowHead(k),
      types.map((t) => h("td", { class: "num", "data-type": t }, cells.has(t) ? fmtInt(cells.get(t)) : "–")),
      h("td", { class: "num total" }, fmtInt([...cells.values()].reduce((a, b) => a + b, 0))))))));
}
