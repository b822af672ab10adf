"""Render the patient view's three states to PNG for docs/screenshots/ (patient_received,
patient_marked, patient_in_force): an objection received, then marked coded by someone, then
confirmed in the clinical system (as a reconciliation of the clinical system's export does).

Builds a demo register of synthetic patients in a temporary folder and drives the real
window (offscreen, or under Xvfb if DISPLAY is set) at 1366x768.

    .venv/bin/python scripts/screenshots_in_force.py [--out docs/screenshots] [--patients 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from screenshots import settle, wait_for  # noqa: E402  (part 1's helpers, same folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    parser.add_argument("--patients", type=int, default=300)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from gp_optout_desktop.services import demo, objections, patients
    from gp_optout_desktop.services.patients import audit_ref
    from gp_optout_desktop.store import events as events_store, patients as patients_store
    from gp_optout_desktop.ui.main_window import MainWindow
    from gp_optout_desktop.ui.screens import _paths

    app = QApplication.instance() or QApplication(["screenshots"])
    tmp = Path(tempfile.mkdtemp(prefix="gp-optout-shots-"))
    session, _recovery, _stats = demo.create_demo(tmp / "register", args.patients)
    session.lock()
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue(f"demo/{tmp / 'register'}", True)
    window = MainWindow(tmp / "register", settings)
    window.resize(1366, 768)
    window.show()
    settle(app)
    window.unlock.prepare("reception")
    window.unlock.password.setText("reception-demo-pass")
    window.unlock.submit()
    wait_for(app, lambda: window.session is not None)
    desk = window.session

    def shot(name: str) -> None:
        window.desk.open_patient(pid)
        settle(app, 0.5)
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    # A demo patient with nothing recorded yet.
    pid = next(p for prefix in "bcdehjklmnoprstw" for p in patients.find_ids(desk, prefix, 200)
               if not patients.view(desk, p).history)
    objections.record(desk, pid, via="post", received=date.today(), effective=date.today())
    shot("patient_received")
    objections.mark_coded(desk, patients.view(desk, pid).history[0].event_id)
    shot("patient_marked")
    # What a reconciliation does when it finds the code in the clinical system's export.
    with desk.write("mark_coded") as ctx:
        for e in events_store.history(ctx.conn, pid):
            events_store.mark_confirmed(ctx.conn, e.event_id, by="reconciliation (demo)", at=desk.now())
        ctx.audit("event.confirmed", audit_ref(patients_store.get(ctx.conn, pid)), detail="demo screenshot")
    shot("patient_in_force")

    # The practice manager prints today's letters: objections still pending go out as
    # acknowledgements, and the confirmations they promise wait for their codes.
    window.lock()
    settle(app)
    window.unlock.prepare("manager")
    window.unlock.user.setText("manager")
    window.unlock.password.setText("manager-demo-pass")
    window.unlock.submit()
    wait_for(app, lambda: window.session is not None)
    manager = window.session
    others = [p for prefix in "hjklm" for p in patients.find_ids(manager, prefix, 50)
              if not patients.view(manager, p).history][:2]
    fresh = [lid for p in others for lid in objections.record(manager, p, via="post").letter_ids]
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    window.nav.setCurrentRow(titles.index("Letters"))
    letters = window.screens.currentWidget()
    wait_for(app, lambda: not letters.busy, 120)
    letters.refresh()
    wait_for(app, lambda: not letters.busy, 120)
    flags = letters.table.selectionModel().SelectionFlag
    letters.table.clearSelection()
    for row, letter in enumerate(letters.model.rows):
        if letter.letter_id in fresh:
            letters.table.selectionModel().select(letters.model.index(row, 0), flags.Select | flags.Rows)
    _paths.set_next_path(tmp / "acknowledgements.pdf")
    letters.pdf_button.click()
    wait_for(app, lambda: not letters.busy, 120)
    settle(app, 0.5)
    path = args.out / "manager_letters_held.png"
    window.grab().save(str(path))
    print(path)
    window.lock()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
