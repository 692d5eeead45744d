#!/usr/bin/env python3
"""Builds the inps-flat test files: the same communications as the inps-json vectors
(imported from ../inps-json/make_vectors.py), laid out as fixed-width records.

Run it from this folder (python3 make_vectors.py); then regenerate each valid file's
<name>.expected.json with `raccordo transform` and read it. Files are Windows-1252 with CRLF
line ends, as the legacy file is.
"""
import copy
import importlib.util
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("ij", os.path.join(HERE, "..", "inps-json", "make_vectors.py"))
ij = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ij)

PROFILE = os.path.join(HERE, "..", "..", "..", "mappings", "inps-flat", "profile.toml")
LAYOUT = [(m.group(1), int(m.group(2)), m.group(3) is not None)
          for m in re.finditer(r'name = "(\w+)", length = (\d+)(, align = "right")?', open(PROFILE).read())]
WIDTH = sum(length for _, length, _ in LAYOUT)

CHANGE_CODES = {"PROROGA": "PR", "TRASFORMAZIONE": "TR", "ORARIO": "OR", "RETRIBUZIONE": "RE",
                "LIVELLO": "LI", "CONVIVENZA": "CO", "SEDE": "SE"}


def day(text):
    return text.replace("-", "") if text else None


def comma(number, width):
    """An amount with two decimals and a decimal comma, zero-padded on the left."""
    return f"{number:0{width}.2f}".replace(".", ",")


def fields(kind, code, payload):
    """The record's fields (name -> text) from a readable inps-json payload."""
    out = {"tipo_record": kind, "codice_comunicazione": code,
           "data_comunicazione": day(payload.get("data_comunicazione")),
           "codice_rapporto": payload.get("codice_rapporto")}
    for who in ("datore", "lavoratore"):
        person = payload.get(who, {})
        for key in ("codice_fiscale", "cognome", "nome", "sesso", "luogo_nascita", "cittadinanza"):
            out[f"{who}_{key}"] = person.get(key)
        out[f"{who}_data_nascita"] = day(person.get("data_nascita"))
        home = person.get("residenza", {})
        out[f"{who}_comune"], out[f"{who}_cap"], out[f"{who}_indirizzo"] = (
            home.get("codice_comune"), home.get("cap"), home.get("indirizzo"))
    permit = payload.get("lavoratore", {}).get("permesso_soggiorno", {})
    out.update({"permesso_tipo": permit.get("tipo_documento"), "permesso_numero": permit.get("numero"),
                "permesso_motivo": permit.get("motivo"), "permesso_data_rilascio": day(permit.get("data_rilascio")),
                "permesso_data_scadenza": day(permit.get("data_scadenza")), "permesso_questura": permit.get("questura")})
    terms = payload.get("rapporto", {})
    pay = terms.get("retribuzione", {})
    workplace = terms.get("sede_lavoro", {})
    out.update({
        "data_inizio": day(terms.get("data_inizio")), "tipo_contratto": terms.get("tipo_contratto"),
        "data_fine": day(terms.get("data_fine")), "convivente": terms.get("convivente"), "livello": terms.get("livello"),
        "ore_settimanali": comma(terms["ore_settimanali"], 5) if "ore_settimanali" in terms else None,
        "retribuzione": comma(pay["importo"], 10) if "importo" in pay else None,
        "periodicita": pay.get("periodicita"), "vitto": terms.get("vitto"), "alloggio": terms.get("alloggio"),
        "qualifica": terms.get("qualifica"), "sede_comune": workplace.get("codice_comune"),
        "sede_cap": workplace.get("cap"), "sede_indirizzo": workplace.get("indirizzo"),
    })
    change = payload.get("variazione", {})
    out["data_decorrenza"] = day(change.get("data_decorrenza"))
    end = payload.get("cessazione", {})
    out.update({"data_cessazione": day(end.get("data_cessazione")), "motivo_cessazione": end.get("motivo"),
                "preavviso": end.get("preavviso")})
    return out


def line(values):
    text = ""
    for name, length, right in LAYOUT:
        value = values.get(name) or ""
        if len(value) > length:
            raise ValueError(f"{name}: {value!r} is longer than {length}")
        text += value.rjust(length, "0" if value else " ") if right else value.ljust(length)
    assert len(text) == WIDTH
    return text


def records(kind, code, payload, **override):
    """One line, or for a variation one line per variation type (the file carries one each)."""
    values = fields(kind, code, payload)
    values.update(override)
    if kind != "V" or "tipo_variazione" in override:
        return [line(values)]
    out = []
    for index, change in enumerate(payload["variazione"]["tipi"]):
        per_change = dict(values, tipo_variazione=CHANGE_CODES[change])
        if index:
            per_change["codice_comunicazione"] = f"{code[:-2]}{int(code[-2:]) + index:02d}"
        out.append(line(per_change))
    return out


def write(path, lines):
    path = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write("".join(text + "\r\n" for text in lines).encode("windows-1252"))


