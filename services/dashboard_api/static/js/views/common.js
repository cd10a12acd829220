// Pieces several pages share: the 8 metrics, the date-range form, error and empty states,
// the copy-link box and the page heading.

import { advice } from "../api.js";
import { h, notice } from "../dom.js";
import {
  DAY_MS, HOUR_MS, TIME_ZONE, fmtBoth, fmtLocal, fmtUtc, isoUtc, lastDays, localDateValue, localMidnight, toDate,
} from "../format.js";

export const METRICS = [
  { key: "visits", label: "Visits", help: "distinct visits" },
  { key: "clicks", label: "Clicks", help: "button clicks" },
  { key: "auths", label: "Auths", help: "Facebook authorizations" },
  { key: "uniq_auths", label: "Unique auths", help: "distinct people who authorized" },
  { key: "shown", label: "Shown", help: "distinct people shown friends to share with" },
  { key: "shares", label: "Shares", help: "distinct people who shared" },
  { key: "audience", label: "Audience", help: "distinct friends shared with" },
  { key: "clickbacks", label: "Clickbacks", help: "clicks back from a shared post" },
];
export const DEFAULT_DAYS = 7;

export function heading(text, ...after) {
  return h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, text), after);
}

/** The [start, end) of the URL's params, or the last 7 days; `filled` says if defaulted. */
export function rangeFrom(params) {
  const start = toDate(params.get("start"));
  const end = toDate(params.get("end"));
  if (start && end) return { start, end, filled: false };
  return { ...lastDays(DEFAULT_DAYS), filled: true };
}

export function rangeParams(range) {
  return { start: isoUtc(range.start), end: isoUtc(range.end) };
}

/** The range to ask the API for: the whole UTC hours (or days) covering the view's range.
 * The API takes only bounds on its grain, and a local midnight is not on a UTC day (nor,
 * in a zone like +05:30, on a UTC hour); its answer carries the range it covers. */
export function apiRange(range, grain = "hour") {
  const step = grain === "day" ? DAY_MS : HOUR_MS;
  const start = new Date(Math.floor(range.start.getTime() / step) * step);
  const end = new Date(Math.ceil(range.end.getTime() / step) * step);
  return { start: isoUtc(start), end: isoUtc(end) };
}

/** "Nov 14, 2026, 12:00 AM EST to Nov 21, ... (end excluded) · 2026-11-14 05:00 UTC to ...". */
export function rangeText(range) {
  return [
    h("span", {}, `${fmtLocal(range.start)} to ${fmtLocal(range.end)} (${TIME_ZONE}, end excluded)`),
    h("span", { class: "utc" }, `${fmtUtc(range.start)} to ${fmtUtc(range.end)}`),
  ];
}

/** Date inputs (first and last day, inclusive), presets, Apply; onApply({start, end}). */
export function rangeForm(range, onApply, { id = "range" } = {}) {
  const lastDay = new Date(range.end.getTime() - 1);
  const from = h("input", { type: "date", id: `${id}-from`, name: "from", required: true, value: localDateValue(range.start) });
  const to = h("input", { type: "date", id: `${id}-to`, name: "to", required: true, value: localDateValue(lastDay) });
  const message = h("p", { class: "field-error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "range-form", "aria-label": "Date range" },
    h("div", { class: "field" }, h("label", { for: from.id }, "From"), from),
    h("div", { class: "field" }, h("label", { for: to.id }, "To (inclusive)"), to),
    h("button", { type: "submit", class: "primary" }, "Apply"),
    h(
      "div",
      { class: "presets", role: "group", "aria-label": "Preset ranges" },
      [1, 7, 30, 90].map((days) =>
        h("button", { type: "button", class: "link", onclick: () => onApply(lastDays(days)) },
          days === 1 ? "Today" : `Last ${days} days`),
      ),
    ),
    message,
    h("p", { class: "range-text" }, rangeText(range)),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const start = localMidnight(from.value);
    const end = localMidnight(to.value, 1);
    if (!start || !end) {
      message.textContent = "Enter both dates (year-month-day).";
      message.hidden = false;
      return;
    }
    if (end <= start) {
      message.textContent = "The last day must be on or after the first day.";
      message.hidden = false;
      return;
    }
    onApply({ start, end });
  });
  return form;
}

/** An error box saying what went wrong and what to do, with a Retry button. */
export function errorNotice(error, retry, title = null) {
  const box = notice("error", title || error.message, title ? error.message : null, advice(error));
  if (retry) box.append(h("button", { type: "button", onclick: retry }, "Retry"));
  return box;
}

export function loading(what) {
  return notice("loading", `Loading ${what}…`);
}

/** The page's own address in a read-only box with a Copy button (the shareable view). */
export function shareBox() {
  const input = h("input", { type: "text", readonly: true, value: window.location.href, "aria-label": "Link to this view", class: "share-url" });
  const status = h("span", { class: "share-status", role: "status" });
  const copy = async () => {
    input.value = window.location.href;
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = "Link copied.";
    } catch {
      input.select();
      status.textContent = "Press Ctrl+C (⌘C) to copy the selected link.";
    }
  };
  return h(
    "div",
    { class: "share" },
    h("button", { type: "button", onclick: copy }, "Copy link"),
    input,
    status,
  );
}

/** A time cell (td, or th for a row heading): the viewer's time with UTC under it. */
export function timeCell(value, tag = "td", { seconds = false } = {}) {
  const date = toDate(value);
  const attrs = tag === "th" ? { scope: "row", class: "time" } : { class: "time" };
  if (!date) return h(tag, attrs, "–");
  return h(tag, attrs, h("time", { datetime: isoUtc(date), title: fmtBoth(date) }, fmtLocal(date, seconds)),
    h("span", { class: "utc" }, fmtUtc(date, seconds)));
}
