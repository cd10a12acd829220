// The login page: username and password to POST /api/login; the API sets the session cookie.

import { ApiError, advice, api } from "../api.js";
import { fill, h, notice } from "../dom.js";
import { rememberUser } from "../session.js";

const REASONS = {
  expired: ["info", "Your session has expired or was ended.", "Log in again to continue where you were."],
  out: ["info", "You are logged out.", null],
};

export function render(ctx) {
  const reason = REASONS[ctx.params.get("reason")];
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true, maxlength: "150" });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const message = h("div", { class: "login-message", "aria-live": "polite" }, reason ? notice(...reason) : null);
  const form = h(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title", tabindex: "-1" }, "Log in to the forklift dashboard"),
    message,
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"), username),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), password),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = "Logging in…";
    fill(message, notice("loading", "Checking your login…"));
    try {
      const body = { username: username.value, password: password.value };
      const user = await api("/api/login", { method: "POST", body });
      rememberUser(user);
      ctx.afterLogin(ctx.params.get("next"));
    } catch (e) {
      const error = e instanceof ApiError ? e : new ApiError(0, "internal", String(e));
      const what = error.status === 401 ? "Check your username and password, then try again." : advice(error);
      fill(message, notice("error", error.message, what));
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Log in";
    }
  });
  fill(ctx.root, form);
  username.focus();
}
