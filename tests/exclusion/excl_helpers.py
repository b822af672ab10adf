"""Helpers for the exclusion-file tests: synthetic rows, a fixed clock, an export shortcut."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_LISTED, ExclusionRow
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.exclusion.writer import write_export

TYPE1 = "827241000000103"
TYPE2 = "881561000000100"
TYPE1_WITHDRAWN = "827261000000102"
CHAIN = "12:" + "0f" * 32
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
NHS = synthetic_range(60)  # valid 999 test numbers only


def make_rows(numbers, code=TYPE1):
    return [ExclusionRow(n, code, date(2024, 1, 1 + i % 28)) for i, n in enumerate(numbers)]


def export(directory: Path, key, rows=None, *, revision=5, mode=EXCLUDE_LISTED, when=NOW, **kw):
    rows = make_rows(NHS[:10]) if rows is None else rows
    return write_export(
        directory,
        rows,
        private_key=key,
        practice_ods="F84003",
        register_revision=revision,
        mode=mode,
        audit_chain_head=CHAIN,
        generated_at=when,
        **kw,
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path -> bytes)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def fresh_state() -> Path:
    """A state file path for a consumer that has used no set yet (the state is required)."""
    import tempfile

    return Path(tempfile.mkdtemp()) / "consult-state.json"
