// The one way the pages talk to the API: same-origin fetch with the HttpOnly session cookie,
// a timeout, the API's error shape turned into ApiError, and a count of requests in flight
// (the page's loading indicator). A 401 anywhere but the login means the session is gone.

const TIMEOUT_MS = 30000;
let inflight = 0;
let busyListener = () => {};
let unauthorizedListener = () => {};

export class ApiError extends Error {
  constructor(status, code, message, field = null, requestId = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.requestId = requestId;
  }
}

export function onBusy(listener) {
  busyListener = listener;
}

export function onUnauthorized(listener) {
  unauthorizedListener = listener;
}

function setBusy(delta) {
  inflight += delta;
  busyListener(inflight);
}

/** JSON of `path` (params added to the query string); throws ApiError. */
export async function api(path, { method = "GET", params = null, body = undefined } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  setBusy(1);
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch (e) {
    if (e.name === "AbortError") {
      throw new ApiError(0, "timeout", `The API did not answer within ${TIMEOUT_MS / 1000} s.`);
    }
    throw new ApiError(0, "network", "Could not reach the dashboard API.");
  } finally {
    clearTimeout(timer);
    setBusy(-1);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (resp.ok && data !== null) return data;
  const err = (data && data.error) || {};
  const error = new ApiError(
    resp.status,
    err.code || "http",
    err.message || `The API answered ${resp.status} ${resp.statusText}`.trim(),
    err.field || null,
    resp.headers.get("X-Request-Id"),
  );
  if (resp.status === 401 && path !== "/api/login") unauthorizedListener(error);
  throw error;
}

/** What the user can do about an error, in one sentence. */
export function advice(error) {
  switch (error.code) {
    case "network":
      return "Check that forklift's dashboard_api is running and your network is up, then retry.";
    case "timeout":
      return "The server may be busy: retry, or pick a shorter date range.";
    case "bad_request":
      return error.field
        ? `Correct the “${error.field}” value and try again.`
        : "Correct the input and try again.";
    case "unauthorized":
      return "Log in again.";
    case "forbidden":
      return "This page is for superusers: log in with a superuser account.";
    case "not_found":
      return "Check the address or go back to the list.";
    case "throttled":
      return "Too many failed logins: wait a few minutes, then try again.";
    case "upstream":
      return "The service behind this page is unreachable or not configured: check the ops page and the dashboard_api settings.";
    default:
      return error.requestId
        ? `Retry; if it keeps failing, look for request id ${error.requestId} in the dashboard_api logs.`
        : "Retry; if it keeps failing, check the dashboard_api logs.";
  }
}
