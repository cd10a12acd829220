// edgeplorer: everything known about one Facebook id (GET /api/edgeplorer/{fbid}): its users
// row, its latest events and the edges pointing at it.

import { api } from "../api.js";
import { fill, h, notice } from "../dom.js";
import { errorNotice, heading, loading } from "./common.js";
import { fieldsTable, rowsTable, searchForm } from "./rows.js";

export async function render(ctx) {
  const { root, params } = ctx;
  const fbid = (params.get("fbid") || "").trim();
  const content = h("div", { class: "content" });
  fill(root, heading("Edgeplorer"),
    searchForm({ id: "fbid", label: "Facebook id (fbid)", value: fbid, placeholder: "e.g. 100001234567", pattern: "\\d+",
      help: "Digits only. Shows the user row, its latest 1,000 events and the edges where it is the target.",
      onSearch: (value) => ctx.go({ fbid: value }) }),
    content);
  if (!fbid) {
    fill(content, notice("empty", "Enter a Facebook id to look it up."));
    return;
  }
  if (!/^\d{1,19}$/.test(fbid)) {
    fill(content, notice("error", `“${fbid}” is not a Facebook id.`, "Enter digits only."));
    return;
  }
  fill(content, loading(`fbid ${fbid}`));
  let body;
  try {
    body = await api(`/api/edgeplorer/${fbid}`);
  } catch (error) {
    fill(content, errorNotice(error, () => ctx.rerender(), `Could not look up fbid ${fbid}.`));
    return;
  }
  fill(content,
    h("h2", {}, "User"),
    body.user ? fieldsTable(body.user, `users row of ${fbid}`)
      : notice("empty", `No users row for fbid ${fbid}.`, "The dynamo_pump may not have extracted this user yet, or the id is unknown."),
    h("h2", {}, "Events"),
    body.events.length ? rowsTable(body.events, "Events (latest first)")
      : notice("empty", `No events for fbid ${fbid}.`, "Events are linked through its visitors; this fbid has none in the warehouse."),
    h("h2", {}, "Incoming edges"),
    body.edges.length ? rowsTable(body.edges, "Edges where fbid_target is this fbid")
      : notice("empty", `No edges point at fbid ${fbid}.`, "Edges appear after the dynamo_pump extracts them."));
}
