#!/usr/bin/env python3
"""Builds the inps-json test pages from the readable payloads below.

The pages wrap each payload as base64-encoded JSON, as the e-service does, so they can't be
read or edited by hand. Edit this file and run it (python3 make_vectors.py) from this folder;
then regenerate each valid page's <name>.expected.json with `raccordo transform` and read it.
Invented people only; every codice fiscale has a valid check character unless a case says not.
"""
import base64
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# --- people -------------------------------------------------------------------------------

BELLANDI = {
    "codice_fiscale": "BLLFNC41C52F205M", "cognome": "BELLANDI", "nome": "FRANCA", "sesso": "F",
    "data_nascita": "1941-03-12", "luogo_nascita": "F205", "cittadinanza": "100",
    "residenza": {"codice_comune": "F205", "cap": "20129", "indirizzo": "VIALE ABRUZZI 18"},
}
CATTANEO = {
    "codice_fiscale": "CTTGRG57A30D150O", "cognome": "CATTANEO", "nome": "GIORGIO", "sesso": "M",
    "data_nascita": "1957-01-30", "luogo_nascita": "D150", "cittadinanza": "100",
    "residenza": {"codice_comune": "D150", "cap": "26100", "indirizzo": "VIA DANTE 12"},
}
FERRI = {"codice_fiscale": "FRRGNN39M42A944Y", "cognome": "FERRI", "nome": "GIOVANNA"}
ROSSETTI = {
    "codice_fiscale": "RSSNRC40L30Z133J", "cognome": "ROSSETTI", "nome": "ENRICO", "sesso": "M",
    "data_nascita": "1940-07-30", "luogo_nascita": "Z133", "cittadinanza": "100",
    "residenza": {"codice_comune": "G337", "cap": "43121", "indirizzo": "BORGO XX MARZO 7", "localita": "OLTRETORRENTE"},
}
MARCHETTI = {
    "codice_fiscale": "MRCLGU50S27H223V", "cognome": "MARCHETTI", "nome": "LUIGI", "sesso": "M",
    "data_nascita": "1950-11-27", "luogo_nascita": "H223", "cittadinanza": "100",
}

KOVALENKO = {
    "codice_fiscale": "KVLKSN78H54Z138J", "cognome": "KOVALENKO", "nome": "OKSANA", "sesso": "F",
    "data_nascita": "1978-06-14", "luogo_nascita": "Z138", "cittadinanza": "243",
    "residenza": {"codice_comune": "F205", "cap": "20129", "indirizzo": "VIALE ABRUZZI 18"},
    "permesso_soggiorno": {
        "tipo_documento": "1", "numero": "I04512377", "motivo": "LS",
        "data_rilascio": "2024-05-10", "data_scadenza": "2026-11-09", "questura": "019",
    },
}
POPESCU = {
    "codice_fiscale": "PPSNIO75D62Z129I", "cognome": "POPESCU", "nome": "IOANA", "sesso": "F",
    "data_nascita": "1975-04-22", "luogo_nascita": "Z129", "cittadinanza": "235",
    "residenza": {"codice_comune": "D150", "cap": "26100", "indirizzo": "VIA MANTOVA 40"},
}
ROSSI = {
    "codice_fiscale": "RSSMRA80A41H501Y", "cognome": "ROSSI", "nome": "MARIA", "sesso": "F",
    "data_nascita": "1980-01-01", "luogo_nascita": "H501", "cittadinanza": "100",
}
QUISPE = {  # omocodia: the last digit of the birth place is an M
    "codice_fiscale": "QSPRSO69T48Z61MI", "cognome": "QUISPE HUAMAN", "nome": "ROSA", "sesso": "F",
    "data_nascita": "1969-12-08", "luogo_nascita": "Z611", "cittadinanza": "615",
    "residenza": {"codice_comune": "G337", "cap": "43121", "indirizzo": "BORGO XX MARZO 7"},
    "permesso_soggiorno": {
        "tipo_documento": "7", "numero": "Z00987654", "motivo": "LP",
        "data_rilascio": "2019-02-11", "data_scadenza": "2099-12-31", "questura": "034",
    },
}
SANTOS = {
    "codice_fiscale": "SNTMRA80P43Z216I", "cognome": "SANTOS", "nome": "MARIA", "sesso": "F",
    "data_nascita": "1980-09-03", "luogo_nascita": "Z216", "cittadinanza": "323",
    "residenza": {"codice_comune": "H223", "cap": "42121", "indirizzo": "VIA EMILIA SAN PIETRO 21"},
    "permesso_soggiorno": {
        "tipo_documento": "3", "numero": "06012345678", "motivo": "FA",
        "data_scadenza": "2026-02-15",
    },
}


