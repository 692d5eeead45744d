// Finding where a problem is in the text the operator pasted. The gateway gives a line
// when its decoder knows one (XML, CSV, fixed width); for JSON it gives a JSON pointer,
// and the line is found here by reading the text once and noting where each value starts.
// A pointer to something absent (a missing property) is placed at its nearest ancestor.

/** Line (1-based) of every JSON pointer in `text`; stops quietly at a syntax error. */
export function jsonLines(text) {
  const lines = new Map();
  let position = 0;
  let line = 1;

  const fail = () => {
    throw new SyntaxError("stop");
  };
  const skipSpace = () => {
    while (position < text.length) {
      const char = text[position];
      if (char === "\n") line += 1;
      else if (char !== " " && char !== "\t" && char !== "\r") break;
      position += 1;
    }
  };
  const readString = () => {
    // JSON strings cannot hold a raw newline, so the line does not change inside one.
    let result = "";
    position += 1;
    while (position < text.length) {
      const char = text[position];
      if (char === '"') {
        position += 1;
        return result;
      }
      if (char === "\\") {
        const escaped = text[position + 1];
        if (escaped === "u") {
          result += String.fromCharCode(parseInt(text.slice(position + 2, position + 6), 16));
          position += 6;
          continue;
        }
        result += { n: "\n", t: "\t", r: "\r", b: "\b", f: "\f" }[escaped] ?? escaped;
        position += 2;
        continue;
      }
      if (char === "\n") fail();
      result += char;
      position += 1;
    }
    return fail();
  };
  const escapeToken = (token) => token.replace(/~/g, "~0").replace(/\//g, "~1");
  const readValue = (pointer, keyLine) => {
    skipSpace();
    lines.set(pointer, keyLine ?? line);
    const char = text[position];
    if (char === "{") {
      position += 1;
      skipSpace();
      if (text[position] === "}") {
        position += 1;
        return;
      }
      for (;;) {
        skipSpace();
        if (text[position] !== '"') fail();
        const memberLine = line;
        const key = readString();
        skipSpace();
        if (text[position] !== ":") fail();
        position += 1;
        readValue(`${pointer}/${escapeToken(key)}`, memberLine);
        skipSpace();
        if (text[position] === ",") {
          position += 1;
          continue;
        }
        if (text[position] === "}") {
          position += 1;
          return;
        }
        fail();
      }
    }
    if (char === "[") {
      position += 1;
      skipSpace();
      if (text[position] === "]") {
        position += 1;
        return;
      }
      for (let index = 0; ; index += 1) {
        readValue(`${pointer}/${index}`);
        skipSpace();
        if (text[position] === ",") {
          position += 1;
          continue;
        }
        if (text[position] === "]") {
          position += 1;
          return;
        }
        fail();
      }
    }
    if (char === '"') {
      readString();
      return;
    }
    const literal = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(position, position + 64));
    if (!literal) fail();
    position += literal[0].length;
  };

  try {
    readValue("");
  } catch {
    // What was read before the error is still located.
  }
  return lines;
}

/** Line of the first element at each element path (`/a/b/c`, and `/a/b[2]/c` forms) in XML. */
export function xmlLines(text) {
  const lines = new Map();
  const stack = [];
  const counts = [new Map()];
  const tag =
    /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w.:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
  let line = 1;
  let last = 0;
  for (let match = tag.exec(text); match; match = tag.exec(text)) {
    for (let index = last; index < match.index; index += 1) if (text[index] === "\n") line += 1;
    last = match.index;
    const [, closing, name, , selfClosing] = match;
    if (!name) continue;
    if (closing) {
      stack.pop();
      counts.pop();
      continue;
    }
    const local = name.includes(":") ? name.split(":").pop() : name;
    const siblings = counts[counts.length - 1];
    const nth = (siblings.get(local) || 0) + 1;
    siblings.set(local, nth);
    stack.push({ local, nth });
    const plain = `/${stack.map((step) => step.local).join("/")}`;
    const indexed = `/${stack.map((step) => `${step.local}[${step.nth}]`).join("/")}`;
    if (!lines.has(plain)) lines.set(plain, line);
    lines.set(indexed, line);
    if (selfClosing) stack.pop();
    else counts.push(new Map());
  }
  return lines;
}

/** Candidate keys for an XML path as the gateway writes it (predicates, attributes, prefixes). */
function xmlCandidates(path) {
  const steps = path
    .split("/")
    .filter(Boolean)
    .filter((step) => !step.startsWith("@"))
    .map((step) => step.replace(/^[\w.-]+:/, ""));
  const indexed = steps.map((step) => (/\[\d+\]$/.test(step) ? step : `${step.replace(/\[.*\]$/, "")}[1]`));
  const plain = steps.map((step) => step.replace(/\[.*\]$/, ""));
  return { indexed, plain };
}

/**
 * Where each problem is: `{ line, exact }`, `exact` false when only an ancestor was found.
 * `format` is the profile's (json, xml, csv, fixed).
 */
export function locator(text, format) {
  let json = null;
  let xml = null;
  return (problem) => {
    if (Number.isInteger(problem.line) && problem.line > 0) return { line: problem.line, exact: true };
    const path = typeof problem.path === "string" ? problem.path : "";
    if (format === "json" && (path === "" || path.startsWith("/"))) {
      json ??= jsonLines(text);
      const tokens = path.split("/").slice(1);
      for (let length = tokens.length; length >= 0; length -= 1) {
        const pointer = length ? `/${tokens.slice(0, length).join("/")}` : "";
        if (json.has(pointer)) {
          // The whole document is no place to point at: line 1 says nothing.
          if (pointer === "" && path !== "") return null;
          return { line: json.get(pointer), exact: length === tokens.length };
        }
      }
    }
    if (format === "xml" && path.startsWith("/")) {
      xml ??= xmlLines(text);
      const { indexed, plain } = xmlCandidates(path);
      for (let length = indexed.length; length > 0; length -= 1) {
        for (const steps of [indexed, plain]) {
          const key = `/${steps.slice(0, length).join("/")}`;
          if (xml.has(key)) return { line: xml.get(key), exact: length === indexed.length };
        }
      }
    }
    return null;
  };
}
