// Quarantine: INPS records that could not be accepted, each with its errors located in the
// record (path, line, column). They are kept, never dropped, until someone acts on them.

import { api, query, SessionLost } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { t, plural } from "../lib/i18n.js";
import { dataTable, problemBox, time, pager, definitions, orNone } from "../lib/ui.js";

export default {
  async render(root, context) {
    context.setTitle(t("quarantine.title"));
    const { params } = context;
    const results = h(
      "div",
      { class: "results", "aria-busy": "true" },
      h("p", { class: "muted" }, t("common.loading")),
    );
    root.append(
      h("h1", { tabindex: "-1" }, t("quarantine.title")),
      h("p", { class: "lead" }, t("quarantine.intro")),
      results,
    );
    let page;
    try {
      page = await api(`quarantine${query(Object.fromEntries(params))}`, { signal: context.signal });
    } catch (error) {
      if (error instanceof SessionLost || !context.alive()) throw error;
      results.removeAttribute("aria-busy");
      replace(results, problemBox(error));
      return;
    }
    if (!context.alive()) return;
    results.removeAttribute("aria-busy");
    const records = page.records || [];
    const href = (cursor) => `#/quarantine${query({ limit: params.get("limit"), after: cursor })}`;
    replace(
      results,
      records.length
        ? h("p", { class: "result-count" }, plural("quarantine.count", records.length))
        : h("p", { class: "empty" }, t("quarantine.none")),
      records.map((record) => {
        const headingId = `quarantine-${record.id}`;
        return h(
          "article",
          { class: "record", "aria-labelledby": headingId, dataset: { record: record.id } },
          h("h2", { id: headingId }, t("quarantine.record"), " ", h("span", { class: "mono" }, record.id)),
          definitions([
            [t("common.profile"), record.profile],
            [t("common.type"), orNone(record.messageType)],
            [t("quarantine.location"), orNone(record.location)],
            [t("messages.receivedAt"), time(record.receivedAt)],
          ]),
          dataTable({
            caption: plural("quarantine.errors", (record.errors || []).length, { id: record.id }),
            rows: record.errors || [],
            columns: [
              {
                label: t("validate.code"),
                header: true,
                cell: (error) => h("span", { class: "mono" }, `${error.code} ${error.name || ""}`.trim()),
              },
              { label: t("validate.path"), cell: (error) => h("code", {}, orNone(error.path)) },
              { label: t("validate.line"), numeric: true, cell: (error) => orNone(error.line) },
              { label: t("validate.column"), numeric: true, cell: (error) => orNone(error.column) },
              { label: t("validate.message"), cell: (error) => error.message },
            ],
          }),
        );
      }),
      pager({ label: t("quarantine.pages"), after: params.get("after"), next: page.next, href }),
    );
  },
};
