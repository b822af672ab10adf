"""An insider's toolkit for the drills: only one user's password and the register folder.

It opens that user's key slot itself (as a script would, with the app's own code as a
library), connects to the database with the data key, and edits it directly: no services,
no permission checks, no triggers unless it installs them.
"""

from __future__ import annotations

import json
from pathlib import Path

from gp_optout_desktop.store import attest, certs, database, keyfile
from gp_optout_desktop.store.audit import AuditChain, Pending, Signer


class Insider:
    def __init__(self, folder: Path, user: str, password: str):
        self.folder = Path(folder)
        self.user = user
        self.keys = keyfile.KeyFile.load(self.folder / "register.keys")
        self.slot = self.keys.try_open(user, password)
        assert self.slot is not None, "the insider's own password opens their own slot"
        self.conn = database.connect(self.folder / "register.db", self.slot.data_key)

    def close(self):
        self.conn.close()

    def sql(self, statement: str, *args):
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            rows = self.conn.execute(statement, args).fetchall()
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return rows

    def everything_readable(self) -> bytes:
        """Every byte this insider can read: the decrypted database and the key file, and
        every secret their own slot opens."""
        parts = [self.keys.path.read_bytes()]
        for table in [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]:
            for row in self.conn.execute(f"SELECT * FROM {table}"):
                parts.append(json.dumps(row, default=lambda b: b.hex() if isinstance(b, bytes) else str(b)).encode())
        for label in ("audit", "manager"):
            secret = self.slot.get(label)
            if secret:
                parts.append(secret.hex().encode())
        return b"\n".join(parts)

    def own_signer(self) -> Signer:
        """The insider's own audit key and their certificate's serial (as the app would use)."""
        seed = self.slot.get(certs.AUDIT_SECRET)
        pub = certs.raw_public(certs.audit_private(seed)).hex()
        serial = self.conn.execute("SELECT max(serial) FROM user_certs WHERE name = ? AND body LIKE ?",
                                   (self.user, f'%"audit_pub":"{pub}"%')).fetchone()[0]
        return Signer(serial, certs.audit_private(seed))

    def signed_write(self, statement: str, *args, perm: str, action: str, role: str) -> None:
        """The most careful insider: makes the change with the app's triggers installed and
        appends a properly chained entry signed with their own key, claiming ``perm``."""
        acc = attest.Accumulator()
        attest.install(self.conn, acc)
        chain = AuditChain(None, self.own_signer(), self.keys.register_id, acc)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(statement, args)
            chain.append_batch(self.conn, [Pending(self.user, role, action)], perm=perm)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
