// The operator console: the header (navigation, language, logout), the hash router and the
// session. Each view lives in views/ and renders into <main>; every view has a URL
// (#/messages?type=..., #/messages/<id>, ...), so it can be bookmarked and Back works.
//
// Hash routes were chosen over the History API so that the server has one page to serve
// (/console/) whatever the view, and a reload never asks it for a path it doesn't know.

import { api, setCsrf, SessionLost, leaveForLogin } from "./lib/api.js";
import { h } from "./lib/dom.js";
import { preferredLanguage, setLanguage, translate, t } from "./lib/i18n.js";
import { problemBox } from "./lib/ui.js";
import overview from "./views/overview.js";
import messages from "./views/messages.js";
import message from "./views/message.js";
import deadLetters from "./views/dead-letters.js";
import quarantine from "./views/quarantine.js";
import inps from "./views/inps.js";
import parties from "./views/parties.js";
import validate from "./views/validate.js";

const ROUTES = [
  { pattern: /^\/(?:overview)?$/, view: overview, nav: "overview" },
  { pattern: /^\/messages$/, view: messages, nav: "messages" },
  { pattern: /^\/messages\/([^/]+)$/, view: message, nav: "messages" },
  { pattern: /^\/dead-letters$/, view: deadLetters, nav: "dead-letters" },
  { pattern: /^\/quarantine$/, view: quarantine, nav: "quarantine" },
  { pattern: /^\/inps$/, view: inps, nav: "inps" },
  { pattern: /^\/parties$/, view: parties, nav: "parties" },
  { pattern: /^\/validate$/, view: validate, nav: "validate" },
];

const NAVIGATION = [
  ["overview", "#/", "nav.overview"],
  ["messages", "#/messages", "nav.messages"],
  ["dead-letters", "#/dead-letters", "nav.deadLetters"],
  ["quarantine", "#/quarantine", "nav.quarantine"],
  ["inps", "#/inps", "nav.inps"],
  ["parties", "#/parties", "nav.parties"],
  ["validate", "#/validate", "nav.validate"],
];

const state = {
  session: null,
  // The view on screen: its key (to skip duplicate renders), abort controller and cleanups.
  current: null,
  firstRender: true,
  // Set by `navigate` so the view knows what to focus after a form submission.
  focusHint: null,
};

/** Says `text` to screen readers through the polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  // Emptied first so the same words said twice are announced twice.
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 60);
}

/**
 * Goes to `hash`, with `historyState` kept in the history entry rather than in the URL
 * (a codice fiscale searched for must not end up in bookmarks or the address bar).
 */
function navigate(hash, historyState = null, { focus = null } = {}) {
  state.focusHint = focus;
  // The same search submitted again runs again, without a second history entry for it.
  const same = hash === location.hash && JSON.stringify(historyState) === JSON.stringify(history.state);
  if (same) history.replaceState(historyState, "", hash);
  else history.pushState(historyState, "", hash);
  route({ force: true });
}

function parseHash() {
  const raw = location.hash.startsWith("#") ? location.hash.slice(1) : "";
  const [path, search = ""] = raw.split(/\?(.*)/s);
  return { path: path || "/", params: new URLSearchParams(search) };
}

