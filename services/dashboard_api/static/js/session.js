// Who is logged in, as the login answer said. Only the name, the superuser flag and the
// client ids are kept (localStorage, shared by the tabs); the session itself is the HttpOnly
// cookie, which no script can read. The API stays the judge: a 401 ends the page's session.

const KEY = "forklift.user";

export function currentUser() {
  try {
    const user = JSON.parse(window.localStorage.getItem(KEY));
    return user && typeof user.username === "string" ? user : null;
  } catch {
    return null;
  }
}

export function rememberUser({ username, is_superuser, client_ids }) {
  window.localStorage.setItem(KEY, JSON.stringify({ username, is_superuser, client_ids }));
}

export function forgetUser() {
  window.localStorage.removeItem(KEY);
}

export function onUserChange(listener) {
  window.addEventListener("storage", (event) => {
    if (event.key === KEY || event.key === null) listener(currentUser());
  });
}
