// Components shared by the views: problems, statuses, times, tables, pagination, the
// confirmation dialog. Each returns a node; none keeps state of its own.

import { h, uid } from "./dom.js";
import { t, has, currentLanguage, formatNumber } from "./i18n.js";
import { ApiError } from "./api.js";

// The gateway and its users are in Italy: times are shown in Rome's time whatever the
// operator's computer says, so two operators reading the same page see the same times.
const TIME_ZONE = "Europe/Rome";

export function formatDateTime(iso, { seconds = true } = {}) {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return String(iso);
  return new Intl.DateTimeFormat(currentLanguage(), {
    timeZone: TIME_ZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: seconds ? "2-digit" : undefined,
  }).format(moment);
}

export function formatClock(iso, { seconds = false } = {}) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return String(iso);
  return new Intl.DateTimeFormat(currentLanguage(), {
    timeZone: TIME_ZONE,
    hour: "2-digit",
    minute: "2-digit",
    second: seconds ? "2-digit" : undefined,
  }).format(moment);
}

/** How long ago `iso` was, relative to `now` (both RFC 3339), e.g. "12 minuti fa". */
export function formatAge(iso, now) {
  const seconds = Math.round((new Date(iso) - new Date(now)) / 1000);
  const format = new Intl.RelativeTimeFormat(currentLanguage(), { numeric: "auto" });
  const magnitude = Math.abs(seconds);
  if (magnitude < 60) return format.format(seconds, "second");
  if (magnitude < 3600) return format.format(Math.round(seconds / 60), "minute");
  if (magnitude < 86400) return format.format(Math.round(seconds / 3600), "hour");
  return format.format(Math.round(seconds / 86400), "day");
}

/** A dash for an empty value, read out as a word, so empty cells are announced, not skipped. */
function none() {
  return h(
    "span",
    { class: "muted" },
    h("span", { "aria-hidden": "true" }, t("common.none")),
    h("span", { class: "visually-hidden" }, t("common.noneSpoken")),
  );
}

/** A `<time>` showing `iso` in Rome's time, or a dash when there is none. */
export function time(iso, options) {
  if (!iso) return none();
  return h("time", { datetime: iso, title: iso }, formatDateTime(iso, options));
}

/** The value as text, or a dash when it is empty. */
export function orNone(value) {
  if (value === null || value === undefined || value === "") return none();
  return String(value);
}

const STATUS_KIND = {
  delivered: "success",
  succeeded: "success",
  ok: "success",
  accepted: "warning",
  pending: "warning",
  running: "warning",
  partial: "warning",
  received: "neutral",
  idle: "neutral",
  dead: "danger",
  failed: "danger",
  failing: "danger",
};

/** A status as a labelled badge: the word carries the meaning, the colour only repeats it. */
export function statusBadge(status) {
  const key = `status.${status}`;
  return h(
    "span",
    { class: ["badge", `badge-${STATUS_KIND[status] || "neutral"}`], dataset: { status } },
    has(key) ? t(key) : String(status),
  );
}

/** A `<dl>` from [label, value] pairs; values may be nodes. */
export function definitions(pairs, className = "facts") {
  return h(
    "dl",
    { class: className },
    pairs.filter(Boolean).map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))),
  );
}

// Scroll containers are keyboard stops only while they scroll: a table that fits needs no
// extra Tab, a wide one must be reachable to scroll it with the arrow keys (WCAG 2.1.1).
function markOverflow(target) {
  const scrolls = target.scrollWidth > target.clientWidth + 1 || target.scrollHeight > target.clientHeight + 1;
  if (scrolls) {
    target.setAttribute("tabindex", "0");
    target.setAttribute("role", "region");
    target.setAttribute("aria-label", target.dataset.scrollLabel);
  } else {
    target.removeAttribute("tabindex");
    target.removeAttribute("role");
    target.removeAttribute("aria-label");
  }
}

const overflowWatcher =
  typeof ResizeObserver === "undefined"
    ? null
    : new ResizeObserver((entries) => {
        for (const { target } of entries) markOverflow(target);
      });

// A web font arriving after the first layout (font-display: swap) can make a code block's
// text overflow without resizing the block, which the observer would not report: every
// scroll container on the page is looked at again once fonts have loaded.
if (overflowWatcher && document.fonts) {
  document.fonts.addEventListener("loadingdone", () => {
    for (const element of document.querySelectorAll("[data-scroll-label]")) markOverflow(element);
  });
}

/** Marks `element` as a scroll container named `label`, focusable while it overflows. */
export function scrollable(element, label) {
  element.dataset.scrollLabel = label;
  if (overflowWatcher) overflowWatcher.observe(element);
  else {
    element.setAttribute("tabindex", "0");
    element.setAttribute("role", "region");
    element.setAttribute("aria-label", label);
  }
  return element;
}

/**
 * A table with a caption. `columns`: [{ label, cell(row) -> node|string, numeric?, header? }];
 * the column marked `header` makes row headers, so screen readers name each row.
 */
