// A Rainforest user's status and latest readings, through the dashboard's energy proxy
// (GET /api/energy/{cloud_id}); the rainforest API never returns the gateway secret.

import { api } from "../api.js";
import { fill, h, notice, scroller } from "../dom.js";
import { fmtInt, fmtNumber } from "../format.js";
import { errorNotice, heading, loading, shareBox, timeCell } from "./common.js";
import { searchForm, valueText } from "./rows.js";

function details(user) {
  const rows = [
    ["Email", user.user_email],
    ["Adapter", user.adapter],
    ["Host", user.host || "–"],
    ["Active", user.active ? "yes" : "no (not polled)"],
    ["Status", user.status_detail ? `${user.status}: ${user.status_detail}` : user.status],
    ["Readings logged", fmtInt(user.total_events_logged)],
    ["First reading", valueText(user.first_timestamp)],
    ["Last reading", valueText(user.last_timestamp)],
  ];
  return h("dl", { class: "details" }, rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v ?? "–"))));
}

function readingsTable(readings) {
  return scroller(h("table", { class: "data readings", "data-label": "Latest readings" },
    h("caption", {}, `Latest ${readings.length} reading${readings.length === 1 ? "" : "s"}, newest first`),
    h("thead", {}, h("tr", {}, ["Meter time", "Received", "Demand (kW)", "Delivered (kWh)", "Received (kWh)", "Meter"].map((t, i) =>
      h("th", { scope: "col", class: i >= 2 && i <= 4 ? "num" : "text" }, t)))),
    h("tbody", {}, readings.map((r) => h("tr", {},
      timeCell(r.eagle_time, "td", { seconds: true }), timeCell(r.received_at, "td", { seconds: true }),
      h("td", { class: "num", "data-value": r.demand_kw }, fmtNumber(r.demand_kw)),
      h("td", { class: "num" }, fmtNumber(r.summation_delivered_kwh)),
      h("td", { class: "num" }, fmtNumber(r.summation_received_kwh)),
      h("td", {}, r.meter_mac || "–"))))));
}

export async function render(ctx) {
  const { root, params } = ctx;
  const cloudId = (params.get("cloud_id") || "").trim();
  const content = h("div", { class: "content" });
  fill(root, heading("Energy"),
    searchForm({ id: "cloud_id", label: "Rainforest cloud id", value: cloudId, placeholder: "e.g. 002738", pattern: "[0-9A-Fa-f]{1,16}",
      help: "1 to 16 hex digits, leading zeros kept.", onSearch: (value) => ctx.go({ cloud_id: value }) }),
    content);
  if (!cloudId) {
    fill(content, notice("empty", "Enter a Rainforest cloud id to see that user's latest readings."));
    return;
  }
  if (!/^[0-9A-Fa-f]{1,16}$/.test(cloudId)) {
    fill(content, notice("error", `“${cloudId}” is not a cloud id.`, "Enter 1 to 16 hex digits."));
    return;
  }
  fill(content, loading(`Rainforest user ${cloudId}`));
  let body;
  try {
    body = await api(`/api/energy/${cloudId}`);
  } catch (error) {
    if (error.status === 404) {
      fill(content, notice("error", `No Rainforest user with cloud id ${cloudId}.`,
        "Check the id, or register the user with POST /api/user/{cloud_id} on the rainforest API."));
    } else {
      fill(content, errorNotice(error, () => ctx.rerender(), `Could not load Rainforest user ${cloudId}.`));
    }
    return;
  }
  const user = body.user;
  const readings = user.recent_readings || [];
  fill(content,
    h("h2", {}, `User ${body.cloud_id}`),
    details(user),
    h("h2", {}, "Latest readings"),
    readings.length ? readingsTable(readings)
      : notice("empty", "No readings logged yet.", user.active
        ? "The poller reads this gateway every 6 seconds once it answers; check its status above."
        : "This user is inactive: set active to true on the rainforest API to poll it."),
    h("div", { class: "actions" }, shareBox()));
}
