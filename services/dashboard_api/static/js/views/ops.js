// Ops status of every service (GET /api/ops/status): live processes, last success and
// failure, lag, job counts, queue depth, last error; refreshed every few seconds.

import { api } from "../api.js";
import { fill, h, notice, scroller } from "../dom.js";
import { fmtBoth, fmtDuration, fmtInt, toDate } from "../format.js";
import { errorNotice, heading, loading, timeCell } from "./common.js";

export const REFRESH_MS = 5000;

function state(service) {
  if (!service.alive) return ["down", "down: no live heartbeat"];
  const n = service.processes.length;
  const up = `up (${n} process${n === 1 ? "" : "es"})`;
  // ISO times parse to milliseconds: a failure in the same millisecond as a success counts
  const ok = toDate(service.last_ok), failed = toDate(service.last_failed);
  if (failed && (!ok || failed >= ok)) return ["failing", `${up}, last job failed`];
  return ["up", up];
}

function statusTable(services) {
  return scroller(h("table", { class: "data ops", "data-label": "Services" },
    h("caption", {}, `${services.length} services`),
    h("thead", {}, h("tr", {}, ["Service", "State", "Last success", "Lag", "Last failure", "Jobs ok", "Jobs failed", "Queue", "Last error"].map((t) =>
      h("th", { scope: "col", class: ["Lag", "Jobs ok", "Jobs failed", "Queue"].includes(t) ? "num" : "text" }, t)))),
    h("tbody", {}, services.map((s) => {
      const [cls, text] = state(s);
      return h("tr", { class: `state-${cls}`, "data-service": s.service },
        h("th", { scope: "row" }, s.service),
        h("td", { class: "state" }, h("span", { class: `badge ${cls}` }, text)),
        timeCell(s.last_ok),
        h("td", { class: "num" }, fmtDuration(s.lag_s)),
        timeCell(s.last_failed),
        h("td", { class: "num", "data-field": "jobs_ok", "data-value": s.jobs_ok }, fmtInt(s.jobs_ok)),
        h("td", { class: "num", "data-field": "jobs_failed", "data-value": s.jobs_failed }, fmtInt(s.jobs_failed)),
        h("td", { class: "num", "data-field": "queue_depth", "data-value": s.queue_depth }, fmtInt(s.queue_depth)),
        h("td", { class: "error-text" }, s.last_error || "–"));
    }))));
}

export function render(ctx) {
  const { root } = ctx;
  let paused = false;
  let timer = null;
  const content = h("div", { class: "content" });
  const updated = h("span", { class: "updated", role: "status" });
  const toggle = h("button", { type: "button", "aria-pressed": "false" }, "Pause auto-refresh");
  const problems = h("div", { class: "problems" });
  fill(root, heading("Ops status"),
    h("div", { class: "toolbar refresh" }, h("span", {}, `Refreshes every ${REFRESH_MS / 1000} s.`), toggle, updated),
    problems, content);
  fill(content, loading("the status of every service"));

  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const body = await api("/api/ops/status");
      fill(problems);
      const down = body.services.filter((s) => !s.alive).map((s) => s.service);
      fill(content,
        down.length ? notice("info", `${down.length} of ${body.services.length} services have no live process: ${down.join(", ")}.`,
          "Start them (forklift worker <service>, or forklift serve <service> for the APIs) and check their logs.") : null,
        body.services.length ? statusTable(body.services) : notice("empty", "No services are registered."));
      updated.textContent = `Updated ${fmtBoth(new Date())}.`;
    } catch (error) {
      // keep the last table; say that it is stale and why
      fill(problems, errorNotice(error, refresh, "Could not refresh the status: the table below may be out of date."));
    } finally {
      busy = false;
    }
  };
  const schedule = () => {
    clearInterval(timer);
    timer = paused ? null : setInterval(refresh, REFRESH_MS);
  };
  toggle.addEventListener("click", () => {
    paused = !paused;
    toggle.setAttribute("aria-pressed", String(paused));
    toggle.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
    if (!paused) refresh();
    schedule();
  });
  ctx.onLeave(() => clearInterval(timer));
  refresh();
  schedule();
}