def ref(person):
    """A person as variations and terminations name them: code and names."""
    return {k: person[k] for k in ("codice_fiscale", "cognome", "nome")}


# --- payloads -----------------------------------------------------------------------------

HIRE_LIVE_IN = {
    "codice_rapporto": "40012345678",
    "data_comunicazione": "2026-03-31",
    "datore": BELLANDI,
    "lavoratore": KOVALENKO,
    "rapporto": {
        "data_inizio": "2026-04-01", "tipo_contratto": "I", "convivente": "S", "livello": "CS",
        "ore_settimanali": 54, "retribuzione": {"importo": 1350.75, "periodicita": "M"},
        "vitto": "S", "alloggio": "S", "qualifica": "5.4.4.3.0",
        "sede_lavoro": {"codice_comune": "F205", "cap": "20129", "indirizzo": "VIALE ABRUZZI 18"},
    },
}
HIRE_FIXED_TERM_HOURLY = {
    "codice_rapporto": "40012345679",
    "data_comunicazione": "2026-03-01",
    "datore": CATTANEO,
    "lavoratore": POPESCU,
    "rapporto": {
        "data_inizio": "2026-03-02", "tipo_contratto": "D", "data_fine": "2026-09-30", "convivente": "N",
        "livello": "B", "ore_settimanali": 25, "retribuzione": {"importo": 9.5, "periodicita": "O"},
        "vitto": "N", "alloggio": "N",
        "sede_lavoro": {"codice_comune": "D150", "cap": "26100", "indirizzo": "VIA DANTE 12"},
    },
}
HIRE_MINIMAL = {
    "datore": FERRI,
    "lavoratore": ROSSI,
    "rapporto": {
        "data_inizio": "2026-03-16", "tipo_contratto": "I", "livello": "A", "ore_settimanali": 20,
        "retribuzione": {"importo": 700, "periodicita": "M"},
    },
}
HIRE_BORN_ABROAD = {
    "codice_rapporto": "40012345680",
    "data_comunicazione": "2026-02-27",
    "datore": ROSSETTI,
    "lavoratore": QUISPE,
    "rapporto": {
        "data_inizio": "2026-03-01", "tipo_contratto": "I", "convivente": "S", "livello": "DS",
        "ore_settimanali": 54, "retribuzione": {"importo": 1480, "periodicita": "M"},
        "vitto": "S", "alloggio": "S", "qualifica": "5.4.4.3.0",
        "sede_lavoro": {"codice_comune": "G337", "cap": "43121", "indirizzo": "BORGO XX MARZO 7", "localita": "OLTRETORRENTE"},
    },
}
HIRE_RENEWAL_PENDING = {
    "codice_rapporto": "40012345681",
    "data_comunicazione": "2026-02-20",
    "datore": MARCHETTI,
    "lavoratore": SANTOS,
    "rapporto": {
        "data_inizio": "2026-02-23", "tipo_contratto": "I", "convivente": "N", "livello": "BS",
        "ore_settimanali": 30, "retribuzione": {"importo": 8.75, "periodicita": "O"},
        "sede_lavoro": {"codice_comune": "H223", "cap": "42121", "indirizzo": "VIA ROMA 3"},
    },
}


def rapporto(payload, **changes):
    out = copy.deepcopy(payload["rapporto"])
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


