// The overview: what was accepted and rejected, the throughput of the last hour, what is
// waiting for delivery, dead letters and the INPS pull. Polled every 5 seconds; the
// operator can pause the refresh (WCAG 2.2.2: content that updates by itself can be paused).

import { api, SessionLost } from "../lib/api.js";
import { h, replace, svg, uid } from "../lib/dom.js";
import { t, plural, formatNumber } from "../lib/i18n.js";
import { dataTable, problemBox, statusBadge, time, formatAge, formatClock, count, definitions } from "../lib/ui.js";

const REFRESH_MS = 5000;

export default {
  render(root, context) {
    context.setTitle(t("overview.title"));
    const status = h("p", { class: "muted", id: "overview-updated" }, t("common.loading"));
    const pause = h(
      "button",
      { type: "button", class: "button button-secondary", "aria-pressed": "false", id: "overview-pause" },
      t("overview.pause"),
    );
    const warning = h("div", { class: "refresh-warning" });
    const content = h("div", { class: "overview", "aria-busy": "true" });
    root.append(
      h("h1", { tabindex: "-1" }, t("overview.title")),
      h("div", { class: "toolbar" }, status, pause),
      warning,
      content,
    );

    let paused = false;
    let inFlight = false;
    let loaded = false;
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? t("overview.resume") : t("overview.pause");
      context.announce(paused ? t("overview.paused") : t("overview.resumed"));
      if (!paused) refresh();
    });

    async function refresh() {
      if (inFlight || !context.alive()) return;
      inFlight = true;
      try {
        const data = await api("overview", { signal: context.signal });
        if (!context.alive()) return;
        redraw(content, data);
        warning.replaceChildren();
        status.textContent = t("overview.updated", { time: formatClock(data.now, { seconds: true }) });
        if (!loaded) {
          content.removeAttribute("aria-busy");
          loaded = true;
        }
      } catch (error) {
        if (!context.alive() || error?.name === "AbortError" || error instanceof SessionLost) return;
        // The last figures stay on screen, marked as possibly stale.
        replace(warning, problemBox(error, { heading: t("overview.refreshFailed") }));
        if (!loaded) content.removeAttribute("aria-busy");
      } finally {
        inFlight = false;
      }
    }

    const timer = window.setInterval(() => {
      // A hidden tab need not poll; it catches up when shown again.
      if (!paused && document.visibilityState === "visible") refresh().catch(() => {});
    }, REFRESH_MS);
    context.onCleanup(() => window.clearInterval(timer));
    return refresh();
  },
};

/**
 * Replaces the figures, keeping what the operator was doing: the focused control (by its
 * data-key) and which disclosures were open.
 */
function redraw(content, data) {
  const focusedKey = content.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const open = new Set([...content.querySelectorAll("details[open]")].map((details) => details.dataset.key));
  replace(content, build(data));
  for (const details of content.querySelectorAll("details")) details.open = open.has(details.dataset.key);
  if (focusedKey) content.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
}

