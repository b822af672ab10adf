"""Practice settings on the server (services/settings.py): the register file's meta keys
(store/settings.py) in the practice's meta rows, values as JSON as the migration carries them
(store/server/migrate.py CARRIED_META) and as set_coding_target keeps its own."""

from __future__ import annotations

import json

from ..settings import IDLE_LOCK_KEY


class SettingsRows:
    def _meta(self, key: str):
        row = self.conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _put_meta(self, key: str, value) -> None:
        self._writing()
        self.conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s)"
                          " ON CONFLICT (practice_id, key) DO UPDATE SET value = excluded.value",
                          (key, json.dumps(value, ensure_ascii=False)))

    def idle_lock_minutes(self) -> int | None:
        value = self._meta(IDLE_LOCK_KEY)
        return None if value is None else int(value)

    def set_idle_lock_minutes(self, minutes: int) -> None:
        self._put_meta(IDLE_LOCK_KEY, int(minutes))

    def set_practice_details(self, details: dict) -> None:
        """The letterhead. A practice started on the server keeps its ODS code inside this row
        (ops.start_register): carried over, never changed here (it is fixed at creation)."""
        old = self._meta("practice") or {}
        self._put_meta("practice", {**details, **({"ods": old["ods"]} if "ods" in old else {})})
