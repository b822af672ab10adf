"""Every row attributable: a running digest of each attested table, carried by signed audit entries.

Each table's state has a digest: the sum, modulo 2**256, of SHA-256 of each row (a
multiset hash: order-free, and updated by adding a new row's hash and subtracting an old
one's). Temporary triggers, installed on this connection only, log every insert, update
and delete on the attested tables for ``Accumulator``; each signed audit entry carries the
change it made to each table's digest (its 'rows' field), so a bulk import of 100,000
patients costs one digest per table, not one per row.

A bulk insert (store/bulk: the demo generator) may suspend one table's insert trigger for
one executemany and hash those rows in Python instead (``Accumulator.add_rows``), only
when each row is stored exactly as given (every column in table order, every value of a
type its column keeps): the same sum, without copying a million rows into the log and
reading them back (issue 13: creation within 2x its fair floor).

``audit verify`` adds the signed changes up and compares them with the digests of the
tables as they are: a row written directly in the database (bypassing the services, so
bypassing these triggers) makes its table differ. Which role may change which table is
checked against the entry's permission and its signer's certified role.

A row's hash is SHA-256 of the table's name followed by the row's Python repr (quoted and
escaped: unambiguous), read as a big-endian integer. Trailing NULL columns are left out of
it so a later migration that appends a nullable column does not change every digest.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from contextlib import contextmanager

MOD = 2**256

# table -> key columns (for messages) ; meta is limited to the settings that matter.
# current_state is derived from events, but the exclusion file is read from it: attested too.
TABLES = ("patients", "events", "current_state", "policy", "users", "meta", "letter_templates", "code_tables",
          "registration", "practice_codes", "reconciliations", "letters")
# Tables attested only since registers holding rows in them existed (letters: a queued letter
# deleted directly was not reported). Such a register signs their digests as they stand once,
# at its next unlock (an 'adopt' entry, ``adopt_missing``); until then they are not compared.
# A table that is new in the schema starts empty and needs no adoption.
ADOPTABLE = frozenset({"letters"})
ATTESTED_META = "attested_tables"  # meta: the tables this register's trail attests (a hint; verify decides)
META_KEYS = frozenset({"ods", "practice", "register_id", "idle_lock_minutes", "manager_pub"})

# Which permissions may change each table (None: any permission a role holds; the role
# check itself is on the entry's permission). Creating and upgrading the register set the
# baseline and are checked separately.
TABLE_PERMISSIONS: dict[str, frozenset[str] | None] = {
    "patients": None,
    "events": None,
    "current_state": None,
    "policy": frozenset({"practice_optout"}),
    "users": frozenset({"manage_users"}),
    "meta": frozenset({"settings"}),
    "letter_templates": frozenset({"edit_templates"}),
    "code_tables": frozenset({"edit_codes"}),  # a wrong code table hides objections from the import
    "registration": frozenset({"import_practice_list"}),  # 'deceased' or 'deducted' stops letters
    # The practice-wide codes to add or remove (schema V5): listed when a GP turns the opt-out
    # on or off, confirmed (or recorded confirmed) only by a reconciliation.
    "practice_codes": frozenset({"practice_optout", "reconcile"}),
    "reconciliations": frozenset({"reconcile"}),
    "letters": None,  # queued by recording, marked sent by printing, cancelled by later events
}


def columns(conn, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")]


def _meta_filter(prefix: str) -> str:
    return f"{prefix}key IN ({', '.join(repr(k) for k in sorted(META_KEYS))})"


class Accumulator:
    """Per-table digest changes of the current transaction. The triggers only copy each
    changed row's values into an in-memory temporary table: no Python call per row (a
    callback from SQLite costs more than the hashing) and no string building in SQL (quote()
    and || cost more still); ``take()`` hashes and empties it. The log is part of the
    transaction, so a rollback forgets it with everything else."""

    def __init__(self):
        self.conn = None
        self.hashed: dict[str, int] = {}  # changes hashed in Python by add_rows (bulk inserts)
        self.triggers: dict[str, str] = {}  # name -> CREATE TEMP TRIGGER statement, as installed

    def take(self) -> dict[str, str]:
        if self.conn is None:
            return {}
        delta, self.hashed = self.hashed, {}
        sha, from_bytes = hashlib.sha256, int.from_bytes  # a row's hash (module docstring), inline: this loop is the bulk cost
        for row in self.conn.execute("SELECT * FROM temp.gp_attest_log"):
            n = len(row)
            while n > 2 and row[n - 1] is None:
                n -= 1
            table = row[0]
            h = from_bytes(sha((table + repr(row[2:n])).encode("utf-8", "surrogatepass")).digest(), "big")
            delta[table] = delta.get(table, 0) + row[1] * h
        self.conn.execute("DELETE FROM temp.gp_attest_log")
        return {t: format(d % MOD, "064x") for t, d in sorted(delta.items()) if d % MOD}

    def reset(self) -> None:
        self.hashed = {}
        if self.conn is not None:
            self.conn.execute("DELETE FROM temp.gp_attest_log")

    def add_rows(self, table: str, rows) -> None:
        """Add the hashes of rows just inserted into ``table`` while its insert trigger was
        suspended (``untriggered_inserts``): each row as the table stores it, every column
        in table order, so the sum is what the trigger's log would have given."""
        self.hashed[table] = self.hashed.get(table, 0) + _rows_sum(table, rows)

    @contextmanager
    def adding_rows(self, table: str, rows):
        """``add_rows`` on a thread of its own while the block runs: the block's SQLite work
        (building the search indexes) holds no GIL, so the hashing comes almost free (issue 13:
        creation). Added only once both are done; an error in either adds nothing."""
        found: dict = {}

        def work():
            try:
                found["sum"] = _rows_sum(table, rows)
            except BaseException as exc:  # why: handed to the caller's thread, raised there
                found["error"] = exc

        thread = threading.Thread(target=work, name="attest-hash", daemon=True)
        thread.start()
        try:
            yield
        finally:
            thread.join()
        if "error" in found:
            raise found["error"]
        self.hashed[table] = self.hashed.get(table, 0) + found["sum"]

    @contextmanager
    def untriggered_inserts(self, table: str):
        """Suspend ``table``'s insert trigger for one bulk executemany whose rows the caller
        then passes to ``add_rows``: copying a million rows into the log and reading them
        back cost more than hashing them. Put back however the block ends; inside a
        transaction, so a rollback restores it too."""
        name = f"gp_attest_{table}_insert"
        create = self.triggers[name]
        self.conn.execute(f"DROP TRIGGER temp.{name}")
        try:
            yield
        finally:
            self.conn.execute(create)


