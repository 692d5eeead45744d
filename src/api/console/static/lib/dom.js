// Building DOM nodes without innerHTML: every value the gateway returns (a party's error
// text, a rendered XML body) is untrusted, and text nodes can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Appends children (nodes, strings, numbers, arrays; null and false are skipped). */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      element.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" && "value" in element) {
      element.value = value;
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  return append(element, children);
}

/** An HTML element: `h("a", { href: "#/", class: "x" }, "text", child)`. */
export function h(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** An SVG element, with the same conventions as `h`. */
export function svg(tag, attributes, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}

/** Removes every child of `element`. */
export function clear(element) {
  element.replaceChildren();
  return element;
}

/** Replaces the children of `element`, with `append`'s conventions (arrays, no nulls). */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

let sequence = 0;

/** A document-unique id, for label/aria-describedby pairs. */
export function uid(prefix = "id") {
  sequence += 1;
  return `${prefix}-${sequence}`;
}
