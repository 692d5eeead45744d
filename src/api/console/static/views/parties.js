// Parties and routes: each party with the health of its receiving endpoint, and the routes
// as the gateway understood its configuration (what reaches whom, on which condition, with
// which fields).

import { api, SessionLost } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { dataTable, problemBox, statusBadge, time, orNone, count } from "../lib/ui.js";

export default {
  async render(root, context) {
    context.setTitle(t("parties.title"));
    const results = h(
      "div",
      { class: "results", "aria-busy": "true" },
      h("p", { class: "muted" }, t("common.loading")),
    );
    root.append(h("h1", { tabindex: "-1" }, t("parties.title")), results);
    let data;
    try {
      // Not the cached list the forms use: health must be current.
      data = await api("parties", { signal: context.signal });
    } catch (error) {
      if (error instanceof SessionLost || !context.alive()) throw error;
      results.removeAttribute("aria-busy");
      replace(results, problemBox(error));
      return;
    }
    if (!context.alive()) return;
    results.removeAttribute("aria-busy");
    replace(
      results,
      h(
        "section",
        { "aria-labelledby": "parties-heading" },
        h("h2", { id: "parties-heading" }, t("parties.parties")),
        dataTable({
          caption: t("parties.partiesCaption"),
          rows: data.parties || [],
          className: "compact",
          columns: [
            { label: t("parties.id"), header: true, cell: (party) => h("span", { class: "mono" }, party.id) },
            { label: t("parties.kind"), cell: (party) => party.kind },
            { label: t("parties.name"), cell: (party) => party.name },
            { label: t("parties.sends"), cell: (party) => orNone((party.sends || []).join(", ")) },
            { label: t("common.profile"), cell: (party) => orNone(party.receives?.profile) },
            {
              label: t("parties.endpoint"),
              cell: (party) =>
                party.receives?.endpoint ? h("span", { class: "mono break" }, party.receives.endpoint) : orNone(null),
            },
            {
              label: t("parties.health"),
              cell: (party) => (party.health ? statusBadge(party.health.status) : orNone(null)),
            },
            { label: t("parties.lastSuccess"), cell: (party) => time(party.health?.lastSuccessAt) },
            {
              label: t("message.lastError"),
              cell: (party) =>
                party.health?.lastError ? h("span", { class: "error-text" }, party.health.lastError) : orNone(null),
            },
            { label: t("parties.pending"), numeric: true, cell: (party) => count(party.health?.pending) },
            { label: t("parties.dead"), numeric: true, cell: (party) => count(party.health?.dead) },
          ],
        }),
      ),
      h(
        "section",
        { "aria-labelledby": "routes-heading" },
        h("h2", { id: "routes-heading" }, t("parties.routes")),
        dataTable({
          caption: t("parties.routesCaption"),
          empty: t("parties.noRoutes"),
          rows: (data.routes || []).map((route, index) => ({ ...route, index: index + 1 })),
          className: "compact",
          columns: [
            { label: t("parties.route"), header: true, cell: (route) => String(route.index) },
            { label: t("parties.types"), cell: (route) => list(route.types) },
            { label: t("parties.to"), cell: (route) => list(route.to) },
            {
              label: t("parties.when"),
              cell: (route) => (route.when?.length ? list(route.when.map(condition)) : t("parties.always")),
            },
            {
              label: t("parties.fields"),
              cell: (route) => (route.fields?.length ? list(route.fields, "mono") : t("parties.allFields")),
            },
            {
              label: t("parties.orderBy"),
              cell: (route) => (route.orderBy ? h("code", {}, route.orderBy) : orNone(null)),
            },
            { label: t("parties.optional"), cell: (route) => (route.optional ? t("common.yes") : t("common.no")) },
          ],
        }),
      ),
    );
  },
};

function list(items, className) {
  return h(
    "ul",
    { class: "plain-list" },
    (items || []).map((item) => h("li", { class: className }, item)),
  );
}

/** A route condition in words: "/data/worker/citizenship is non-EU". */
function condition(when) {
  const pointer = h("code", {}, when.pointer);
  if (when.nonEu) return h("span", {}, pointer, " ", t("parties.nonEu"));
  if (when.inRecipientComuni) return h("span", {}, pointer, " ", t("parties.inComuni"));
  if (when.equals !== undefined && when.equals !== null) {
    return h("span", {}, pointer, " = ", h("code", {}, JSON.stringify(when.equals)));
  }
  return h("span", {}, pointer, " ", h("code", {}, JSON.stringify(when)));
}
