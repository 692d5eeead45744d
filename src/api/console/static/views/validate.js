// Validate: paste a message or load a file, choose the profile, and see every problem where
// it is: the text is shown with line numbers, the lines with problems marked, and each
// problem in the list moves the focus to its line (and each marked line back to its problem).

import { api, ApiError, SessionLost } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { t, plural } from "../lib/i18n.js";
import { problemBox, scrollable } from "../lib/ui.js";
import { field } from "../lib/form.js";
import { profileList } from "../lib/catalog.js";
import { locator } from "../lib/locate.js";

export default {
  async render(root, context) {
    context.setTitle(t("validate.title"));
    const requested = context.params.get("profile") || "canonical";
    const profile = h("select", {}, h("option", { value: requested }, requested));
    const content = h("textarea", { rows: "14", spellcheck: "false", class: "mono", autocomplete: "off" });
    const file = h("input", {
      type: "file",
      accept: ".json,.xml,.csv,.txt,.dat,application/json,application/xml,text/xml,text/csv,text/plain",
    });
    const submit = h(
      "button",
      { type: "submit", class: "button button-primary", id: "validate-submit" },
      t("validate.submit"),
    );
    const form = h(
      "form",
      { class: "validate-form", novalidate: true },
      h(
        "div",
        { class: "form-grid" },
        field({ name: "profile", label: t("common.profile"), control: profile, hint: t("validate.profileHint") }),
        field({ name: "file", label: t("validate.file"), control: file, hint: t("validate.fileHint") }),
      ),
      field({ name: "content", label: t("validate.content"), control: content, hint: t("validate.contentHint") }),
      h("div", { class: "form-actions" }, submit),
    );
    const output = h("div", { class: "validate-output" });
    root.append(
      h("h1", { tabindex: "-1" }, t("validate.title")),
      h("p", { class: "lead" }, t("validate.intro")),
      form,
      output,
    );

    let formats = new Map([["canonical", "json"]]);
    profile.addEventListener("change", () => {
      // The chosen profile is part of the URL, so the page can be bookmarked for a profile.
      history.replaceState(history.state, "", `#/validate?profile=${encodeURIComponent(profile.value)}`);
    });
    file.addEventListener("change", async () => {
      const chosen = file.files?.[0];
      if (!chosen) return;
      content.value = await chosen.text();
      context.announce(t("validate.fileLoaded", { name: chosen.name }));
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = content.value;
      const chosenProfile = profile.value;
      submit.disabled = true;
      output.setAttribute("aria-busy", "true");
      try {
        const verdict = await api("validate", {
          method: "POST",
          body: { profile: chosenProfile, content: text },
          signal: context.signal,
        }).catch((error) => {
          // A 422 problem listing the errors is a verdict too (it is what POST /v1/validate
          // answers): its errors are located in the text like any others.
          if (error instanceof ApiError && error.status === 422 && Array.isArray(error.problem?.errors)) {
            return { valid: false, type: null, files: [{ label: "", valid: false, errors: error.problem.errors }] };
          }
          throw error;
        });
        if (!context.alive()) return;
        replace(output, report(verdict, text, formats.get(chosenProfile) || guessFormat(text)));
        const summary = output.querySelector(".validate-summary");
        context.announce(summary?.textContent || "");
        summary?.focus();
      } catch (error) {
        if (error instanceof SessionLost || !context.alive()) return;
        // A refused request (unknown profile, a body too large) is a problem document too.
        replace(output, problemBox(error, { heading: error instanceof ApiError ? t("validate.refused") : undefined }));
      } finally {
        submit.disabled = false;
        output.removeAttribute("aria-busy");
      }
    });

    try {
      const data = await profileList();
      if (!context.alive()) return;
      const profiles = data.profiles || [];
      formats = new Map(profiles.map((item) => [item.name, item.format]));
      const names = profiles.map((item) => item.name);
      if (!names.includes(requested)) names.unshift(requested);
      replace(
        profile,
        names.map((name) => {
          const item = profiles.find((candidate) => candidate.name === name);
          return h("option", { value: name }, item?.title ? `${name} — ${item.title}` : name);
        }),
      );
      profile.value = requested;
    } catch (error) {
      if (error instanceof SessionLost || !context.alive()) throw error;
      replace(output, problemBox(error, { heading: t("validate.noProfiles") }));
    }
  },
};

function guessFormat(text) {
  const start = text.trimStart()[0];
  if (start === "{" || start === "[") return "json";
  if (start === "<") return "xml";
  return "text";
}

