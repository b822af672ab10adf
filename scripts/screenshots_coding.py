"""Render the Coding and Reconcile screens to PNG for docs/screenshots/ (manager_coding_*,
manager_reconcile*), on a demo register of synthetic patients, as screenshots_manager.py does.

The clinical system's export is generated from the demo register itself: most objectors are
coded there, some are not (a), one withdrew only in the clinical system (c), and two patients
arrived by GP2GP (b). Synthetic 999 NHS numbers only.

    .venv/bin/python scripts/screenshots_coding.py [--out docs/screenshots] [--patients 2000]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from screenshots import settle, wait_for  # noqa: E402  (part 1's helpers, same folder)

SNOMED = {("type1", "register"): "827241000000103", ("type1", "withdraw"): "827261000000102",
          ("type2", "register"): "881561000000100", ("type2", "withdraw"): "881581000000109"}


def write_export(session, path: Path) -> None:
    """An EMIS-shaped search export built from the register's own events."""
    from gp_optout_desktop.domain.nhs_number import display, synthetic_range

    rows = session.register.conn.execute(
        "SELECT p.nhs, p.surname, p.forenames, p.dob, p.postcode, e.kind, e.action, e.effective, e.patient_id"
        " FROM events e JOIN patients p ON p.id = e.patient_id WHERE e.kind IN ('type1', 'type2')"
        " AND p.nhs IS NOT NULL ORDER BY e.patient_id, e.id").fetchall()
    patients_seen = sorted({r[8] for r in rows})
    uncoded = set(patients_seen[::25])  # never keyed: (a)
    objecting = [r[0] for r in session.register.conn.execute(
        "SELECT patient_id FROM current_state WHERE kind = 'type1' AND active = 1 ORDER BY patient_id")]
    withdrew = next(p for p in objecting[3:] if p not in uncoded)  # withdrew only in the clinical system: (c)
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(("NHS Number", "Surname", "Forename", "Date of Birth", "Postcode", "SNOMED Code", "Event Date"))
        done_withdrawal = False
        for nhs, surname, forenames, dob, postcode, kind, action, effective, pid in rows:
            if pid in uncoded:
                continue
            w.writerow((display(nhs), surname, forenames, dob, postcode, SNOMED[(kind, action)], effective))
            if pid == withdrew and kind == "type1" and action == "register" and not done_withdrawal:
                done_withdrawal = True
                w.writerow((display(nhs), surname, forenames, dob, postcode, SNOMED[("type1", "withdraw")],
                            "2026-11-30"))
        for nhs, surname, forenames, dob in zip(synthetic_range(820_000)[-2:], ("Parry", "Okafor"), ("Gwen", "Chidi"),
                                                ("1948-04-12", "1990-02-02")):
            w.writerow((display(nhs), surname, forenames, dob, "LL57 2PW", SNOMED[("type1", "register")], "2019-03-01"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    parser.add_argument("--patients", type=int, default=2000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from gp_optout_desktop.services import demo
    from gp_optout_desktop.ui.main_window import MainWindow
    from gp_optout_desktop.ui.screens import _paths

    app = QApplication.instance() or QApplication(["screenshots"])
    tmp = Path(tempfile.mkdtemp(prefix="gp-optout-shots-"))
    session, _recovery, _stats = demo.create_demo(tmp / "register", args.patients)
    export = tmp / "clinical-system-export.csv"
    write_export(session, export)
    session.lock()
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(tmp / "register", settings)
    window.resize(1366, 768)
    window.show()
    settle(app)

    def shot(name: str) -> None:
        settle(app, 0.5)
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    def open_screen(title: str):
        titles = [window.nav.item(i).text() for i in range(window.nav.count())]
        window.nav.setCurrentRow(titles.index(title))
        widget = window.screens.currentWidget()
        wait_for(app, lambda: not getattr(widget, "busy", False), 120)
        settle(app)
        return widget

    window.unlock.prepare("manager")
    window.unlock.user.setText("manager")
    window.unlock.password.setText("manager-demo-pass")
    window.unlock.submit()
    wait_for(app, lambda: window.session is not None)
    settle(app)

    open_screen("Coding")
    shot("manager_coding_worklist")
    reconcile = open_screen("Reconcile")
    _paths.set_next_path(export)
    reconcile.choose_button.click()
    wait_for(app, lambda: not reconcile.busy, 120)
    settle(app)
    shot("manager_reconcile")
    open_screen("Coding")
    shot("manager_coding_after_reconcile")
    open_screen("Overview")
    shot("manager_overview_reconciled")
    window.lock()
    settle(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
