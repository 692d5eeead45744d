// Messages: the search form and one page of results. The filters live in the URL
// (#/messages?type=...&after=...), so a search can be bookmarked and Back returns to it;
// the codice fiscale is the exception, kept in the history entry's state instead, so that
// a person's identifier never lands in the address bar, bookmarks or shared links.

import { api, query, ApiError, SessionLost } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { t, plural, has } from "../lib/i18n.js";
import { dataTable, problemBox, statusBadge, time, pager } from "../lib/ui.js";
import { field, markInvalid, clearInvalid, select } from "../lib/form.js";
import { MESSAGE_TYPES, MESSAGE_STATUSES, partyDatalist } from "../lib/catalog.js";

const FILTERS = ["type", "status", "sender", "recipient", "since", "until", "id"];

export default {
  async render(root, context) {
    context.setTitle(t("messages.title"));
    const { params, session } = context;
    const codiceFiscale = session?.canSearchCodiceFiscale ? context.historyState?.codiceFiscale || "" : "";
    const value = (name) => params.get(name) || "";

    const text = (name, extra = {}) => h("input", { type: "text", value: value(name), autocomplete: "off", ...extra });
    const controls = {
      type: select(MESSAGE_TYPES, value("type"), { anyLabel: t("messages.anyType") }),
      status: select(MESSAGE_STATUSES, value("status"), {
        anyLabel: t("messages.anyStatus"),
        label: (status) => (has(`status.${status}`) ? t(`status.${status}`) : status),
      }),
      sender: text("sender", { list: "party-ids", spellcheck: "false" }),
      recipient: text("recipient", { list: "party-ids", spellcheck: "false" }),
      since: text("since", { spellcheck: "false", inputmode: "text" }),
      until: text("until", { spellcheck: "false" }),
      id: text("id", { spellcheck: "false" }),
    };
    const form = h(
      "form",
      { class: "search-form", role: "search", "aria-labelledby": "messages-search-heading", novalidate: true },
      h("h2", { id: "messages-search-heading" }, t("messages.search")),
      h(
        "div",
        { class: "form-grid" },
        field({ name: "type", label: t("common.type"), control: controls.type }),
        field({ name: "status", label: t("common.status"), control: controls.status }),
        field({ name: "sender", label: t("common.sender"), control: controls.sender, hint: t("messages.partyHint") }),
        field({
          name: "recipient",
          label: t("common.recipient"),
          control: controls.recipient,
          hint: t("messages.partyHint"),
        }),
        field({ name: "since", label: t("messages.since"), control: controls.since, hint: t("messages.instantHint") }),
        field({ name: "until", label: t("messages.until"), control: controls.until, hint: t("messages.instantHint") }),
        field({ name: "id", label: t("messages.id"), control: controls.id, hint: t("messages.idHint") }),
        session?.canSearchCodiceFiscale
          ? field({
              name: "codiceFiscale",
              label: t("messages.codiceFiscale"),
              control: h("input", {
                type: "text",
                value: codiceFiscale,
                autocomplete: "off",
                spellcheck: "false",
                maxlength: "16",
                class: "uppercase",
              }),
              hint: t("messages.codiceFiscaleHint"),
            })
          : null,
      ),
      partyDatalist("party-ids", session),
      h(
        "div",
        { class: "form-actions" },
        h("button", { type: "submit", class: "button button-primary", id: "search-submit" }, t("messages.submit")),
        h("a", { href: "#/messages", class: "button button-secondary" }, t("messages.reset")),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const filters = {};
      for (const name of FILTERS) filters[name] = String(data.get(name) || "").trim();
      const cf = String(data.get("codiceFiscale") || "")
        .trim()
        .toUpperCase();
      context.navigate(`#/messages${query(filters)}`, cf ? { codiceFiscale: cf } : null, { focus: "results" });
    });

    const resultsHeading = h("h2", { id: "messages-results-heading", tabindex: "-1" }, t("messages.results"));
    const results = h(
      "div",
      { class: "results", "aria-busy": "true" },
      h("p", { class: "muted" }, t("common.loading")),
    );
    root.append(
      h("h1", { tabindex: "-1" }, t("messages.title")),
      form,
      h("section", { "aria-labelledby": "messages-results-heading" }, resultsHeading, results),
    );

    // Every parameter of the URL goes to the API as it is: a malformed one is the API's to
    // refuse, and its problem document is shown below the form. The codice fiscale goes in
    // a header, never in a URL (which proxies log).
    const apiParams = Object.fromEntries(params);
    const extraHeaders = codiceFiscale ? { "Raccordo-Codice-Fiscale": codiceFiscale } : {};
    let page;
    try {
      page = await api(`messages${query(apiParams)}`, { signal: context.signal, extraHeaders });
    } catch (error) {
      if (error instanceof SessionLost || !context.alive()) throw error;
      results.removeAttribute("aria-busy");
      if (error instanceof ApiError && error.status === 400) {
        const marked = markInvalid(form, error.problem?.errors);
        replace(results, problemBox(error, { heading: t("messages.badSearch") }));
        if (marked) form.querySelector("[aria-invalid]")?.focus();
        else if (context.focusHint) resultsHeading.focus();
        return;
      }
      replace(results, problemBox(error));
      return;
    }
    if (!context.alive()) return;
    clearInvalid(form);
    results.removeAttribute("aria-busy");
    const rows = page.messages || [];
    const summary = rows.length ? plural("messages.found", rows.length) : t("messages.none");
    const after = params.get("after");
    const pageHref = (cursor) => {
      const next = Object.fromEntries(params);
      delete next.after;
      if (cursor) next.after = cursor;
      return `#/messages${query(next)}`;
    };
    replace(
      results,
      h("p", { class: "result-count" }, summary),
      rows.length
        ? dataTable({
            caption: t("messages.tableCaption"),
            rows,
            columns: [
              {
                label: t("messages.id"),
                header: true,
                cell: (row) => h("a", { href: `#/messages/${encodeURIComponent(row.id)}`, class: "mono" }, row.id),
              },
              { label: t("common.type"), cell: (row) => row.type },
              { label: t("common.sender"), cell: (row) => row.sender },
              { label: t("messages.recipients"), cell: (row) => (row.recipients || []).join(", ") },
              { label: t("messages.receivedAt"), cell: (row) => time(row.receivedAt) },
              { label: t("common.status"), cell: (row) => statusBadge(row.status) },
            ],
          })
        : null,
      pager({
        label: t("messages.pages"),
        after,
        next: page.next,
        // With a codice fiscale the filter lives in history state: buttons carry it along,
        // where a link opened in a new tab would silently drop it.
        href: codiceFiscale ? null : pageHref,
        go: (cursor) => context.navigate(pageHref(cursor), { codiceFiscale }, { focus: "results" }),
      }),
    );
    context.announce(summary);
    if (context.focusHint === "results") resultsHeading.focus();
  },
};
