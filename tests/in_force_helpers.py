"""Confirm events as a reconciliation would (the code found in the clinical system's export),
through the real store function and one audited write, for tests of received vs in force."""

from __future__ import annotations

from gp_optout_desktop.services.patients import audit_ref
from gp_optout_desktop.store import events as events_store, patients as patients_store


def confirm(session, patient_id: int, *, by: str = "reconciliation test", kind: str | None = None) -> list[int]:
    """Mark every not-yet-confirmed event of the patient (of ``kind``, if given) confirmed."""
    done = []
    with session.write("mark_coded") as ctx:
        for e in events_store.history(ctx.conn, patient_id):
            if e.confirmed_at is None and (kind is None or e.kind == kind):
                events_store.mark_confirmed(ctx.conn, e.event_id, by=by, at=session.now())
                done.append(e.event_id)
        ctx.audit("event.confirmed", audit_ref(patients_store.get(ctx.conn, patient_id)),
                  detail=f"events={len(done)} test")
    return done
