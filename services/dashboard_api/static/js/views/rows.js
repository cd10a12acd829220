// Tables of rows whose columns come from the data (edgeplorer's users, events and edges):
// values shown as given, timestamps also in the viewer's zone.

import { h, scroller } from "../dom.js";
import { fmtBoth, toDate } from "../format.js";

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

export function valueText(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "string" && ISO_TIME.test(value)) {
    const date = toDate(value);
    if (date) return fmtBoth(date);
  }
  return String(value);
}

/** A table of `rows` (objects) with a column per key seen, in first-seen order. */
export function rowsTable(rows, label) {
  const keys = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!keys.includes(key)) keys.push(key);
  return scroller(h(
    "table",
    { class: "data rows", "data-label": label },
    h("caption", {}, `${label}: ${rows.length} row${rows.length === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col" }, k)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, keys.map((k) => h("td", {}, valueText(row[k])))))),
  ));
}

/** A two-column table of one object's fields. */
export function fieldsTable(object, label) {
  return scroller(h(
    "table",
    { class: "data fields", "data-label": label },
    h("caption", {}, label),
    h("tbody", {}, Object.entries(object).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, valueText(v))))),
  ));
}

/** A one-field search form: onSearch(value). */
export function searchForm({ id, label, value, placeholder, pattern, help, onSearch }) {
  const input = h("input", { id, name: id, value: value || "", placeholder, required: true, pattern, inputmode: pattern === "\\d+" ? "numeric" : null, "aria-describedby": `${id}-help` });
  const form = h("form", { class: "search-form" },
    h("div", { class: "field" }, h("label", { for: id }, label), input, h("small", { id: `${id}-help` }, help)),
    h("button", { type: "submit", class: "primary" }, "Look up"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSearch(input.value.trim());
  });
  return form;
}
