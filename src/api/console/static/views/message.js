// One message: what it is, its timeline, its canonical form, and for each recipient what it
// received (profile and rendered body) and every attempt to deliver it. Replay asks first.

import { api, ApiError, SessionLost } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { t, has, plural } from "../lib/i18n.js";
import {
  dataTable,
  problemBox,
  statusBadge,
  time,
  definitions,
  codeBlock,
  prettyJson,
  detailText,
  confirmDialog,
  notice,
  orNone,
  count,
} from "../lib/ui.js";

// The timeline events that record a delivery attempt (src/delivery: one per attempt).
const ATTEMPT_EVENTS = new Set(["delivered", "attempt-failed", "dead-lettered"]);

export default {
  async render(root, context) {
    const id = decodeURIComponent(context.match[1]);
    context.setTitle(t("message.title", { id }));
    const refresh = h(
      "button",
      { type: "button", class: "button button-secondary", id: "message-refresh" },
      t("message.refresh"),
    );
    const replay = h(
      "button",
      { type: "button", class: "button button-primary", id: "message-replay" },
      t("message.replay"),
    );
    const outcome = h("div", { class: "action-outcome" });
    const body = h(
      "div",
      { class: "message-body", "aria-busy": "true" },
      h("p", { class: "muted" }, t("common.loading")),
    );
    root.append(
      h("p", { class: "breadcrumb" }, h("a", { href: "#/messages" }, t("message.back"))),
      h("h1", { tabindex: "-1" }, t("message.heading"), " ", h("span", { class: "mono" }, id)),
      h("div", { class: "toolbar" }, refresh, replay),
      outcome,
      body,
    );

    let loading = null;
    const load = async ({ announce = false } = {}) => {
      body.setAttribute("aria-busy", "true");
      try {
        const message = await api(`messages/${encodeURIComponent(id)}`, { signal: context.signal });
        if (!context.alive()) return;
        replace(body, build(message));
        if (announce) {
          const status = has(`status.${message.status}`) ? t(`status.${message.status}`) : message.status;
          context.announce(t("message.refreshed", { status }));
        }
      } catch (error) {
        if (error instanceof SessionLost || !context.alive()) throw error;
        replace(body, problemBox(error));
      } finally {
        body.removeAttribute("aria-busy");
      }
    };
    refresh.addEventListener("click", () => {
      loading ??= load({ announce: true }).finally(() => (loading = null));
      loading.catch(() => {});
    });
    replay.addEventListener("click", async () => {
      const confirmed = await confirmDialog({
        title: t("message.replayTitle"),
        body: t("message.replayBody", { id }),
        confirm: t("message.replayConfirm"),
      });
      if (!confirmed) return;
      replay.disabled = true;
      try {
        const answer = await api(`messages/${encodeURIComponent(id)}/replay`, {
          method: "POST",
          signal: context.signal,
        });
        const text = plural("message.replayed", Number(answer?.replayed ?? 0));
        replace(outcome, notice(text));
        context.announce(text);
        await load();
      } catch (error) {
        if (error instanceof SessionLost || !context.alive()) return;
        // A refusal (409: already delivered, nothing dead) says why in its detail.
        const heading = error instanceof ApiError && error.status === 409 ? t("message.replayRefused") : undefined;
        replace(outcome, problemBox(error, { heading }));
      } finally {
        replay.disabled = false;
      }
    });
    await load();
  },
};

function eventLabel(event) {
  return has(`event.${event}`) ? t(`event.${event}`) : event;
}