CH_HOURS_PAY = {
    "codice_rapporto": "40012345679",
    "data_comunicazione": "2026-05-28",
    "datore": ref(CATTANEO),
    "lavoratore": ref(POPESCU),
    "variazione": {"data_decorrenza": "2026-06-01", "tipi": ["ORARIO", "RETRIBUZIONE"]},
    "rapporto": rapporto(HIRE_FIXED_TERM_HOURLY, ore_settimanali=30, retribuzione={"importo": 10.25, "periodicita": "O"}),
}
CH_EXTENSION = {
    "codice_rapporto": "40012345679",
    "data_comunicazione": "2026-09-25",
    "datore": ref(CATTANEO),
    "lavoratore": ref(POPESCU),
    "variazione": {"data_decorrenza": "2026-10-01", "tipi": ["PROROGA"]},
    "rapporto": rapporto(HIRE_FIXED_TERM_HOURLY, data_fine="2026-12-31", ore_settimanali=30,
                         retribuzione={"importo": 10.25, "periodicita": "O"}),
}
CH_LIVE_IN_LEVEL = {
    "codice_rapporto": "40012345681",
    "data_comunicazione": "2026-04-28",
    "datore": ref(MARCHETTI),
    "lavoratore": ref(SANTOS),
    "variazione": {"data_decorrenza": "2026-05-01", "tipi": ["CONVIVENZA", "LIVELLO", "ORARIO", "RETRIBUZIONE"]},
    "rapporto": rapporto(HIRE_RENEWAL_PENDING, convivente="S", livello="CS", ore_settimanali=54,
                         retribuzione={"importo": 1300, "periodicita": "M"}, vitto="S", alloggio="S"),
}
CH_WORKPLACE = {
    "codice_rapporto": "40012345680",
    "data_comunicazione": "2026-04-10",
    "datore": ref(ROSSETTI),
    "lavoratore": ref(QUISPE),
    "variazione": {"data_decorrenza": "2026-04-15", "tipi": ["SEDE"]},
    "rapporto": rapporto(HIRE_BORN_ABROAD, sede_lavoro={"codice_comune": "G337", "cap": "43123", "indirizzo": "VIA MONTEBELLO  52"}),
}
CH_TRANSFORMATION = {
    "codice_rapporto": "40012345679",
    "data_comunicazione": "2026-06-26",
    "datore": ref(CATTANEO),
    "lavoratore": ref(POPESCU),
    "variazione": {"data_decorrenza": "2026-07-01", "tipi": ["TRASFORMAZIONE"]},
    "rapporto": rapporto(HIRE_FIXED_TERM_HOURLY, tipo_contratto="I", data_fine=None, ore_settimanali=30,
                         retribuzione={"importo": 10.25, "periodicita": "O"}),
}

END_RESIGNATION = {
    "codice_rapporto": "40012345678",
    "data_comunicazione": "2026-11-03",
    "datore": ref(BELLANDI),
    "lavoratore": ref(KOVALENKO),
    "rapporto": {"data_inizio": "2026-04-01"},
    "cessazione": {"data_cessazione": "2026-10-31", "motivo": "DI", "preavviso": "S"},
}
END_TERM = {
    "codice_rapporto": "40012345679",
    "datore": ref(CATTANEO),
    "lavoratore": ref(POPESCU),
    "rapporto": {"data_inizio": "2026-03-02"},
    "cessazione": {"data_cessazione": "2026-12-31", "motivo": "TC"},
}
END_ASSISTED_DECEASED = {
    "codice_rapporto": "40012345680",
    "data_comunicazione": "2026-08-17",
    "datore": ref(ROSSETTI),
    "lavoratore": ref(QUISPE),
    "rapporto": {"data_inizio": "2026-03-01"},
    "cessazione": {"data_cessazione": "2026-08-14", "motivo": "DA", "preavviso": "N"},
}
END_EMPLOYER_DECEASED = {
    "codice_rapporto": "40012345681",
    "data_comunicazione": "2026-09-02",
    "datore": ref(MARCHETTI),
    "lavoratore": ref(SANTOS),
    "rapporto": {"data_inizio": "2026-02-23"},
    "cessazione": {"data_cessazione": "2026-08-30", "motivo": "DD", "preavviso": "N"},
}
END_TRIAL = {
    "datore": ref(FERRI),
    "lavoratore": ref(ROSSI),
    "rapporto": {"data_inizio": "2026-03-16"},
    "cessazione": {"data_cessazione": "2026-03-16", "motivo": "PP"},
}


def with_changes(payload, changes):
    """A deep copy of payload with `changes` applied: {"/a/b": value} (None deletes)."""
    out = copy.deepcopy(payload)
    for pointer, value in changes.items():
        keys = pointer.strip("/").split("/")
        node = out
        for key in keys[:-1]:
            node = node[key]
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return out


# --- pages --------------------------------------------------------------------------------

MS = {"2026-03-31T14:42:10.512Z": 1774968130512}


def record(code, kind, ts, payload, raw=None):
    encoded = raw if raw is not None else base64.b64encode(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).decode("ascii")
    return {"codice_comunicazione": code, "tipo_comunicazione": kind, "ts_comunicazione": ts, "payload": encoded}


def unix_ms(ts):
    from datetime import datetime
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def page(records):
    out = {"elenco_comunicazioni": records}
    if records:
        out["next_since"] = unix_ms(records[-1]["ts_comunicazione"])
    return out


