#!/usr/bin/env python3
"""Print the field tables of docs/STANDARD.md from the JSON Schemas in schemas/standard/.

For the envelope and for every message type it prints one Markdown table: each field's JSON
pointer (nested objects flattened, `*` for any array index), type, whether it is required,
its constraints (enumerations, patterns, formats, lengths, ranges, counts, conditional
requirements and the cross-field rules of `x-raccordo-rules`) and its description. `$ref`s
are resolved into common.v1 and the local `$defs`; `allOf` branches are merged, `oneOf` and
`anyOf` alternatives are listed one by one.

Each table is printed between `<!-- BEGIN standard_fields NAME -->` and
`<!-- END standard_fields NAME -->` lines, so that the document can be refreshed in place.

Usage (from the repository root; Python 3.11 or later, standard library only):
    python3 tools/standard_fields.py                        # print every table
    python3 tools/standard_fields.py --write docs/STANDARD.md  # replace the tables in place
    python3 tools/standard_fields.py --check docs/STANDARD.md  # exit 1 if they are stale
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas" / "standard"
# The order of docs/STANDARD.md; a type not listed here is printed after these, by name.
ORDER = [
    "worker.registered", "worker.updated", "worker.withdrawn",
    "vacancy.published", "vacancy.closed",
    "match.proposed", "match.outcome",
    "employment.started", "employment.changed", "employment.ended",
    "permit.verification.requested", "permit.status",
    "subsidy.granted", "subsidy.revoked",
    "care.monitoring.recorded",
    "receipt",
]
NOT_TYPES = {"envelope", "common"}
SCALARS = (
    "type", "const", "enum", "pattern", "format", "minLength", "maxLength", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    "uniqueItems", "minProperties", "maxProperties",
)
BEGIN = "<!-- BEGIN standard_fields {} -->"
END = "<!-- END standard_fields {} -->"

DOCS = {}


def load():
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        DOCS[path.name] = json.loads(path.read_text(encoding="utf-8"))


def resolve(ref, base):
    """The node a `$ref` points at, and the file it is in."""
    file, _, fragment = ref.partition("#")
    name = file.rsplit("/", 1)[-1] if file else base
    node = DOCS[name]
    for part in filter(None, fragment.split("/")):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, name


class View:
    """A schema node with its `$ref` and `allOf` branches merged; the node's own keywords win."""

    def __init__(self):
        self.descriptions = []
        self.keywords = {}
        self.items = []
        self.properties = {}
        self.required = []
        self.conditions = []
        self.rules = []
        self.alternatives = []
        self.forbidden = False


def collect(node, base, view=None):
    view = view if view is not None else View()
    if node is False:
        view.forbidden = True
        return view
    if node is True:
        return view
    if "description" in node:
        view.descriptions.append(node["description"])
    for keyword in SCALARS:
        if keyword in node:
            view.keywords.setdefault(keyword, node[keyword])
    if "items" in node:
        view.items.append((node["items"], base))
    for name, sub in node.get("properties", {}).items():
        view.properties.setdefault(name, []).append((sub, base))
    for name in node.get("required", []):
        if name not in view.required:
            view.required.append(name)
    if "if" in node:
        view.conditions.append((node["if"], node.get("then"), node.get("else"), base))
    view.rules.extend(node.get("x-raccordo-rules", []))
    for keyword in ("oneOf", "anyOf"):
        if keyword in node:
            view.alternatives.append((keyword, [(branch, base) for branch in node[keyword]]))
    if "$ref" in node:
        target, target_base = resolve(node["$ref"], base)
        collect(target, target_base, view)
    for branch in node.get("allOf", []):
        collect(branch, base, view)
    return view


def merged(pairs):
    view = View()
    for node, base in pairs:
        collect(node, base, view)
    return view


def code(value):
    return "`" + (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)) + "`"