function build(message) {
  const timeline = message.timeline || [];
  const deliveries = message.deliveries || [];
  return [
    definitions([
      [t("common.type"), message.type],
      [t("common.status"), statusBadge(message.status)],
      [t("common.sender"), message.sender],
      [t("message.source"), h("span", { class: "mono" }, orNone(message.source))],
      [t("message.messageId"), h("span", { class: "mono" }, orNone(message.messageId))],
      [t("common.profile"), message.profile],
      [t("messages.receivedAt"), time(message.receivedAt)],
    ]),
    h(
      "nav",
      { class: "contents", "aria-label": t("message.contents") },
      h(
        "ul",
        {},
        [
          ["message-timeline", t("message.timeline")],
          ["message-canonical", t("message.canonical")],
          ["message-deliveries", t("message.deliveries")],
        ].map(([target, label]) => h("li", {}, jump(target, label))),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "message-timeline" },
      h("h2", { id: "message-timeline", tabindex: "-1" }, t("message.timeline")),
      dataTable({
        caption: t("message.timelineCaption"),
        rows: timeline,
        className: "timeline",
        columns: [
          { label: t("message.at"), header: true, cell: (event) => time(event.at) },
          {
            label: t("message.event"),
            cell: (event) => h("span", { dataset: { event: event.event } }, eventLabel(event.event)),
          },
          { label: t("message.party"), cell: (event) => orNone(event.party) },
          { label: t("message.detail"), cell: (event) => h("span", { class: "detail" }, detailText(event.detail)) },
        ],
      }),
    ),
    h(
      "section",
      { "aria-labelledby": "message-canonical" },
      h("h2", { id: "message-canonical", tabindex: "-1" }, t("message.canonical")),
      message.canonical === undefined || message.canonical === null
        ? h("p", {}, t("message.noCanonical"))
        : codeBlock(prettyJson(message.canonical), t("message.canonicalText")),
    ),
    h(
      "section",
      { "aria-labelledby": "message-deliveries" },
      h("h2", { id: "message-deliveries", tabindex: "-1" }, t("message.deliveries")),
      deliveries.length
        ? deliveries.map((delivery) => deliverySection(delivery, timeline))
        : h("p", {}, t("message.noDeliveries")),
    ),
  ];
}

/** An in-page link that moves focus to a section heading (the hash is the router's). */
function jump(targetId, label) {
  return h(
    "a",
    {
      href: "#",
      onClick: (event) => {
        event.preventDefault();
        const target = document.getElementById(targetId);
        target?.focus();
        target?.scrollIntoView({ block: "start" });
      },
    },
    label,
  );
}

function deliverySection(delivery, timeline) {
  const headingId = `delivery-${delivery.id}`;
  const attempts = timeline.filter((event) => event.party === delivery.party && ATTEMPT_EVENTS.has(event.event));
  return h(
    "section",
    { class: "delivery", "aria-labelledby": headingId, dataset: { delivery: delivery.id, party: delivery.party } },
    h("h3", { id: headingId }, delivery.party, " ", statusBadge(delivery.status)),
    definitions([
      [t("message.deliveryId"), h("span", { class: "mono" }, delivery.id)],
      [t("common.profile"), delivery.profile],
      [t("common.status"), h("span", { class: "delivery-status" }, statusBadge(delivery.status))],
      [t("message.attempts"), count(delivery.attempts)],
      delivery.nextAttemptAt ? [t("message.nextAttempt"), time(delivery.nextAttemptAt)] : null,
      [t("message.finishedAt"), time(delivery.finishedAt)],
      [
        t("message.lastError"),
        delivery.lastError ? h("span", { class: "error-text" }, delivery.lastError) : orNone(null),
      ],
    ]),
    h("h4", {}, t("message.attemptList")),
    dataTable({
      caption: t("message.attemptCaption", { party: delivery.party }),
      empty: t("message.noAttempts"),
      rows: attempts,
      columns: [
        { label: t("message.attempt"), header: true, cell: (event) => orNone(event.detail?.attempt) },
        { label: t("message.at"), cell: (event) => time(event.at) },
        { label: t("common.status"), cell: (event) => eventLabel(event.event) },
        { label: t("message.error"), cell: (event) => orNone(event.detail?.error) },
      ],
    }),
    h("h4", {}, t("message.rendered")),
    delivery.renderError
      ? h(
          "div",
          { class: "alert alert-danger" },
          h("p", { class: "alert-title" }, t("message.renderError")),
          h("p", {}, delivery.renderError),
        )
      : delivery.rendered
        ? [
            h("p", { class: "muted" }, t("message.contentType", { type: delivery.rendered.contentType || "" })),
            codeBlock(delivery.rendered.body ?? "", t("message.renderedFor", { party: delivery.party })),
          ]
        : h("p", {}, t("message.notRendered")),
  );
}
