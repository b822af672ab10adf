"""Screenshots of the front desk's wrong-patient defences for the user guide: two matches and
nobody opened, the dependants list (ages, an adult greyed), every problem shown at once.

    .venv/bin/python scripts/screenshots_desk.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from screenshots import settle, wait_for  # noqa: E402  (part 1's helpers, same folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    args = parser.parse_args(argv)
    from gp_optout_desktop.domain import nhs_number
    from gp_optout_desktop.services import demo, patients
    from gp_optout_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["screenshots"])
    tmp = Path(tempfile.mkdtemp(prefix="gp-optout-shots-"))
    session, _recovery, _stats = demo.create_demo(tmp / "register", 300)
    numbers = nhs_number.iter_synthetic(700_000)
    people = [("Begum", "Freya", "1991-02-03", "LS1 4AP"), ("Patel", "Wyn", "1991-02-03", "LS2 7HY"),
              ("Patelson", "Ada", "1984-05-05", "LS6 2QT"), ("Patelson", "Ben", "2015-06-01", "LS6 2QT"),
              ("Patelson", "Cara", "2012-09-09", "LS6 2QT"), ("Patelson", "Gwen", "1941-01-01", "LS6 2QT")]
    ids = [patients.add(session, surname=s, forenames=f, dob=d, postcode_raw=p, nhs=next(numbers),
                        address=["3 Example Row"]).data["patient_id"] for s, f, d, p in people]
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

    def shot(name: str) -> None:
        settle(app)
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    front = window.desk.front
    front.focus_search()
    QTest.keyClicks(front.search, "03/02/1991")
    QTest.keyClick(front.search, Qt.Key.Key_Return)
    shot("desk_two_matches")

    window.desk.record_objection(ids[2])
    form = window.desk.record
    QTest.keyClicks(form.dep_search, "Patelson")
    settle(app, 0.5)
    form._find_dependants()
    shot("desk_dependants")

    form.clear()
    window.desk.to_search()
    window.desk.new_patient("")
    new = window.desk.new
    new.edits["nhs_number"].setText("999 000 0019")
    new.edits["dob"].setText("31/02/1990")
    new.edits["postcode"].setText("ZZ")
    new.save()
    shot("desk_all_problems")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
