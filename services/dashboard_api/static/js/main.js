// The single page: a hash router (#/<page>/<args>?<state>), the header (navigation, user,
// logout), the loading indicator, and what happens when the session ends.

import { api, onBusy, onUnauthorized } from "./api.js";
import { fill, h, notice } from "./dom.js";
import { TIME_ZONE } from "./format.js";
import { currentUser, forgetUser, onUserChange } from "./session.js";
import * as campaign from "./views/campaign.js";
import * as campaigns from "./views/campaigns.js";
import * as edgeplorer from "./views/edgeplorer.js";
import * as energy from "./views/energy.js";
import * as events from "./views/events.js";
import * as login from "./views/login.js";
import * as ops from "./views/ops.js";
import * as web from "./views/web.js";

const ROUTES = {
  login: { view: login, access: "public", title: "Log in" },
  campaigns: { view: campaigns, access: "user", title: "Campaigns", nav: true },
  campaign: { view: campaign, access: "user", title: "Campaign" },
  edgeplorer: { view: edgeplorer, access: "superuser", title: "Edgeplorer", nav: true },
  events: { view: events, access: "superuser", title: "Event counts", nav: true },
  web: { view: web, access: "superuser", title: "Web hits", nav: true },
  energy: { view: energy, access: "superuser", title: "Energy", nav: true },
  ops: { view: ops, access: "superuser", title: "Ops", nav: true },
};
const HOME = "campaigns";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const busy = document.getElementById("busy");
let leaving = [];
let lastRoute = null;

function parse(hash = window.location.hash) {
  const m = /^#\/([a-z]+)((?:\/[^?/]*)*)(?:\?(.*))?$/.exec(hash);
  if (!m) return { name: HOME, args: [], params: new URLSearchParams() };
  const args = m[2].split("/").filter(Boolean).map(decodeURIComponent);
  return { name: m[1], args, params: new URLSearchParams(m[3] || "") };
}

function hrefOf(name, args = [], params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const path = [name, ...args.map((a) => encodeURIComponent(a))].join("/");
  // ":" and "," need no escaping in a fragment: keep the shared address readable
  const qs = query.toString().replace(/%3A/gi, ":").replace(/%2C/gi, ",");
  return `#/${path}${qs ? `?${qs}` : ""}`;
}

function loginHref(reason) {
  const { name } = parse();
  const next = name === "login" ? null : window.location.hash;
  return hrefOf("login", [], { reason, next });
}

function safeNext(next) {
  return next && next.startsWith("#/") && !next.startsWith("#/login") ? next : hrefOf(HOME);
}

function renderHeader(user, routeName) {
  fill(nav, user ? Object.entries(ROUTES)
    .filter(([, r]) => r.nav && (r.access !== "superuser" || user.is_superuser))
    .map(([name, r]) => h("a", { href: hrefOf(name), "aria-current": name === routeName || (routeName === "campaign" && name === HOME) ? "page" : null }, r.title)) : []);
  nav.hidden = !user;
  fill(who, user ? [
    h("span", { class: "user" }, user.username, user.is_superuser ? h("span", { class: "badge" }, "superuser") : null),
    h("button", { type: "button", id: "logout", onclick: logout }, "Log out"),
  ] : []);
  who.hidden = !user;
}

async function logout() {
  try {
    await api("/api/logout", { method: "POST" });
  } catch (error) {
    if (error.status !== 401) {
      fill(main, notice("error", `Logging out failed: ${error.message}`, "Retry; your session ends by itself when it expires."));
      return;
    }
  }
  forgetUser();
  window.location.hash = hrefOf("login", [], { reason: "out" });
}

function render() {
  for (const undo of leaving) undo();
  leaving = [];
  const route = parse();
  const def = ROUTES[route.name];
  const user = currentUser();
  if (def && def.access !== "public" && !user) {
    history.replaceState(null, "", loginHref(null));
    render();
    return;
  }
  renderHeader(def && def.access === "public" ? null : user, route.name);
  const root = h("section", { class: `view view-${route.name}` });
  fill(main, root);
  document.title = `${def ? def.title : "Not found"} · forklift dashboard`;
  const focusHeading = route.name !== lastRoute;
  lastRoute = route.name;
  if (!def) {
    fill(root, h("h1", { tabindex: "-1" }, "Page not found"), notice("error", `There is no page “${route.name}”.`, h("a", { href: hrefOf(HOME) }, "Go to the campaigns.")));
  } else if (def.access === "superuser" && !user.is_superuser) {
    fill(root, h("h1", { tabindex: "-1" }, def.title), notice("error", "This page is for superusers.", h("a", { href: hrefOf(HOME) }, "Go to your campaigns.")));
  } else {
    const ctx = {
      root, user, args: route.args, params: route.params,
      href: hrefOf,
      go: (params) => {
        const target = hrefOf(route.name, route.args, params);
        // the same view again (Apply on the same range): fetch it again
        if (target === window.location.hash) render();
        else window.location.hash = target;
      },
      replace: (params) => history.replaceState(null, "", hrefOf(route.name, route.args, params)),
      rerender: render,
      afterLogin: (next) => { window.location.hash = safeNext(next); },
      onLeave: (undo) => leaving.push(undo),
      onResize: (redraw) => {
        let pending = null;
        const handler = () => { clearTimeout(pending); pending = setTimeout(redraw, 150); };
        window.addEventListener("resize", handler);
        leaving.push(() => window.removeEventListener("resize", handler));
      },
    };
    Promise.resolve(def.view.render(ctx)).catch((e) => {
      fill(root, notice("error", "This page failed to draw.", String(e), "Reload the page; if it happens again, report it with this message."));
    });
  }
  if (focusHeading) {
    const title = root.querySelector("h1");
    if (title && route.name !== "login") title.focus({ preventScroll: true });
  }
}

onBusy((n) => {
  document.documentElement.dataset.inflight = String(n);
  busy.textContent = n > 0 ? "Loading…" : "";
  busy.classList.toggle("active", n > 0);
});
onUnauthorized(() => {
  forgetUser();
  if (parse().name === "login") return;
  history.replaceState(null, "", loginHref("expired"));
  render();
});
onUserChange((user) => {
  if (!user && parse().name !== "login") {
    history.replaceState(null, "", loginHref("out"));
    render();
  }
});
document.getElementById("tz").textContent = TIME_ZONE;
document.getElementById("skip").addEventListener("click", () => main.focus());
document.documentElement.dataset.inflight = "0";
window.addEventListener("hashchange", render);
render();