def main():
    A, V, C = "A", "V", "C"
    nicolo = copy.deepcopy(ij.HIRE_MINIMAL)
    # An employer whose name needs Windows-1252: NICOLÒ D'ANGELO (codice fiscale from the
    # letters only: DNG NCL).
    nicolo["datore"] = {"codice_fiscale": "DNGNCL52D10D612I", "cognome": "D'ANGELO", "nome": "NICOLÒ"}

    t = "employment.started"
    write(f"{t}/valid/three-hirings.txt",
          records(A, "AS2026000123456", ij.HIRE_LIVE_IN) + records(A, "AS2026000123501", ij.HIRE_FIXED_TERM_HOURLY)
          + records(A, "AS2026000123502", ij.HIRE_MINIMAL))
    write(f"{t}/valid/born-abroad-omocodia-and-renewal.txt",
          records(A, "AS2026000117001", ij.HIRE_BORN_ABROAD) + records(A, "AS2026000116230", ij.HIRE_RENEWAL_PENDING))
    write(f"{t}/valid/accented-employer-name.txt", records(A, "AS2026000123777", nicolo))
    good = records(A, "AS2026000123456", ij.HIRE_LIVE_IN)
    write(f"{t}/invalid/short-line.txt", good + [records(A, "AS2026000123601", ij.HIRE_MINIMAL)[0][:-40]] + records(A, "AS2026000123502", ij.HIRE_MINIMAL))
    write(f"{t}/invalid/worker-cf-checksum.txt", good + records(A, "AS2026000123602", ij.HIRE_FIXED_TERM_HOURLY, lavoratore_codice_fiscale="PPSNIO75D62Z129X"))
    write(f"{t}/invalid/start-date-with-slashes.txt", good + records(A, "AS2026000123603", ij.HIRE_MINIMAL, data_inizio="2026/3/1"))
    write(f"{t}/invalid/pay-with-thousands-separator.txt", good + records(A, "AS2026000123604", ij.HIRE_LIVE_IN, retribuzione="001.350,75"))
    write(f"{t}/invalid/hours-over-limit-not-live-in.txt", records(A, "AS2026000123605", ij.HIRE_FIXED_TERM_HOURLY, ore_settimanali="45,00") + good)
    write(f"{t}/invalid/unknown-permit-document-type.txt", good + records(A, "AS2026000123606", ij.HIRE_LIVE_IN, permesso_tipo="9"))
    write(f"{t}/invalid/unknown-record-type.txt", good + records("X", "AS2026000123607", ij.HIRE_MINIMAL))

    t = "employment.changed"
    write(f"{t}/valid/hours-and-pay-as-two-records-then-extension.txt",
          records(V, "VA2026000200011", ij.CH_HOURS_PAY) + records(V, "VA2026000200412", ij.CH_EXTENSION))
    write(f"{t}/valid/live-in-level-workplace-transformation.txt",
          records(V, "VA2026000200101", ij.CH_WORKPLACE) + records(V, "VA2026000200150", ij.CH_LIVE_IN_LEVEL)
          + records(V, "VA2026000200300", ij.CH_TRANSFORMATION))
    write(f"{t}/valid/mixed-record-types.txt",
          records(A, "AS2026000123501", ij.HIRE_FIXED_TERM_HOURLY) + records(V, "VA2026000200412", ij.CH_EXTENSION)
          + records(C, "CE2026000300020", ij.END_TERM))
    good = records(V, "VA2026000200412", ij.CH_EXTENSION)
    write(f"{t}/invalid/unknown-variation-code.txt", good + records(V, "VA2026000200501", ij.CH_HOURS_PAY, tipo_variazione="FE"))
    write(f"{t}/invalid/effective-before-start.txt", good + records(V, "VA2026000200502", ij.CH_EXTENSION, data_decorrenza="20260201"))
    write(f"{t}/invalid/unknown-ccnl-level.txt", records(V, "VA2026000200503", ij.CH_LIVE_IN_LEVEL, livello="E", tipo_variazione="LI") + good)
    write(f"{t}/invalid/long-line.txt", good + [records(V, "VA2026000200504", ij.CH_EXTENSION)[0] + "   "])

    t = "employment.ended"
    write(f"{t}/valid/resignation-end-of-term-deceased.txt",
          records(C, "CE2026000300007", ij.END_ASSISTED_DECEASED) + records(C, "CE2026000300011", ij.END_RESIGNATION)
          + records(C, "CE2026000300020", ij.END_TERM))
    write(f"{t}/valid/employer-deceased.txt", records(C, "CE2026000300009", ij.END_EMPLOYER_DECEASED))
    write(f"{t}/valid/trial-failed-same-day.txt", records(C, "CE2026000300001", ij.END_TRIAL))
    good = records(C, "CE2026000300011", ij.END_RESIGNATION)
    write(f"{t}/invalid/unknown-reason.txt", good + records(C, "CE2026000300102", ij.END_RESIGNATION, motivo_cessazione="ZZ"))
    write(f"{t}/invalid/end-before-start.txt", good + records(C, "CE2026000300101", ij.END_RESIGNATION, data_cessazione="20260331"))
    write(f"{t}/invalid/end-date-not-a-day.txt", good + records(C, "CE2026000300103", ij.END_RESIGNATION, data_cessazione="20260231"))
    write(f"{t}/invalid/notice-flag-unknown.txt", records(C, "CE2026000300104", ij.END_RESIGNATION, preavviso="X") + good)


if __name__ == "__main__":
    main()