export function dataTable({ caption, columns, rows, empty, className }) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("common.empty"));
  return scrollable(
    h(
      "div",
      { class: "table-wrapper" },
      h(
        "table",
        { class: ["table", className] },
        h("caption", {}, caption),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            columns.map((column) => h("th", { scope: "col", class: column.numeric ? "numeric" : null }, column.label)),
          ),
        ),
        h(
          "tbody",
          {},
          rows.map((row) =>
            h(
              "tr",
              {},
              columns.map((column) =>
                h(
                  column.header ? "th" : "td",
                  { scope: column.header ? "row" : null, class: column.numeric ? "numeric" : null },
                  column.cell(row),
                ),
              ),
            ),
          ),
        ),
      ),
    ),
    caption,
  );
}

/** What went wrong, in words: the problem document's detail and each located error. */
export function problemBox(error, { heading } = {}) {
  const box = h("div", { class: "alert alert-danger", role: "alert" });
  const problem = error instanceof ApiError ? error.problem : null;
  let title = heading || t("error.title");
  let detail;
  if (error instanceof ApiError) {
    if (error.status === 403) title = t("error.forbidden");
    if (error.status === 404) title = t("error.notFound");
    if (error.status === 409) title = heading || t("error.conflict");
    if (error.status === 400) title = heading || t("error.badRequest");
    detail = problem?.detail || problem?.title || t("error.status", { status: error.status });
  } else if (error instanceof TypeError) {
    // fetch rejects with a TypeError when the gateway cannot be reached at all.
    detail = t("error.network");
  } else {
    detail = error?.message || String(error);
  }
  box.append(h("p", { class: "alert-title" }, title), h("p", {}, detail));
  const errors = Array.isArray(problem?.errors) ? problem.errors : [];
  if (errors.length) {
    box.append(
      h(
        "ul",
        { class: "problem-list" },
        errors.map((item) =>
          h(
            "li",
            {},
            item.path ? h("code", {}, item.path) : null,
            item.path ? " " : null,
            item.message || "",
            item.code ? h("span", { class: "muted" }, ` (${item.code}${item.name ? ` ${item.name}` : ""})`) : null,
          ),
        ),
      ),
    );
  }
  if (problem?.code) box.append(h("p", { class: "muted small" }, t("error.code", { code: problem.code })));
  return box;
}

/** A success or information message. */
export function notice(text, kind = "success") {
  return h("div", { class: ["alert", `alert-${kind}`], role: "status" }, h("p", {}, text));
}

/**
 * The first-page and next-page controls of a keyset-paginated list. `go(after)` is called
 * with the cursor (null for the first page) when the controls are buttons; with `href`, they
 * are links, which can be opened in a new tab and bookmarked.
 */
export function pager({ label, after, next, href, go }) {
  const items = [];
  const control = (text, cursor, rel) =>
    href
      ? h("a", { class: "button button-secondary", href: href(cursor), rel }, text)
      : h("button", { type: "button", class: "button button-secondary", onClick: () => go(cursor) }, text);
  if (after) items.push(h("li", {}, control(t("pager.first"), null, "first")));
  if (next) items.push(h("li", {}, control(t("pager.next"), next, "next")));
  if (!items.length) return null;
  return h("nav", { class: "pager", "aria-label": label || t("pager.label") }, h("ul", {}, items));
}

/** A block of text (JSON, XML, CSV) that can be scrolled with the keyboard. */
export function codeBlock(text, label) {
  return scrollable(h("pre", { class: "code" }, h("code", {}, text)), label);
}

/** Pretty JSON, two-space indented. */
export function prettyJson(value) {
  return JSON.stringify(value, null, 2);
}

/** A timeline event's detail as short "name: value" text. */
export function detailText(detail) {
  if (detail === null || detail === undefined) return "";
  if (typeof detail !== "object") return String(detail);
  return Object.entries(detail)
    .map(([name, value]) => {
      if (Array.isArray(value))
        return `${name}: ${value.map((item) => (typeof item === "object" ? JSON.stringify(item) : item)).join(", ")}`;
      if (value && typeof value === "object") return `${name}: ${JSON.stringify(value)}`;
      return `${name}: ${value}`;
    })
    .join("; ");
}

/**
 * Asks for confirmation in a modal dialog (focus stays inside it; Escape cancels) and
 * resolves with the answer. Focus returns to the control that opened it.
 */
export function confirmDialog({ title, body, confirm, cancel = t("common.cancel"), danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid("dialog-title");
    const bodyId = uid("dialog-body");
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId, "aria-describedby": bodyId });
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    };
    const confirmButton = h(
      "button",
      { type: "button", class: ["button", danger ? "button-danger" : "button-primary"], onClick: () => finish(true) },
      confirm,
    );
    const cancelButton = h(
      "button",
      { type: "button", class: "button button-secondary", onClick: () => finish(false) },
      cancel,
    );
    dialog.append(
      h("h2", { id: titleId }, title),
      h("p", { id: bodyId }, body),
      h("div", { class: "dialog-actions" }, confirmButton, cancelButton),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    // The safe answer has the focus, so an Enter pressed by habit changes nothing.
    cancelButton.focus();
  });
}

/** A count for a table cell. */
export function count(value) {
  return value === null || value === undefined ? orNone(value) : formatNumber(value);
}
