// Dead letters: deliveries that gave up. Filter by recipient and type, select rows (or all
// on the page), replay them after a confirmation naming how many; the answer says which
// were queued again and which were refused, and why.

import { api, query, ApiError, SessionLost } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { t, plural } from "../lib/i18n.js";
import { problemBox, time, pager, confirmDialog, orNone, count, scrollable } from "../lib/ui.js";
import { field, select, markInvalid } from "../lib/form.js";
import { MESSAGE_TYPES, partyDatalist } from "../lib/catalog.js";

export default {
  async render(root, context) {
    context.setTitle(t("dead.title"));
    const { params } = context;
    const party = h("input", {
      type: "text",
      value: params.get("party") || "",
      list: "dead-party-ids",
      autocomplete: "off",
      spellcheck: "false",
    });
    const form = h(
      "form",
      { class: "search-form", role: "search", "aria-labelledby": "dead-filter-heading", novalidate: true },
      h("h2", { id: "dead-filter-heading" }, t("dead.filter")),
      h(
        "div",
        { class: "form-grid" },
        field({ name: "party", label: t("common.recipient"), control: party, hint: t("messages.partyHint") }),
        field({
          name: "type",
          label: t("common.type"),
          control: select(MESSAGE_TYPES, params.get("type") || "", { anyLabel: t("messages.anyType") }),
        }),
      ),
      partyDatalist("dead-party-ids", context.session),
      h(
        "div",
        { class: "form-actions" },
        h("button", { type: "submit", class: "button button-primary", id: "dead-filter-submit" }, t("dead.apply")),
        h("a", { href: "#/dead-letters", class: "button button-secondary" }, t("messages.reset")),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      context.navigate(
        `#/dead-letters${query({ party: String(data.get("party") || "").trim(), type: data.get("type") })}`,
        null,
        { focus: "results" },
      );
    });

    const outcome = h("div", { class: "action-outcome", id: "dead-outcome" });
    const resultsHeading = h("h2", { id: "dead-results-heading", tabindex: "-1" }, t("dead.list"));
    const results = h(
      "div",
      { class: "results", "aria-busy": "true" },
      h("p", { class: "muted" }, t("common.loading")),
    );
    root.append(
      h("h1", { tabindex: "-1" }, t("dead.title")),
      h("p", { class: "lead" }, t("dead.intro")),
      form,
      outcome,
      h("section", { "aria-labelledby": "dead-results-heading" }, resultsHeading, results),
    );

    const load = async () => {
      results.setAttribute("aria-busy", "true");
      let page;
      try {
        page = await api(`dead-letters${query(Object.fromEntries(params))}`, { signal: context.signal });
      } catch (error) {
        if (error instanceof SessionLost || !context.alive()) throw error;
        results.removeAttribute("aria-busy");
        if (error instanceof ApiError && error.status === 400) markInvalid(form, error.problem?.errors);
        replace(results, problemBox(error));
        return;
      }
      if (!context.alive()) return;
      results.removeAttribute("aria-busy");
      replace(results, table(page, params, { replay, outcome }));
      return page;
    };

    const replay = async (ids, opener) => {
      const confirmed = await confirmDialog({
        title: plural("dead.confirmTitle", ids.length),
        body: plural("dead.confirmBody", ids.length),
        confirm: t("dead.confirm"),
      });
      if (!confirmed) return;
      if (opener) opener.disabled = true;
      try {
        const answer = await api("dead-letters/replay", { method: "POST", body: { ids }, signal: context.signal });
        const replayed = answer?.replayed || [];
        const refused = answer?.refused || [];
        replace(outcome, report(replayed, refused));
        context.announce(summary(replayed, refused));
        await load();
        outcome.querySelector(".outcome-heading")?.focus();
      } catch (error) {
        if (error instanceof SessionLost || !context.alive()) return;
        replace(outcome, problemBox(error, { heading: t("dead.replayFailed") }));
      } finally {
        if (opener?.isConnected) opener.disabled = false;
      }
    };

    const page = await load();
    if (page && context.focusHint === "results") resultsHeading.focus();
  },
};

function summary(replayed, refused) {
  const parts = [plural("dead.replayed", replayed.length)];
  if (refused.length) parts.push(plural("dead.refused", refused.length));
  return parts.join(" ");
}

