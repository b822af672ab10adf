"""The placeholder adapter's rewriting (store/server/adapter.py); its use on a real server is in
tests/server/test_server_shared_sql.py."""

from __future__ import annotations

import pytest

from gp_optout_desktop.store.server.adapter import qmark_to_format


@pytest.mark.parametrize("sql, expected", [
    ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
    ("SELECT '?' , \"odd?\" FROM t WHERE x = ?", "SELECT '?' , \"odd?\" FROM t WHERE x = %s"),
    ("SELECT 'it''s ?' WHERE a LIKE ?", "SELECT 'it''s ?' WHERE a LIKE %s"),
    ("SELECT 5 % 2, '100%' WHERE a = ?", "SELECT 5 %% 2, '100%%' WHERE a = %s"),
    ("SELECT 1", "SELECT 1"),
])
def test_question_marks_outside_quotes_become_format_placeholders(sql, expected):
    assert qmark_to_format(sql) == expected


def test_unterminated_quote_is_refused():
    with pytest.raises(ValueError):
        qmark_to_format("SELECT 'oops WHERE a = ?")