function build(data) {
  const pending = (data.backlog || []).reduce((sum, item) => sum + (item.pending || 0), 0);
  const inps = data.inps || {};
  const run = inps.lastRun;
  const cards = h(
    "ul",
    { class: "cards", "aria-label": t("overview.summary") },
    card(
      t("overview.deadLetters"),
      formatNumber(data.deadLetters ?? 0),
      [h("a", { href: "#/dead-letters", dataset: { key: "link-dead" } }, t("overview.seeDeadLetters"))],
      data.deadLetters > 0 ? "danger" : null,
    ),
    card(t("overview.pending"), formatNumber(pending), [
      h("a", { href: "#/messages?status=accepted", dataset: { key: "link-pending" } }, t("overview.seePending")),
    ]),
    card(
      t("overview.quarantined"),
      formatNumber(inps.quarantined ?? 0),
      [h("a", { href: "#/quarantine", dataset: { key: "link-quarantine" } }, t("overview.seeQuarantine"))],
      inps.quarantined > 0 ? "warning" : null,
    ),
    h(
      "li",
      { class: "card" },
      h("h3", { class: "card-title" }, t("overview.inpsLastRun")),
      run
        ? definitions([
            [t("inps.status"), statusBadge(run.status)],
            [t("inps.finishedAt"), time(run.finishedAt || run.startedAt)],
            [
              t("inps.records"),
              t("overview.runCounts", {
                records: formatNumber(run.records ?? 0),
                accepted: formatNumber(run.accepted ?? 0),
                quarantined: formatNumber(run.quarantined ?? 0),
              }),
            ],
            [t("inps.cursor"), time(inps.cursor)],
          ])
        : h("p", {}, t("overview.noRun")),
      h("p", {}, h("a", { href: "#/inps", dataset: { key: "link-inps" } }, t("overview.seeRuns"))),
    ),
  );
  return [
    h(
      "section",
      { "aria-labelledby": "overview-summary" },
      h("h2", { id: "overview-summary", class: "visually-hidden" }, t("overview.summary")),
      cards,
    ),
    h(
      "section",
      { "aria-labelledby": "overview-types" },
      h("h2", { id: "overview-types" }, t("overview.byType")),
      typeTable(data),
    ),
    h(
      "section",
      { "aria-labelledby": "overview-throughput" },
      h("h2", { id: "overview-throughput" }, t("overview.throughput")),
      chart(data.throughput || []),
    ),
    h(
      "section",
      { "aria-labelledby": "overview-backlog" },
      h("h2", { id: "overview-backlog" }, t("overview.backlog")),
      dataTable({
        caption: t("overview.backlogCaption"),
        empty: t("overview.noRecipients"),
        rows: data.backlog || [],
        columns: [
          { label: t("common.recipient"), header: true, cell: (row) => row.party },
          { label: t("overview.pendingDeliveries"), numeric: true, cell: (row) => count(row.pending) },
          {
            label: t("overview.oldestPending"),
            cell: (row) =>
              row.oldestPendingAt
                ? [
                    time(row.oldestPendingAt),
                    " ",
                    h("span", { class: "muted" }, `(${formatAge(row.oldestPendingAt, data.now)})`),
                  ]
                : time(null),
          },
        ],
      }),
    ),
  ];
}

function card(title, figure, links, tone) {
  return h(
    "li",
    { class: ["card", tone ? `card-${tone}` : null] },
    h("h3", { class: "card-title" }, title),
    h("p", { class: "card-figure" }, figure),
    h("p", {}, links),
  );
}

function typeTable(data) {
  const windows = [
    ["lastHour", "accepted"],
    ["lastHour", "rejected"],
    ["lastDay", "accepted"],
    ["lastDay", "rejected"],
  ];
  const types = new Set();
  for (const [window, outcome] of windows)
    for (const type of Object.keys(data[window]?.[outcome] || {})) types.add(type);
  const rows = [...types].sort().map((type) => ({ type }));
  if (rows.length) rows.push({ type: null });
  const value = (row, window, outcome) => {
    const counts = data[window]?.[outcome] || {};
    if (row.type !== null) return counts[row.type] || 0;
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  };
  return dataTable({
    caption: t("overview.byTypeCaption"),
    empty: t("overview.noMessages"),
    rows,
    columns: [
      { label: t("common.type"), header: true, cell: (row) => (row.type === null ? t("common.total") : row.type) },
      ...windows.map(([window, outcome]) => ({
        label: t(`overview.${window}.${outcome}`),
        numeric: true,
        cell: (row) => formatNumber(value(row, window, outcome)),
      })),
    ],
  });
}