def join_or(values):
    values = [code(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def json_type(value):
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}.get(
        type(value), "object" if isinstance(value, dict) else "array")


def type_of(view):
    declared = view.keywords.get("type")
    if declared == "array" or (declared is None and view.items):
        return "array of " + (type_of(merged(view.items)) if view.items else "any") + "s"
    if isinstance(declared, list):
        return " or ".join(declared)
    if declared:
        return declared
    if "const" in view.keywords:
        return json_type(view.keywords["const"])
    if "enum" in view.keywords:
        kinds = sorted({json_type(v) for v in view.keywords["enum"]})
        return " or ".join(kinds)
    if "format" in view.keywords or "pattern" in view.keywords:
        return "string"
    if view.properties:
        return "object"
    return "any"


def span(low, high, unit=("", "")):
    """`1–64`, `at least 1 item`, `at most 50 items`; `unit` is (singular, plural)."""
    def with_unit(count):
        return f"{count}{unit[0] if count == 1 else unit[1]}"
    if low is not None and high is not None:
        return with_unit(low) if low == high else f"{low}–{with_unit(high)}"
    if low is not None:
        return f"at least {with_unit(low)}"
    return f"at most {with_unit(high)}"


def constraints(view):
    k = view.keywords
    out = []
    if "const" in k:
        out.append("always " + code(k["const"]))
    if "enum" in k:
        out.append("one of " + ", ".join(code(v) for v in k["enum"]))
    if "format" in k:
        out.append("format " + code(k["format"]))
    if "pattern" in k:
        out.append("pattern " + code(k["pattern"]))
    if "minLength" in k or "maxLength" in k:
        out.append("length " + span(k.get("minLength"), k.get("maxLength")))
    low = []
    if "minimum" in k and "maximum" in k:
        low.append(f"{k['minimum']}–{k['maximum']}")
    elif "minimum" in k:
        low.append(f"≥ {k['minimum']}")
    if "exclusiveMinimum" in k:
        low.append(f"> {k['exclusiveMinimum']}")
    if "maximum" in k and "minimum" not in k:
        low.append(f"≤ {k['maximum']}")
    if "exclusiveMaximum" in k:
        low.append(f"< {k['exclusiveMaximum']}")
    if low:
        out.append(", ".join(low))
    if "multipleOf" in k:
        out.append(f"a multiple of {k['multipleOf']}")
    if k.get("maxItems") == 0:
        out.append("no items (empty)")
    elif "minItems" in k or "maxItems" in k:
        out.append(span(k.get("minItems"), k.get("maxItems"), (" item", " items")))
    if k.get("uniqueItems"):
        out.append("no repeated items")
    if "minProperties" in k or "maxProperties" in k:
        low, high = k.get("minProperties"), k.get("maxProperties")
        if low == high == 1:
            out.append("exactly one of its properties")
        else:
            out.append(span(low, high, (" property", " properties")))
    if view.items:
        item = merged(view.items)
        if not item.properties:
            inner = constraints(item)
            if inner:
                out.append("each item: " + "; ".join(inner))
    for keyword, branches in view.alternatives:
        word = "exactly one" if keyword == "oneOf" else "at least one"
        out.append(f"{word} of {len(branches)} alternatives ({keyword}), listed below")
    return out


def condition_text(schema):
    parts = []
    for name, sub in schema.get("properties", {}).items():
        if "const" in sub:
            parts.append(f"`{name}` is {code(sub['const'])}")
        elif "enum" in sub:
            parts.append(f"`{name}` is {join_or(sub['enum'])}")
        else:
            parts.append(f"`{name}` matches its condition")
    return " and ".join(parts) if parts else "the condition holds"


def escape(segment):
    return segment.replace("~", "~0").replace("/", "~1")


class Table:
    def __init__(self):
        self.rows = []
        self.notes = []
        self.extra = {}  # absolute path -> constraint texts from cross-field rules
        self.required_if = {}  # absolute path -> conditions that make it required

    def rule(self, rule, base):
        name = rule.get("rule")
        at = lambda key: base + rule[key]  # noqa: E731
        if name == "date-order":
            self.extra.setdefault(at("end"), []).append(f"not before `{at('start')}` (RAC-3122)")
        elif name == "not-after":
            self.extra.setdefault(at("date"), []).append(
                f"not after the date of `{at('reference')}` (RAC-3121)")
        elif name == "cf-matches-person":
            self.extra.setdefault(at("cf"), []).append(
                f"a 16-character code encodes `{at('birthDate')}` and `{at('sex')}` when they are given"
                " (RAC-3104, RAC-3105)")
        elif name == "weekly-hours":
            self.extra.setdefault(at("hours"), []).append(
                f"at most 54 when `{at('liveIn')}` is true or absent, 40 when it is false (RAC-3131)")
        elif name == "permit-required":
            self.required_if.setdefault(at("permit"), []).append(
                f"`{at('citizenship')}` is outside the EU, EEA and Switzerland (RAC-3140)")
        elif name == "same":
            self.extra.setdefault(at("b"), []).append(f"equal to `{at('a')}` when both are given (RAC-3150)")
        else:
            raise SystemExit(f"unknown x-raccordo-rules rule {name!r}")

    def walk(self, view, path, label=""):
        for rule in view.rules:
            self.rule(rule, path)
        required_if, conditional = {}, {}
        for if_schema, then_schema, else_schema, base in view.conditions:
            for text, branch in ((condition_text(if_schema), then_schema),
                                 ("not (" + condition_text(if_schema) + ")", else_schema)):
                if not branch:
                    continue
                for name in branch.get("required", []):
                    required_if.setdefault(name, []).append(text)
                for name, sub in branch.get("properties", {}).items():
                    conditional.setdefault(name, []).append((text, sub, base))
        for name, pairs in view.properties.items():
            pointer = f"{path}/{escape(name)}"
            field = merged(pairs)
            if field.forbidden:
                self.notes.append(pointer)
                continue
            if name in view.required:
                required = "yes"
            elif name in required_if:
                required = "if " + "; or if ".join(required_if[name])
            else:
                required = "no"
            texts = constraints(field)
            for text, sub, base in conditional.get(name, []):
                inner = constraints(collect(sub, base))
                if inner:
                    texts.append(f"if {text}: " + "; ".join(inner))
            description = field.descriptions[0] if field.descriptions else ""
            if label:
                description = f"({label}) {description}"
            self.rows.append([pointer, type_of(field), required, texts, description])
            self.walk(field, pointer)
            if field.items:
                item = merged(field.items)
                if item.properties or item.rules:
                    self.walk(item, pointer + "/*")
        for keyword, branches in view.alternatives:
            for number, (branch, base) in enumerate(branches, 1):
                self.walk(collect(branch, base), path, f"{keyword} alternative {number}")

    def render(self):
        def cell(text):
            return re.sub(r"\s+", " ", text).replace("|", "\\|")

        lines = ["| field | type | required | constraints | description |", "|---|---|---|---|---|"]
        for pointer, kind, required, texts, description in self.rows:
            texts = texts + self.extra.get(pointer, [])
            if pointer in self.required_if:
                condition = "; or if ".join(self.required_if[pointer])
                required = "if " + condition if required == "no" else required + "; or if " + condition
            lines.append("| " + " | ".join(cell(c) for c in (
                f"`{pointer}`", kind, required, "; ".join(texts), description)) + " |")
        if self.notes:
            lines.append("")
            lines.append("Not allowed in this type: " + ", ".join(f"`{n}`" for n in self.notes) + ".")
        return "\n".join(lines)


def envelope_table():
    table = Table()
    table.walk(collect(DOCS["envelope.v1.schema.json"], "envelope.v1.schema.json"), "")
    return table.render()


def type_table(file):
    schema = DOCS[file]
    root = collect(schema, file)
    table = Table()
    for rule in root.rules:
        table.rule(rule, "")
    data = merged(root.properties["data"])
    table.walk(data, "/data")
    # The type is the `default` of `type`, whose pattern also admits v1's minor versions.
    type_id = schema["properties"]["type"].get("default")
    dataschema = merged(root.properties["dataschema"]).keywords.get("const")
    head = (f"Schema `schemas/standard/{file}`: `type` is `{type_id}` (or a minor version of it, "
            f"`{type_id}.<n>`), `dataschema` is `{dataschema}`.\n\n")
    return head + table.render()


def sections():
    """(name, generated text) for the envelope and each message type, in document order."""
    names = [f[: -len(".v1.schema.json")] for f in DOCS if f.endswith(".v1.schema.json")]
    types = [n for n in names if n not in NOT_TYPES]
    ordered = [n for n in ORDER if n in types] + sorted(n for n in types if n not in ORDER)
    out = [("envelope", envelope_table())]
    out += [(name, type_table(f"{name}.v1.schema.json")) for name in ordered]
    return out


def block(name, text):
    return f"{BEGIN.format(name)}\n{text}\n{END.format(name)}"


def refresh(document, generated):
    """The document with each generated block replaced; the names of blocks it lacks."""
    missing = []
    for name, text in generated:
        pattern = re.compile(re.escape(BEGIN.format(name)) + r"\n(?:.*?\n)?" + re.escape(END.format(name)), re.S)
        if not pattern.search(document):
            missing.append(name)
            continue
        document = pattern.sub(lambda _: block(name, text), document)
    return document, missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", help="replace the generated blocks of FILE in place")
    group.add_argument("--check", metavar="FILE", help="exit 1 if FILE's generated blocks are stale")
    args = parser.parse_args()
    load()
    generated = sections()
    if not args.write and not args.check:
        print("\n\n".join(block(name, text) for name, text in generated))
        return 0
    path = Path(args.write or args.check)
    document = path.read_text(encoding="utf-8")
    updated, missing = refresh(document, generated)
    for name in missing:
        print(f"{path}: no block for {name}", file=sys.stderr)
    if args.check:
        stale = updated != document
        if stale:
            print(f"{path}: field tables are stale; run python3 tools/standard_fields.py --write {path}",
                  file=sys.stderr)
        return 1 if stale or missing else 0
    if updated != document:
        path.write_text(updated, encoding="utf-8")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
