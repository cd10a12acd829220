// Internal event counts (the old edgedash): events by type, hour and campaign since a time
// (GET /api/internal/events), with totals per type.

import { api } from "../api.js";
import { download, stamp, toCsv } from "../csv.js";
import { fill, h, notice, scroller } from "../dom.js";
import { HOUR_MS, TIME_ZONE, fmtBoth, fmtInt, isoUtc, localDateTimeValue, toDate } from "../format.js";
import { errorNotice, heading, loading, shareBox, timeCell } from "./common.js";

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
  const types = [...byType.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const csv = toCsv(["hour_utc", "type", "campaign_id", "count"], body.counts.map((c) => [isoUtc(new Date(c.hour)), c.type, c.campaign_id, c.count]));
  fill(content,
    h("h2", {}, "Totals by type"),
    scroller(h("table", { class: "data by-type", "data-label": "Totals by type" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Type"), h("th", { scope: "col", class: "num" }, "Events"))),
      h("tbody", {}, types.map(([type, n]) => h("tr", { "data-type": type }, h("th", { scope: "row" }, type), h("td", { class: "num", "data-value": n }, fmtInt(n))))))),
    h("h2", {}, "By hour and campaign"),
    scroller(h("table", { class: "data counts", "data-label": "Event counts by hour" },
      h("caption", {}, `${fmtInt(body.counts.length)} rows`),
      h("thead", {}, h("tr", {}, ["Hour", "Type", "Campaign", "Events"].map((t, i) => h("th", { scope: "col", class: i === 3 ? "num" : "text" }, t)))),
      h("tbody", {}, body.counts.map((c) => h("tr", {}, timeCell(c.hour), h("td", {}, c.type), h("td", {}, c.campaign_id === null ? "none" : String(c.campaign_id)),
        h("td", { class: "num", "data-value": c.count }, fmtInt(c.count))))))),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => download(`events-since-${stamp(since)}.csv`, csv) }, "Download counts (CSV)"),
      shareBox()));
}