/** A round number at or above `value` (1, 2, 5 times a power of ten), for the y axis. */
function niceCeiling(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** The per-minute throughput as stacked bars (accepted below, rejected above), drawn in SVG. */
function chart(minutes) {
  const width = 720;
  const height = 220;
  const margin = { top: 12, right: 8, bottom: 28, left: 44 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const totals = minutes.map((minute) => (minute.accepted || 0) + (minute.rejected || 0));
  const top = niceCeiling(Math.max(0, ...totals));
  const slot = plotWidth / Math.max(minutes.length, 1);
  const y = (value) => margin.top + plotHeight - (value / top) * plotHeight;
  const accepted = minutes.reduce((sum, minute) => sum + (minute.accepted || 0), 0);
  const rejected = minutes.reduce((sum, minute) => sum + (minute.rejected || 0), 0);
  const peakIndex = totals.indexOf(Math.max(0, ...totals));
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");

  // Whole numbers only: these are counts of messages.
  const ticks = [...new Set([0, Math.ceil(top / 2), top])];
  const grid = ticks.map((value) =>
    svg(
      "g",
      { class: "chart-grid" },
      svg("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value) }),
      svg("text", { x: margin.left - 6, y: y(value) + 4, "text-anchor": "end" }, formatNumber(value)),
    ),
  );
  const bars = minutes.map((minute, index) => {
    const x = margin.left + index * slot + 1;
    const barWidth = Math.max(slot - 2, 1);
    const acceptedHeight = ((minute.accepted || 0) / top) * plotHeight;
    const rejectedHeight = ((minute.rejected || 0) / top) * plotHeight;
    const base = margin.top + plotHeight;
    return svg(
      "g",
      {},
      svg(
        "title",
        {},
        t("overview.chartBar", {
          time: formatClock(minute.minute),
          accepted: formatNumber(minute.accepted || 0),
          rejected: formatNumber(minute.rejected || 0),
        }),
      ),
      svg("rect", { class: "bar-accepted", x, width: barWidth, y: base - acceptedHeight, height: acceptedHeight }),
      svg("rect", {
        class: "bar-rejected",
        x,
        width: barWidth,
        y: base - acceptedHeight - rejectedHeight,
        height: rejectedHeight,
      }),
    );
  });
  const labels = minutes
    .map((minute, index) => [minute, index])
    .filter(([, index]) => (minutes.length - 1 - index) % 10 === 0)
    .map(([minute, index]) =>
      svg(
        "text",
        { class: "chart-label", x: margin.left + index * slot + slot / 2, y: height - 8, "text-anchor": "middle" },
        formatClock(minute.minute),
      ),
    );

  const description = minutes.length
    ? t("overview.chartDescription", {
        accepted: formatNumber(accepted),
        rejected: formatNumber(rejected),
        peak: formatNumber(totals[peakIndex] || 0),
        time: formatClock(minutes[peakIndex].minute),
      })
    : t("overview.noMessages");
  const figure = svg(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      preserveAspectRatio: "xMidYMid meet",
    },
    svg("title", { id: titleId }, t("overview.chartTitle")),
    svg("desc", { id: descId }, description),
    grid,
    bars,
    svg("line", { class: "chart-axis", x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }),
    labels,
  );
  return h(
    "figure",
    { class: "chart-figure" },
    figure,
    h(
      "figcaption",
      {},
      h(
        "ul",
        { class: "legend" },
        h("li", {}, h("span", { class: "swatch swatch-accepted", "aria-hidden": "true" }), t("overview.accepted")),
        h("li", {}, h("span", { class: "swatch swatch-rejected", "aria-hidden": "true" }), t("overview.rejected")),
      ),
      h("p", { class: "muted" }, plural("overview.chartTotals", accepted + rejected)),
    ),
    h(
      "details",
      { dataset: { key: "throughput-data" } },
      h("summary", { dataset: { key: "throughput-summary" } }, t("overview.chartData")),
      dataTable({
        caption: t("overview.chartTitle"),
        rows: minutes,
        columns: [
          { label: t("overview.minute"), header: true, cell: (minute) => formatClock(minute.minute) },
          { label: t("overview.accepted"), numeric: true, cell: (minute) => formatNumber(minute.accepted || 0) },
          { label: t("overview.rejected"), numeric: true, cell: (minute) => formatNumber(minute.rejected || 0) },
        ],
      }),
    ),
  );
}
