#!/usr/bin/env python3
"""Loads N messages straight into a migrated raccordo store, for benches/console.sh.

    console_load.py sqlite PATH N INDEX_KEY_HEX
    console_load.py postgres URL N INDEX_KEY_HEX

Rows as the gateway writes them, without going through intake (a million intakes take most
of an hour on the bench machine): messages of the 16 types from two job centres over the
last 30 days (the newest in the last hour), one delivery each to social-cremona and one in
ten to sui-cremona, 1 in 200 dead and 1 in 200 pending (due in a year, so the workers leave
them alone), the rest delivered; and the blind index of one codice fiscale per message
(200,000 people, about five messages each), keyed with INDEX_KEY_HEX as raccordo keys it.
"""

import hashlib
import hmac
import subprocess
import sys
import time

TYPES = [
    "worker.registered", "worker.updated", "worker.withdrawn", "vacancy.published", "vacancy.closed",
    "match.proposed", "match.outcome", "employment.started", "employment.changed", "employment.ended",
    "permit.verification.requested", "permit.status", "subsidy.granted", "subsidy.revoked",
    "care.monitoring.recorded", "receipt",
]
PEOPLE = 200_000
DAY_MS = 86_400_000


def codice_fiscale(n):
    """A codice fiscale's shape (not a valid one: the index does not care), one per person."""
    return f"BNCPRS{n % PEOPLE:06d}ABCD"


def rows(count, key):
    now = int(time.time() * 1000)
    step = 30 * DAY_MS / count
    for n in range(1, count + 1):
        received = now - int((count - n) * step) - 1000
        sender, source = ("cpi-cremona", "urn:raccordo:cpi:CR01") if n % 3 else ("cpi-crema", "urn:raccordo:cpi:CR02")
        message = (n, f"bench-{n:07d}", source, f"sender-{n}", sender, TYPES[n % len(TYPES)], "canonical", received)
        status = "dead" if n % 200 == 0 else "pending" if n % 200 == 1 else "delivered"
        deliveries = [(f"d-{n}-s", n, "social-cremona", status, received)]
        if n % 10 == 0:
            deliveries.append((f"d-{n}-p", n, "sui-cremona", "delivered", received))
        digest = hmac.new(key, codice_fiscale(n).encode(), hashlib.sha256).hexdigest()[:32]
        yield message, deliveries, digest


def delivery_values(delivery):
    id_, seq, party, status, received = delivery
    finished = None if status == "pending" else received + 500
    due = received + 365 * DAY_MS if status == "pending" else received
    error = "HTTP 503" if status != "delivered" else None
    return (id_, seq, party, "canonical", status, 1, due, error, received, finished)


def load_sqlite(path, count, key):
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    messages, deliveries, index = [], [], []

    def flush():
        db.executemany(
            "INSERT INTO messages (seq, id, source, message_id, sender, type, profile, received_at, original, "
            "canonical, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, x'7b7d', '{}', '{}')",
            messages,
        )
        db.executemany(
            "INSERT INTO deliveries (id, message_seq, party, profile, status, attempts, next_attempt_at, "
            "last_error, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            deliveries,
        )
        db.executemany("INSERT INTO subject_index (digest, message_seq) VALUES (?, ?)", index)
        messages.clear()
        deliveries.clear()
        index.clear()

    for message, message_deliveries, digest in rows(count, key):
        messages.append(message)
        deliveries.extend(delivery_values(d) for d in message_deliveries)
        index.append((digest, message[0]))
        if len(messages) == 50_000:
            flush()
    flush()
    db.commit()
    db.close()


def copy(url, table, columns, lines):
    process = subprocess.Popen(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", f"\\copy {table} ({columns}) FROM STDIN"],
        stdin=subprocess.PIPE,
        text=True,
    )
    for line in lines:
        process.stdin.write(line)
    process.stdin.close()
    if process.wait() != 0:
        sys.exit(f"COPY into {table} failed")


def text(value):
    return "\\N" if value is None else str(value)


def load_postgres(url, count, key):
    copy(
        url,
        "messages",
        "seq, id, source, message_id, sender, type, profile, received_at, original, canonical, answer",
        ("\t".join(map(text, message)) + "\t\\\\x7b7d\t{}\t{}\n" for message, _, _ in rows(count, key)),
    )
    copy(
        url,
        "deliveries",
        "id, message_seq, party, profile, status, attempts, next_attempt_at, last_error, created_at, finished_at",
        ("\t".join(map(text, delivery_values(d))) + "\n" for _, ds, _ in rows(count, key) for d in ds),
    )
    copy(url, "subject_index", "digest, message_seq", (f"{digest}\t{m[0]}\n" for m, _, digest in rows(count, key)))
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
         "SELECT setval(pg_get_serial_sequence('messages', 'seq'), (SELECT max(seq) FROM messages)); "
         "ANALYZE messages; ANALYZE deliveries; ANALYZE subject_index;"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main():
    kind, target, count, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4])
    started = time.monotonic()
    if kind == "sqlite":
        load_sqlite(target, count, key)
    else:
        load_postgres(target, count, key)
    print(f"loaded {count:,} messages into {kind} in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
