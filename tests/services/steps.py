"""One step of a both-engine script (ADR 0015): what it returned (a refusal is a result too,
compared like any other), the audit entries it wrote (action, outcome, detail) and how far it
moved the register's revision. The scripts run the same steps on each engine and compare."""

from __future__ import annotations

from typing import Callable


def outcome(call: Callable):
    try:
        return call()
    except Exception as exc:  # the refusal is part of the result compared
        return ("refused", type(exc).__name__, str(exc), getattr(exc, "problems", ()))


def plan_shown(result):
    """A change set as its summary and plan; anything else as it is."""
    return (result.summary, result.data.get("plan")) if hasattr(result, "summary") else result


class Steps:
    def __init__(self, backend, session, shown: Callable = plan_shown):
        self.backend, self.session, self.shown, self.seen = backend, session, shown, []

    def __call__(self, action: Callable):
        before, revision = self.backend.audit_rows()[-1][0], self.session.revision()
        result = outcome(action)
        self.seen.append((self.shown(result), [(r[3], r[5], r[6]) for r in self.backend.audit_rows() if r[0] > before],
                          self.session.revision() - revision))
        return result