function renderNavigation(active) {
  for (const link of document.querySelectorAll("#primary-nav a")) {
    if (link.dataset.nav === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route({ force = false } = {}) {
  const { path, params } = parseHash();
  if (!path.startsWith("/")) {
    // An in-page fragment (e.g. #main from the skip link without scripts): not a view.
    return;
  }
  const key = `${path}?${params}|${JSON.stringify(history.state)}`;
  if (!force && state.current?.key === key) return;
  if (state.current) {
    state.current.controller.abort();
    for (const cleanup of state.current.cleanups) cleanup();
  }
  const controller = new AbortController();
  const cleanups = [];
  state.current = { key, controller, cleanups };

  let match = null;
  const entry = ROUTES.find((candidate) => (match = candidate.pattern.exec(path)));
  const main = document.getElementById("main");
  const root = h("div", { class: "view" });
  main.replaceChildren(root);
  main.removeAttribute("aria-busy");
  renderNavigation(entry?.nav);

  const focusHint = state.focusHint;
  state.focusHint = null;
  const context = {
    params,
    match,
    historyState: history.state,
    session: state.session,
    signal: controller.signal,
    navigate,
    announce,
    onCleanup: (cleanup) => cleanups.push(cleanup),
    setTitle: (title) => {
      document.title = `${title} · ${t("app.title")}`;
    },
    focusHint,
    // Whether this render is still the one on screen (a newer route aborts it).
    alive: () => !controller.signal.aborted,
  };

  if (!entry) {
    context.setTitle(t("notFound.title"));
    root.append(
      h("h1", { tabindex: "-1" }, t("notFound.title")),
      h("p", {}, t("notFound.body")),
      h("p", {}, h("a", { href: "#/" }, t("nav.overview"))),
    );
  } else {
    // Views add their heading before their first await, so it can take the focus below.
    let rendering;
    try {
      rendering = Promise.resolve(entry.view.render(root, context));
    } catch (error) {
      rendering = Promise.reject(error);
    }
    rendering.catch((error) => {
      if (error instanceof SessionLost || error?.name === "AbortError" || !context.alive()) return;
      root.append(problemBox(error));
    });
  }
  // A new view is announced by moving the focus to its heading, except on the first page
  // load, where the browser's own focus handling (and the skip link) should stay first.
  if (!state.firstRender && !focusHint) {
    const heading = root.querySelector("h1");
    if (heading) heading.focus({ preventScroll: false });
  }
  state.firstRender = false;
}

function buildLanguageSwitch() {
  const group = document.getElementById("language-switch");
  for (const button of group.querySelectorAll("button[data-language]")) {
    button.addEventListener("click", async () => {
      const language = button.dataset.language;
      await setLanguage(language, true);
      translate(document);
      markLanguage();
      route({ force: true });
      // The switch itself keeps the focus: the operator may want to switch back.
      button.focus();
      announce(t("language.changed"));
    });
  }
}

function markLanguage() {
  for (const button of document.querySelectorAll("#language-switch button[data-language]")) {
    button.setAttribute("aria-pressed", String(button.dataset.language === document.documentElement.lang));
  }
  const operator = document.getElementById("operator-name");
  if (operator && state.session) operator.textContent = t("shell.operator", { name: state.session.operator });
}

async function logout() {
  try {
    await api("logout", { method: "POST", outsideApi: true });
  } catch (error) {
    if (error instanceof SessionLost) return;
    // Whatever the server says, the operator asked to leave.
  }
  leaveForLogin("logout");
}

function wireSkipLink() {
  // The skip link can't be a plain "#main" link: the hash is the router's.
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    const main = document.getElementById("main");
    main.focus();
    main.scrollIntoView();
  });
}

/** Leaves for the login page when the session expires, so no data outlives it on screen. */
function watchExpiry(expiresAt) {
  const remaining = new Date(expiresAt) - Date.now();
  if (!Number.isFinite(remaining)) return;
  // setTimeout holds at most 2^31-1 ms (about 24 days); a longer session is checked again then.
  const delay = Math.min(Math.max(remaining, 0), 2 ** 31 - 1);
  window.setTimeout(() => {
    if (new Date(expiresAt) - Date.now() > 1000) watchExpiry(expiresAt);
    else leaveForLogin();
  }, delay);
}

async function start() {
  await setLanguage(preferredLanguage());
  translate(document);
  wireSkipLink();
  buildLanguageSwitch();
  document.getElementById("logout").addEventListener("click", logout);
  let session;
  try {
    session = await api("session");
  } catch (error) {
    if (error instanceof SessionLost) return;
    document.getElementById("main").replaceChildren(problemBox(error));
    return;
  }
  state.session = session;
  setCsrf(session.csrf);
  watchExpiry(session.expiresAt);
  markLanguage();
  document.body.classList.add("ready");
  window.addEventListener("hashchange", () => route());
  window.addEventListener("popstate", () => route());
  route();
}

start().catch((error) => {
  if (error instanceof SessionLost) return;
  console.error(error);
  const main = document.getElementById("main");
  if (main) main.replaceChildren(problemBox(error));
});
