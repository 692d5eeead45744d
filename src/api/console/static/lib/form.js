// Labelled form fields, each with an optional hint and a slot for its error, tied to the
// control by aria-describedby so a screen reader reads them with the field.

import { h, uid } from "./dom.js";
import { t } from "./i18n.js";

/** A field: `control` is an input/select/textarea element; its id is set here. */
export function field({ label, control, hint, name }) {
  const id = uid(`field-${name || "x"}`);
  control.id = id;
  if (name) control.name = name;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: "form-group", dataset: { field: name || "" } },
    h("label", { for: id }, label),
    h("p", { class: "field-error", id: errorId, hidden: true }),
    control,
    // Below the control, as Bootstrap Italia places its form text, so that the controls
    // of a row line up whatever the length of their hints.
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  );
}

/** Marks the fields of `form` named by the problem's errors (`path` = parameter name). */
export function markInvalid(form, errors) {
  clearInvalid(form);
  let marked = 0;
  for (const error of errors || []) {
    const name = String(error.path || "").replace(/^\/?(query\/)?/, "");
    const group = form.querySelector(`.form-group[data-field="${CSS.escape(name)}"]`);
    if (!group) continue;
    const control = group.querySelector("input, select, textarea");
    const message = group.querySelector(".field-error");
    message.hidden = false;
    message.textContent = t("form.invalid", { message: error.message || "" });
    control.setAttribute("aria-invalid", "true");
    const described = new Set((control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
    described.add(message.id);
    control.setAttribute("aria-describedby", [...described].join(" "));
    marked += 1;
  }
  return marked;
}

export function clearInvalid(form) {
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const errorId = control.id ? `${control.id}-error` : null;
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== errorId);
    if (described.length) control.setAttribute("aria-describedby", described.join(" "));
    else control.removeAttribute("aria-describedby");
  }
  for (const message of form.querySelectorAll(".field-error")) {
    message.hidden = true;
    message.textContent = "";
  }
}

/** A <select> with a first "any" option; a current value not in `values` is kept as an option. */
export function select(values, current, { anyLabel, label = (value) => value } = {}) {
  const options = [h("option", { value: "" }, anyLabel || t("form.any"))];
  const all = current && !values.includes(current) ? [...values, current] : values;
  for (const value of all) options.push(h("option", { value }, label(value)));
  const element = h("select", {}, options);
  element.value = current || "";
  return element;
}
