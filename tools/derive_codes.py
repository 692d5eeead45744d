#!/usr/bin/env python3
"""Derive mappings/codes/*.csv from the official tables (maintainers only).

Inputs: the ANPR tables copied in ../shared/reference/codici-territoriali (italia/anpr,
CC-BY-4.0) and Debian's iso-codes package (/usr/share/iso-codes/json/iso_3166-1.json,
LGPL-2.1) for the ISO 3166-1 alpha-2 and numeric codes that the ANPR table lacks.
Values are copied unchanged; rows are only selected, de-duplicated and re-ordered.
Usage: python3 tools/derive_codes.py ../shared/reference/codici-territoriali mappings/codes
"""
import csv
import json
import sys
from pathlib import Path

EU = set("AUT BEL BGR HRV CYP CZE DNK EST FIN FRA DEU GRC HUN IRL ITA LVA LTU LUX MLT NLD POL PRT ROU SVK SVN ESP SWE".split())
# Free movement without a residence permit for work: EU, plus EEA (ISL, LIE, NOR) and Switzerland.
FREE_MOVEMENT = EU | {"ISL", "LIE", "NOR", "CHE"}


def iso_date(ddmmyyyy):
    if not ddmmyyyy:
        return ""
    d, m, y = ddmmyyyy.split("/")
    return f"{y}-{m}-{d}"


def comuni(src, dst):
    rows = {}
    with open(src / "tab_comuni.derived.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter=";"):
            key = (r["CODCATASTALE"], r["CODISTAT"], r["DENOMINAZIONE_IT"], r["SIGLAPROVINCIA"])
            start, end = iso_date(r["DATAISTITUZIONE"]), iso_date(r["DATACESSAZIONE"])
            if key in rows:
                old = rows[key]
                old["valid_from"] = min(old["valid_from"], start)
                old["valid_to"] = max(old["valid_to"], end)
                old["active"] = old["active"] or r["STATO"] == "A"
            else:
                rows[key] = {"valid_from": start, "valid_to": end, "active": r["STATO"] == "A"}
    with open(dst / "comuni.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\n")
        w.writerow(["belfiore", "istat", "name", "province", "active", "valid_from", "valid_to"])
        for (belfiore, istat, name, prov), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[1]["valid_from"])):
            w.writerow([belfiore, istat, name, prov, "S" if v["active"] else "N", v["valid_from"], v["valid_to"]])


def states(src, dst):
    iso = json.load(open("/usr/share/iso-codes/json/iso_3166-1.json", encoding="utf-8"))["3166-1"]
    by_alpha3 = {c["alpha_3"]: c for c in iso}
    with open(src / "tab_Stati_Esteri.derived.csv", encoding="utf-8") as f, \
            open(dst / "states.csv", "w", encoding="utf-8", newline="") as out:
        w = csv.writer(out, delimiter=";", lineterminator="\n")
        w.writerow(["iso_alpha3", "iso_alpha2", "iso_numeric", "istat", "belfiore", "name", "citizenship", "eu", "free_movement", "valid_from", "valid_to"])
        for r in csv.DictReader(f, delimiter=";"):
            if not r["DENOMINAZIONE"]:
                continue  # one row (ISTAT 888) carries a code and nothing else
            a3 = r["CODISO3166_1_ALPHA3"]
            c = by_alpha3.get(a3, {})
            w.writerow([a3, c.get("alpha_2", ""), c.get("numeric", ""), r["CODISTAT"], r["CODAT"], r["DENOMINAZIONE"],
                        r["CITTADINANZA"], "S" if a3 in EU else "N", "S" if a3 in FREE_MOVEMENT else "N",
                        iso_date(r["DATAINIZIOVALIDITA"]), iso_date(r["DATAFINEVALIDITA"])])


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    comuni(src, dst)
    states(src, dst)
