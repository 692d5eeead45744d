// INPS runs: each pull of INPS's domestic-work communications, with its counts and status.

import { api, query, SessionLost } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { dataTable, problemBox, statusBadge, time, orNone, count } from "../lib/ui.js";

export default {
  async render(root, context) {
    context.setTitle(t("inps.title"));
    const results = h(
      "div",
      { class: "results", "aria-busy": "true" },
      h("p", { class: "muted" }, t("common.loading")),
    );
    root.append(h("h1", { tabindex: "-1" }, t("inps.title")), h("p", { class: "lead" }, t("inps.intro")), results);
    let data;
    try {
      data = await api(`inps/runs${query({ limit: context.params.get("limit") || 50 })}`, { signal: context.signal });
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
      dataTable({
        caption: t("inps.caption"),
        empty: t("inps.none"),
        rows: data.runs || [],
        className: "compact",
        columns: [
          { label: t("inps.run"), header: true, cell: (run) => h("span", { class: "mono" }, run.id) },
          { label: t("inps.trigger"), cell: (run) => orNone(run.trigger) },
          { label: t("inps.status"), cell: (run) => statusBadge(run.status) },
          { label: t("inps.startedAt"), cell: (run) => time(run.startedAt) },
          { label: t("inps.finishedAt"), cell: (run) => time(run.finishedAt) },
          { label: t("inps.pages"), numeric: true, cell: (run) => count(run.pages) },
          { label: t("inps.records"), numeric: true, cell: (run) => count(run.records) },
          { label: t("inps.accepted"), numeric: true, cell: (run) => count(run.accepted) },
          { label: t("inps.duplicates"), numeric: true, cell: (run) => count(run.duplicates) },
          { label: t("inps.quarantined"), numeric: true, cell: (run) => count(run.quarantined) },
          { label: t("inps.cursor"), cell: (run) => time(run.cursor) },
          {
            label: t("inps.error"),
            cell: (run) => (run.error ? h("span", { class: "error-text" }, run.error) : orNone(null)),
          },
        ],
      }),
    );
  },
};