def _rows_sum(table: str, rows) -> int:
    """The sum of the rows' hashes (the module docstring), not yet reduced modulo MOD."""
    sha, from_bytes = hashlib.sha256, int.from_bytes  # inline: this loop is the bulk cost
    total = 0
    for values in rows:
        n = len(values)
        while n and values[n - 1] is None:
            n -= 1
        total += from_bytes(sha((table + repr(values[:n])).encode("utf-8", "surrogatepass")).digest(), "big")
    return total


_installed: dict[int, "weakref.ref[Accumulator]"] = {}


def accumulator_of(conn) -> Accumulator | None:
    """The accumulator whose triggers are installed on ``conn``, if any."""
    ref = _installed.get(id(conn))
    acc = ref() if ref is not None else None
    return acc if acc is not None and acc.conn is conn else None


def install(conn, acc: Accumulator) -> None:
    """Create the log and the temporary triggers on this connection (temp_store is MEMORY)."""
    acc.conn = conn
    _installed[id(conn)] = weakref.ref(acc)
    conn.execute("PRAGMA recursive_triggers = ON")  # so INSERT OR REPLACE reports the row it deletes
    tables = {t: columns(conn, t) for t in TABLES}
    tables = {t: c for t, c in tables.items() if c}
    width = max(len(c) for c in tables.values())
    conn.execute("DROP TABLE IF EXISTS temp.gp_attest_log")
    conn.execute(f"CREATE TEMP TABLE gp_attest_log(tbl TEXT NOT NULL, sign INTEGER NOT NULL, "
                 f"{', '.join(f'c{i}' for i in range(width))})")
    for table, cols in tables.items():
        into = f"INSERT INTO gp_attest_log(tbl, sign, {', '.join(f'c{i}' for i in range(len(cols)))})"
        new, old = ", ".join(f"NEW.{c}" for c in cols), ", ".join(f"OLD.{c}" for c in cols)
        if table == "meta":
            update = (f"{into} SELECT '{table}', -1, {old} WHERE {_meta_filter('OLD.')}; "
                      f"{into} SELECT '{table}', 1, {new} WHERE {_meta_filter('NEW.')};")
        else:
            update = f"{into} VALUES ('{table}', -1, {old}); {into} VALUES ('{table}', 1, {new});"
        for event, when, body in (
            ("INSERT", "NEW.", f"{into} VALUES ('{table}', 1, {new});"),
            ("DELETE", "OLD.", f"{into} VALUES ('{table}', -1, {old});"),
            ("UPDATE", None, update),
        ):
            guard = f" WHEN {_meta_filter(when)}" if table == "meta" and when else ""
            name = f"gp_attest_{table}_{event.lower()}"
            conn.execute(f"DROP TRIGGER IF EXISTS temp.{name}")
            acc.triggers[name] = f"CREATE TEMP TRIGGER {name} AFTER {event} ON main.{table}{guard} BEGIN {body} END"
            conn.execute(acc.triggers[name])


def table_digests(conn) -> dict[str, int]:
    """The digest of each attested table as it is now (a full scan: for verify and baselines)."""
    out = {}
    for table in TABLES:
        cols = columns(conn, table)
        if not cols:
            continue
        where = f" WHERE {_meta_filter('')}" if table == "meta" else ""
        total = 0
        sha, from_bytes = hashlib.sha256, int.from_bytes  # a row's hash, inline as in Accumulator.take
        for values in conn.execute(f"SELECT {', '.join(cols)} FROM main.{table}{where}"):
            n = len(values)
            while n and values[n - 1] is None:
                n -= 1
            total += from_bytes(sha((table + repr(values[:n])).encode("utf-8", "surrogatepass")).digest(), "big")
        out[table] = total % MOD
    return out


def baseline(conn) -> dict[str, str]:
    return {t: format(d, "064x") for t, d in table_digests(conn).items()}
