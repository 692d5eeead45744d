// Italian and English labels. Domain terms (codice fiscale, CPI, SUI, INPS, permesso di
// soggiorno) are Italian in both dictionaries: they are the names operators know, and
// translating them would make two names for one thing.

export const LANGUAGES = ["it", "en"];
const STORAGE_KEY = "raccordo.console.language";

let language = "it";
let dictionary = {};
const cache = new Map();

/** The language chosen before (localStorage), else the browser's first Italian or English. */
export function preferredLanguage() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (LANGUAGES.includes(stored)) return stored;
  } catch {
    // Storage can be disabled by policy; the browser's languages still apply.
  }
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const primary = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  // The console's users are Italian public offices.
  return "it";
}

/** Loads and activates `code`, remembering it when `remember` (a choice made in the header). */
export async function setLanguage(code, remember = false) {
  if (!LANGUAGES.includes(code)) code = "it";
  if (!cache.has(code)) {
    // Resolved from this module, so it works from /console/ and /console/login alike.
    const response = await fetch(new URL(`../i18n/${code}.json`, import.meta.url), {
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`the ${code} dictionary could not be loaded (${response.status})`);
    cache.set(code, await response.json());
  }
  dictionary = cache.get(code);
  language = code;
  document.documentElement.lang = code;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, code);
    } catch {
      // Not remembered; the choice still holds for this page.
    }
  }
}

export function currentLanguage() {
  return language;
}

/** The label `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const template = Object.prototype.hasOwnProperty.call(dictionary, key) ? dictionary[key] : key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
  );
}

/** Whether the dictionary has `key` (for optional labels such as event names). */
export function has(key) {
  return Object.prototype.hasOwnProperty.call(dictionary, key);
}

/** The plural form of `key` for `count` (`key.one`, `key.other`), `{count}` filled in. */
export function plural(key, count, params = {}) {
  const category = new Intl.PluralRules(language).select(count);
  const chosen = has(`${key}.${category}`) ? `${key}.${category}` : `${key}.other`;
  return t(chosen, { count: formatNumber(count), ...params });
}

export function formatNumber(value) {
  return new Intl.NumberFormat(language).format(value);
}

/** Fills `[data-i18n]` text and `[data-i18n-attr="attribute:key;..."]` attributes under `root`. */
export function translate(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(";")) {
      const [attribute, key] = pair.split(":").map((part) => part.trim());
      if (attribute && key) element.setAttribute(attribute, t(key));
    }
  }
}