def write(path, document, text=None):
    path = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text if text is not None else json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def started():
    t = "employment.started"
    write(f"{t}/valid/page-three-hirings.json", page([
        record("AS2026000123456", "ASSUNZIONE", "2026-03-31T14:42:10.512Z", HIRE_LIVE_IN),
        record("AS2026000123501", "ASSUNZIONE", "2026-03-31T15:03:44.020Z", HIRE_FIXED_TERM_HOURLY),
        record("AS2026000123502", "ASSUNZIONE", "2026-03-31T15:10:00.000Z", HIRE_MINIMAL),
    ]))
    write(f"{t}/valid/page-born-abroad-omocodia-and-renewal.json", page([
        record("AS2026000117001", "ASSUNZIONE", "2026-02-27T09:00:05Z", HIRE_BORN_ABROAD),
        record("AS2026000116230", "ASSUNZIONE", "2026-02-20T17:31:59+01:00", HIRE_RENEWAL_PENDING),
    ]))
    write(f"{t}/valid/page-empty.json", {"elenco_comunicazioni": []})
    # invalid: each page mixes good records with bad ones; only the bad ones' errors count
    good = record("AS2026000123456", "ASSUNZIONE", "2026-03-31T14:42:10.512Z", HIRE_LIVE_IN)
    bad = lambda code, payload: record(code, "ASSUNZIONE", "2026-03-31T15:00:00Z", payload)
    write(f"{t}/invalid/worker-cf-checksum.json", page([
        good, bad("AS2026000123601", with_changes(HIRE_FIXED_TERM_HOURLY, {"/lavoratore/codice_fiscale": "PPSNIO75D62Z129X"}))]))
    write(f"{t}/invalid/hours-over-limit-not-live-in.json", page([
        bad("AS2026000123602", with_changes(HIRE_FIXED_TERM_HOURLY, {"/rapporto/ore_settimanali": 45})), good]))
    write(f"{t}/invalid/start-date-italian-form.json", page([
        good, bad("AS2026000123603", with_changes(HIRE_MINIMAL, {"/rapporto/data_inizio": "16/03/2026"}))]))
    write(f"{t}/invalid/unknown-permit-reason.json", page([
        good, bad("AS2026000123604", with_changes(HIRE_LIVE_IN, {"/lavoratore/permesso_soggiorno/motivo": "XX"}))]))
    write(f"{t}/invalid/non-eu-worker-without-permit.json", page([
        good, bad("AS2026000123605", with_changes(HIRE_LIVE_IN, {"/lavoratore/permesso_soggiorno": None}))]))
    write(f"{t}/invalid/fixed-term-without-end-date.json", page([
        good, bad("AS2026000123606", with_changes(HIRE_FIXED_TERM_HOURLY, {"/rapporto/data_fine": None}))]))
    write(f"{t}/invalid/unknown-workplace-comune.json", page([
        good, bad("AS2026000123607", with_changes(HIRE_LIVE_IN, {"/rapporto/sede_lavoro/codice_comune": "Y999"}))]))
    write(f"{t}/invalid/payload-not-base64.json", page([
        good, record("AS2026000123608", "ASSUNZIONE", "2026-03-31T15:00:00Z", None, raw="eyJkYXRvcmUiOn*not-base64*")]))
    write(f"{t}/invalid/payload-not-an-object.json", page([
        good, record("AS2026000123609", "ASSUNZIONE", "2026-03-31T15:00:00Z", ["not", "an", "object"])]))
    write(f"{t}/invalid/unknown-communication-type.json", page([
        good, record("AN2026000123610", "ANNULLAMENTO", "2026-03-31T15:00:00Z", HIRE_MINIMAL)]))
    write(f"{t}/invalid/page-not-json.json", None, text='{"elenco_comunicazioni": [\n  {"codice_comunicazione": "AS2026000123456",\n')
    write(f"{t}/invalid/page-without-records.json", {"elenco_flussi": []})


