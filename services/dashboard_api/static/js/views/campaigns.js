// The client dashboard: the client's root campaigns with the 8 metrics over a date range
// (GET /api/campaigns), sortable, downloadable as CSV, every choice kept in the URL.

import { api } from "../api.js";
import { fill, h, notice, scroller } from "../dom.js";
import { download, stamp, toCsv } from "../csv.js";
import { fmtInt } from "../format.js";
import { clientLabel, clientPicker, pickableClients } from "./clients.js";
import {
  METRICS, apiRange, errorNotice, heading, loading, rangeForm, rangeFrom, rangeParams, shareBox,
} from "./common.js";

const SORT_KEYS = ["name", "campaign_id", ...METRICS.map((m) => m.key)];

function sortState(params) {
  const sort = SORT_KEYS.includes(params.get("sort")) ? params.get("sort") : "visits";
  const dir = params.get("dir") === "asc" || params.get("dir") === "desc"
    ? params.get("dir")
    : sort === "name" ? "asc" : "desc";
  return { sort, dir };
}

function sortValue(campaign, key) {
  if (key === "name") return (campaign.name || "").toLocaleLowerCase();
  if (key === "campaign_id") return campaign.campaign_id;
  return campaign.metrics[key];
}

export function sortCampaigns(campaigns, { sort, dir }) {
  const sign = dir === "asc" ? 1 : -1;
  return [...campaigns].sort((a, b) => {
    const va = sortValue(a, sort);
    const vb = sortValue(b, sort);
    const order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return order * sign || a.campaign_id - b.campaign_id;
  });
}

/** The link to one campaign's chart, with the same client and range. */
export function campaignHref(ctx, campaignId, clientId, range) {
  return ctx.href("campaign", [campaignId], { client: clientId, ...rangeParams(range) });
}

function table(ctx, body, range, state, onSort) {
  const columns = [{ key: "name", label: "Campaign", help: "root campaign (its id after #)" }, ...METRICS];
  const head = h("tr", {}, columns.map((col) => {
    const active = state.sort === col.key;
    const nextDir = active ? (state.dir === "asc" ? "desc" : "asc") : col.key === "name" ? "asc" : "desc";
    return h(
      "th",
      { scope: "col", class: col.key === "name" ? "text" : "num", "aria-sort": active ? (state.dir === "asc" ? "ascending" : "descending") : "none" },
      h("button", { type: "button", class: "sort", title: `${col.help}; sort ${nextDir === "asc" ? "ascending" : "descending"}`, "data-sort": col.key, onclick: () => onSort(col.key, nextDir) },
        col.label, h("span", { class: "sort-mark", "aria-hidden": "true" }, active ? (state.dir === "asc" ? " ▲" : " ▼") : "")),
    );
  }));
  const rows = sortCampaigns(body.campaigns, state).map((c) =>
    h(
      "tr",
      { "data-campaign": c.campaign_id },
      h("th", { scope: "row", class: "text" },
        h("a", { href: campaignHref(ctx, c.campaign_id, body.client_id, range) }, c.name || `Campaign ${c.campaign_id}`),
        h("span", { class: "id" }, ` #${c.campaign_id}`)),
      METRICS.map((m) => h("td", { class: "num", "data-metric": m.key, "data-value": c.metrics[m.key] }, fmtInt(c.metrics[m.key]))),
    ),
  );
  const t = h("table", { class: "data campaigns", "data-label": "Campaigns" },
    h("caption", {}, `${body.campaigns.length} root campaign${body.campaigns.length === 1 ? "" : "s"} — select a column heading to sort, a name to see its chart`),
    h("thead", {}, head), h("tbody", {}, rows));
  return scroller(t);
}

function csvFor(body, state) {
  const header = ["campaign_id", "name", ...METRICS.map((m) => m.key)];
  const rows = sortCampaigns(body.campaigns, state).map((c) => [c.campaign_id, c.name, ...METRICS.map((m) => c.metrics[m.key])]);
  return toCsv(header, rows);
}

export async function render(ctx) {
  const { root, params, user } = ctx;
  const range = rangeFrom(params);
  let clientId = params.get("client") || "";
  if (!user.is_superuser && !clientId && user.client_ids.length) clientId = String(user.client_ids[0]);
  const state = sortState(params);
  const current = () => ({ client: clientId, ...rangeParams(range), sort: state.sort, dir: state.dir });
  if (range.filled || clientId !== (params.get("client") || "")) ctx.replace(current());

  const pickerSlot = h("div", { class: "picker" });
  const content = h("div", { class: "content" });
  const actions = h("div", { class: "actions" });
  fill(
    root,
    heading("Campaigns"),
    h("div", { class: "toolbar" }, pickerSlot,
      rangeForm(range, (r) => ctx.go({ client: clientId, ...rangeParams(r), sort: state.sort, dir: state.dir }))),
    content,
    actions,
  );

  const needsPicker = user.is_superuser || user.client_ids.length > 1;
  if (needsPicker) {
    fill(pickerSlot, loading("clients"));
    pickableClients(user).then(
      (clients) => {
        fill(pickerSlot, clientPicker(clients, clientId, (id) => ctx.go({ ...current(), client: id })));
        const picked = clients.find((c) => String(c.client_id) === clientId);
        if (picked) root.querySelector("h1").textContent = `Campaigns of ${clientLabel(picked)}`;
      },
      (error) => fill(pickerSlot, errorNotice(error, () => ctx.rerender(), "Could not load the list of clients.")),
    );
  }
  if (!clientId) {
    fill(content, user.is_superuser
      ? notice("empty", "Pick a client to see its campaigns.", "Choose one in the Client list above.")
      : notice("empty", "Your account is not linked to any client.", "Ask an administrator to add your user to a client's group."));
    return;
  }

  fill(content, loading("campaigns"));
  let body;
  try {
    body = await api("/api/campaigns", { params: { client_id: clientId, ...apiRange(range) } });
  } catch (error) {
    fill(content, errorNotice(error, () => ctx.rerender(),
      error.status === 404 ? `Client ${clientId} not found.` : "Could not load the campaigns."));
    return;
  }
  if (body.campaigns.length === 0) {
    fill(content, notice("empty", "This client has no campaigns yet.",
      "Campaigns appear once the sync service has copied them from the source database."));
    return;
  }
  const draw = () => {
    const quiet = body.campaigns.every((c) => METRICS.every((m) => c.metrics[m.key] === 0));
    fill(content,
      quiet ? notice("empty", "No activity in this date range.",
        "Pick a wider range. If you expected data, the hourly aggregation may not have run yet (superusers: see Ops).") : null,
      table(ctx, body, range, state, (sort, dir) => {
        state.sort = sort;
        state.dir = dir;
        ctx.replace(current());
        draw();
        content.querySelector(`button[data-sort="${sort}"]`).focus();
        fill(actions, actionsFor());
      }));
  };
  const actionsFor = () => [
    h("button", { type: "button", onclick: () => download(`campaigns-client${clientId}-${stamp(range.start)}-${stamp(range.end)}.csv`, csvFor(body, state)) }, "Download table (CSV)"),
    shareBox(),
  ];
  draw();
  fill(actions, actionsFor());
}