/** The verdict: a summary, then for each file its problems and its text with marked lines. */
function report(verdict, text, format) {
  const files = verdict.files || [];
  const problemCount = files.reduce((sum, item) => sum + (item.errors || []).length, 0);
  const summaryText = verdict.valid
    ? verdict.type
      ? t("validate.validWithType", { type: verdict.type })
      : t("validate.valid")
    : plural("validate.invalid", problemCount);
  const parts = [
    h(
      "div",
      { class: ["alert", verdict.valid ? "alert-success" : "alert-danger"] },
      h("h2", { class: "validate-summary", tabindex: "-1" }, summaryText),
      !verdict.valid && verdict.type ? h("p", {}, t("validate.type", { type: verdict.type })) : null,
    ),
  ];
  const locate = locator(text, format);
  const lines = text.split(/\r\n|\r|\n/);
  // Problems of every file are located in the one text that was sent.
  const byLine = new Map();
  const items = [];
  let number = 0;
  for (const item of files) {
    for (const error of item.errors || []) {
      number += 1;
      const place = locate(error);
      if (place && place.line > lines.length) place.line = lines.length;
      items.push({ number, error, place, file: item.label });
      if (place) {
        if (!byLine.has(place.line)) byLine.set(place.line, []);
        byLine.get(place.line).push(number);
      }
    }
  }
  if (items.length) {
    parts.push(
      h(
        "section",
        { "aria-labelledby": "validate-problems" },
        h("h2", { id: "validate-problems" }, t("validate.problems")),
        h(
          "ol",
          { class: "problems" },
          items.map((item) => problemItem(item)),
        ),
      ),
    );
  }
  parts.push(
    h(
      "section",
      { "aria-labelledby": "validate-text" },
      h("h2", { id: "validate-text" }, t("validate.text")),
      byLine.size ? h("p", { class: "hint" }, t("validate.textHint")) : null,
      scrollable(
        h(
          "div",
          { class: "source" },
          h(
            "ol",
            { class: "lines" },
            lines.map((line, index) => lineItem(index + 1, line, byLine.get(index + 1))),
          ),
        ),
        t("validate.textRegion"),
      ),
    ),
  );
  return parts;
}

function problemItem({ number, error, place, file }) {
  const where = place
    ? place.exact
      ? Number.isInteger(error.column)
        ? t("validate.atColumn", { line: place.line, column: error.column })
        : t("validate.at", { line: place.line })
      : t("validate.near", { line: place.line })
    : t("validate.unlocated");
  return h(
    "li",
    {
      id: `problem-${number}`,
      tabindex: "-1",
      class: "problem",
      dataset: { code: error.code || "", line: place?.line ?? "" },
    },
    h(
      "p",
      { class: "problem-head" },
      h("span", { class: "mono" }, `${error.code || ""} ${error.name || ""}`.trim()),
      " — ",
      error.message || "",
    ),
    h(
      "p",
      { class: "problem-where" },
      file ? [t("validate.fileLabel", { label: file }), " · "] : null,
      error.path ? [t("validate.path"), " ", h("code", {}, error.path), " · "] : null,
      where,
    ),
    error.canonicalPath || error.requirement
      ? h(
          "p",
          { class: "muted small" },
          error.canonicalPath ? [t("validate.canonicalPath"), " ", h("code", {}, error.canonicalPath)] : null,
          error.canonicalPath && error.requirement ? " · " : null,
          error.requirement ? t("validate.requirement", { requirement: error.requirement }) : null,
        )
      : null,
    place
      ? h(
          "button",
          {
            type: "button",
            class: "button button-small button-secondary goto-line",
            onClick: () => focusLine(place.line),
          },
          t("validate.gotoLine", { line: place.line }),
        )
      : null,
  );
}

function lineItem(number, text, problems) {
  const marked = Boolean(problems?.length);
  return h(
    "li",
    {
      id: `line-${number}`,
      class: ["line", marked ? "has-problem" : null],
      tabindex: marked ? "-1" : null,
      dataset: { line: String(number) },
      "aria-describedby": marked ? problems.map((problem) => `problem-${problem}`).join(" ") : null,
    },
    h("span", { class: "line-number" }, String(number)),
    h("code", { class: "line-text" }, text || " "),
    marked
      ? h(
          "span",
          { class: "line-marks" },
          problems.map((problem) =>
            h(
              "button",
              { type: "button", class: "line-mark", onClick: () => focusProblem(problem) },
              t("validate.problemMark", { number: problem }),
            ),
          ),
        )
      : null,
  );
}

function focusLine(number) {
  const line = document.getElementById(`line-${number}`);
  if (!line) return;
  for (const current of document.querySelectorAll(".line.current")) current.classList.remove("current");
  line.classList.add("current");
  line.scrollIntoView({ block: "center" });
  line.focus({ preventScroll: true });
}

function focusProblem(number) {
  const problem = document.getElementById(`problem-${number}`);
  if (!problem) return;
  problem.scrollIntoView({ block: "center" });
  problem.focus({ preventScroll: true });
}
