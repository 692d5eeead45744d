// The console API client: same-origin JSON calls, the CSRF header on every POST, and the
// one rule for a lost session (any 401 leaves for the login page before anything renders).

// Resolved from this module (/console/static/lib/api.js), so the console works whatever
// view URL the document has.
const BASE = new URL("../../", import.meta.url);

/** The URL of `path` under /console/ (e.g. `api/overview`, `login`). */
export function consoleUrl(path) {
  return new URL(path, BASE).href;
}

/** A refusal from the API, with its RFC 9457 problem document when it sent one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** The session is gone; the page is already on its way to the login page. */
export class SessionLost extends Error {}

let csrf = null;
let leaving = false;

export function setCsrf(token) {
  csrf = token;
}

/** Leaves for the login page, hiding everything first so no data stays on screen. */
export function leaveForLogin(reason = "expired") {
  if (!leaving) {
    leaving = true;
    const main = document.getElementById("main");
    if (main) main.replaceChildren();
    location.replace(consoleUrl(reason ? `login?${reason}=1` : "login"));
  }
}

/**
 * Calls the console API (`path` under /console/api/, or under /console/ with `outsideApi`,
 * for logout). Resolves with the parsed JSON body (null for 204); rejects with
 * ApiError for any other status, SessionLost for 401, and the fetch error when offline.
 * `extraHeaders` carries what must not be in a URL (a codice fiscale searched for).
 */
export async function api(path, { method = "GET", body, signal, outsideApi = false, extraHeaders = {} } = {}) {
  const headers = { ...extraHeaders, Accept: "application/json, application/problem+json" };
  if (method !== "GET" && method !== "HEAD") {
    // The session cookie alone must not be enough to change anything: see docs/SECURITY.md.
    if (csrf) headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  const response = await fetch(consoleUrl(outsideApi ? path : `api/${path}`), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    // An API call is never redirected; one that is was sent to the login page by a server
    // that lost the session, which is what a 401 means too.
    redirect: "manual",
    signal,
  });
  if (response.status === 401 || response.type === "opaqueredirect") {
    leaveForLogin();
    throw new SessionLost("the console session is no longer valid");
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const parsed = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  if (parsed === null) throw new ApiError(response.status, { title: "unexpected-response" });
  return parsed;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && String(value) !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