def changed():
    t = "employment.changed"
    write(f"{t}/valid/page-hours-pay-and-extension.json", page([
        record("VA2026000200011", "VARIAZIONE", "2026-05-28T08:15:00Z", CH_HOURS_PAY),
        record("VA2026000200412", "VARIAZIONE", "2026-09-25T10:01:30Z", CH_EXTENSION),
    ]))
    write(f"{t}/valid/page-live-in-level-workplace-transformation.json", page([
        record("VA2026000200101", "VARIAZIONE", "2026-04-10T11:20:00Z", CH_WORKPLACE),
        record("VA2026000200150", "VARIAZIONE", "2026-04-28T16:45:12Z", CH_LIVE_IN_LEVEL),
        record("VA2026000200300", "VARIAZIONE", "2026-06-26T09:00:00Z", CH_TRANSFORMATION),
    ]))
    write(f"{t}/valid/page-mixed-types.json", page([
        record("AS2026000123501", "ASSUNZIONE", "2026-03-01T15:03:44Z", HIRE_FIXED_TERM_HOURLY),
        record("VA2026000200011", "VARIAZIONE", "2026-05-28T08:15:00Z", CH_HOURS_PAY),
        record("CE2026000300020", "CESSAZIONE", "2027-01-04T08:00:00Z", END_TERM),
    ]))
    good = record("VA2026000200011", "VARIAZIONE", "2026-05-28T08:15:00Z", CH_HOURS_PAY)
    bad = lambda code, payload: record(code, "VARIAZIONE", "2026-05-29T08:00:00Z", payload)
    write(f"{t}/invalid/effective-before-start.json", page([
        good, bad("VA2026000200501", with_changes(CH_HOURS_PAY, {"/variazione/data_decorrenza": "2026-02-01"}))]))
    write(f"{t}/invalid/unknown-change-type.json", page([
        good, bad("VA2026000200502", with_changes(CH_HOURS_PAY, {"/variazione/tipi": ["ORARIO", "FERIE"]}))]))
    write(f"{t}/invalid/no-change-type.json", page([
        bad("VA2026000200503", with_changes(CH_HOURS_PAY, {"/variazione/tipi": []})), good]))
    write(f"{t}/invalid/employer-cf-too-short.json", page([
        good, bad("VA2026000200504", with_changes(CH_HOURS_PAY, {"/datore/codice_fiscale": "CTTGRG57A30D150"}))]))
    write(f"{t}/invalid/pay-with-decimal-comma.json", page([
        good, bad("VA2026000200505", with_changes(CH_HOURS_PAY, {"/rapporto/retribuzione/importo": "10,25"}))]))
    write(f"{t}/invalid/unknown-ccnl-level.json", page([
        good, bad("VA2026000200506", with_changes(CH_LIVE_IN_LEVEL, {"/rapporto/livello": "E"}))]))


def ended():
    t = "employment.ended"
    write(f"{t}/valid/page-resignation-end-of-term-deceased.json", page([
        record("CE2026000300007", "CESSAZIONE", "2026-08-17T07:59:00Z", END_ASSISTED_DECEASED),
        record("CE2026000300011", "CESSAZIONE", "2026-11-03T12:30:00Z", END_RESIGNATION),
        record("CE2026000300020", "CESSAZIONE", "2027-01-04T08:00:00Z", END_TERM),
    ]))
    write(f"{t}/valid/page-employer-deceased.json", page([
        record("CE2026000300009", "CESSAZIONE", "2026-09-02T10:10:10+02:00", END_EMPLOYER_DECEASED),
    ]))
    write(f"{t}/valid/page-trial-failed-same-day.json", page([
        record("CE2026000300001", "CESSAZIONE", "2026-03-17T09:00:00Z", END_TRIAL),
    ]))
    good = record("CE2026000300011", "CESSAZIONE", "2026-11-03T12:30:00Z", END_RESIGNATION)
    bad = lambda code, payload: record(code, "CESSAZIONE", "2026-11-04T08:00:00Z", payload)
    write(f"{t}/invalid/end-before-start.json", page([
        good, bad("CE2026000300101", with_changes(END_RESIGNATION, {"/cessazione/data_cessazione": "2026-03-31"}))]))
    write(f"{t}/invalid/unknown-reason.json", page([
        good, bad("CE2026000300102", with_changes(END_RESIGNATION, {"/cessazione/motivo": "ZZ"}))]))
    write(f"{t}/invalid/notice-flag-as-word.json", page([
        good, bad("CE2026000300103", with_changes(END_RESIGNATION, {"/cessazione/preavviso": "SI"}))]))
    write(f"{t}/invalid/worker-cf-checksum.json", page([
        bad("CE2026000300104", with_changes(END_RESIGNATION, {"/lavoratore/codice_fiscale": "KVLKSN78H54Z138K"})), good]))
    write(f"{t}/invalid/without-end-date.json", page([
        good, bad("CE2026000300105", with_changes(END_RESIGNATION, {"/cessazione/data_cessazione": None}))]))
    write(f"{t}/invalid/relationship-code-not-numeric.json", page([
        good, bad("CE2026000300106", with_changes(END_RESIGNATION, {"/codice_rapporto": "REL-4001234"}))]))


if __name__ == "__main__":
    started()
    changed()
    ended()