/** What the replay did: ids queued again, and each refusal with its reason. */
function report(replayed, refused) {
  return h(
    "div",
    { class: ["alert", refused.length ? "alert-warning" : "alert-success"] },
    h("h2", { class: "outcome-heading", tabindex: "-1" }, summary(replayed, refused)),
    replayed.length
      ? h(
          "ul",
          { class: "replayed-list" },
          replayed.map((id) =>
            h("li", { dataset: { id } }, h("span", { class: "mono" }, id), ` — ${t("dead.queued")}`),
          ),
        )
      : null,
    refused.length
      ? h(
          "ul",
          { class: "refused-list" },
          refused.map((item) =>
            h("li", { dataset: { id: item.id } }, h("span", { class: "mono" }, item.id), ` — ${item.reason}`),
          ),
        )
      : null,
  );
}

function table(page, params, { replay, outcome }) {
  const rows = page.deadLetters || [];
  const after = params.get("after");
  const href = (cursor) => {
    const next = Object.fromEntries(params);
    delete next.after;
    if (cursor) next.after = cursor;
    return `#/dead-letters${query(next)}`;
  };
  if (!rows.length) {
    return [
      h("p", { class: "empty" }, t("dead.none")),
      pager({ label: t("dead.pages"), after, next: page.next, href }),
    ];
  }
  const replaySelected = h(
    "button",
    { type: "button", class: "button button-primary", id: "dead-replay-selected", disabled: true },
    plural("dead.replaySelected", 0),
  );
  const selectAll = h("input", { type: "checkbox", id: "dead-select-all" });
  const boxes = rows.map((row) =>
    h("input", {
      type: "checkbox",
      value: row.deliveryId,
      id: `dead-select-${row.deliveryId}`,
      class: "dead-select",
      "aria-label": t("dead.selectOne", { id: row.deliveryId }),
    }),
  );
  const update = () => {
    const chosen = boxes.filter((box) => box.checked).length;
    replaySelected.disabled = chosen === 0;
    replaySelected.textContent = plural("dead.replaySelected", chosen);
    selectAll.checked = chosen === boxes.length;
    selectAll.indeterminate = chosen > 0 && chosen < boxes.length;
  };
  selectAll.addEventListener("change", () => {
    for (const box of boxes) box.checked = selectAll.checked;
    update();
  });
  for (const box of boxes) box.addEventListener("change", update);
  replaySelected.addEventListener("click", () => {
    outcome.replaceChildren();
    replay(
      boxes.filter((box) => box.checked).map((box) => box.value),
      replaySelected,
    );
  });

  const tableElement = h(
    "table",
    { class: "table selectable" },
    h("caption", {}, plural("dead.caption", rows.length)),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h(
          "th",
          { scope: "col", class: "select-cell" },
          selectAll,
          h("label", { for: "dead-select-all", class: "visually-hidden" }, t("dead.selectAll")),
        ),
        [
          t("message.deliveryId"),
          t("dead.message"),
          t("common.type"),
          t("common.recipient"),
          t("common.profile"),
          t("message.attempts"),
          t("message.lastError"),
          t("message.finishedAt"),
          t("dead.actions"),
        ].map((label) => h("th", { scope: "col" }, label)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((row, index) =>
        h(
          "tr",
          { dataset: { delivery: row.deliveryId } },
          h("td", { class: "select-cell" }, boxes[index]),
          h("th", { scope: "row", class: "mono" }, row.deliveryId),
          h(
            "td",
            {},
            h("a", { href: `#/messages/${encodeURIComponent(row.messageId)}`, class: "mono" }, row.messageId),
          ),
          h("td", {}, orNone(row.type)),
          h("td", {}, row.party),
          h("td", {}, orNone(row.profile)),
          h("td", { class: "numeric" }, count(row.attempts)),
          h("td", { class: "error-text" }, orNone(row.lastError)),
          h("td", {}, time(row.finishedAt)),
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "button button-small button-secondary",
                "aria-label": t("dead.replayOne", { id: row.deliveryId }),
                onClick: (event) => {
                  outcome.replaceChildren();
                  replay([row.deliveryId], event.currentTarget);
                },
              },
              t("message.replay"),
            ),
          ),
        ),
      ),
    ),
  );
  return [
    h("div", { class: "toolbar" }, replaySelected),
    scrollable(h("div", { class: "table-wrapper" }, tableElement), plural("dead.caption", rows.length)),
    pager({ label: t("dead.pages"), after, next: page.next, href }),
  ];
}
