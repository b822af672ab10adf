"""Render the main screens of the desktop app to PNG for docs/screenshots/.

Builds a demo register of synthetic patients in a temporary folder, drives the real
window (offscreen, or under Xvfb if DISPLAY is set) at 1366x768 and grabs each screen.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--patients 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_for(app: QApplication, condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def rich_patient(session) -> int:
    """A synthetic patient whose record shows a history, a proxy or a withdrawal, and letters."""
    from gp_optout_desktop.services import patients

    best, best_score = None, -1
    ids = [pid for prefix in "bcdehjklmnoprstw" for pid in patients.find_ids(session, prefix, 500)]
    for pid in ids:
        rec = patients.view(session, pid)
        if not rec.letters:
            continue
        score = (len(rec.history) + 2 * any(e.proxy and not e.submitted_by for e in rec.history)
                 + len(rec.letters) + 2 * any(e.action == "withdraw" for e in rec.history))
        if score > best_score:
            best, best_score = pid, score
        if score >= 9:
            break
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    parser.add_argument("--patients", type=int, default=2000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from gp_optout_desktop.services import demo, patients
    from gp_optout_desktop.ui import dialogs
    from gp_optout_desktop.ui.main_window import MainWindow

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

    def shot(name: str) -> None:
        settle(app)
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    window.unlock.prepare("reception")
    shot("01-unlock")

    window.unlock.password.setText("reception-demo-pass")
    window.unlock.submit()
    wait_for(app, lambda: window.session is not None)
    front = window.desk.front
    front.search.setText("Smith")
    front.refresh()
    shot("02-front-desk")

    pid = rich_patient(window.session)
    window.desk.open_patient(pid)
    shot("03-patient-view")

    window.desk.to_search()
    target = patients.find_ids(window.session, "Wright", 5)[0]
    window.desk.record_objection(target)
    form = window.desk.record
    form.proxy_box.setChecked(True)
    form.proxy_role.setCurrentIndex(form.proxy_role.findData("lpa_health_welfare"))
    form.proxy_name.setText("Jordan Example")
    form.save()  # evidence left empty: the reason appears beside the field
    form.proxy_name.setFocus()
    shot("04-record-objection")

    dialogs.set_next_answer("Discard")
    form.cancel()
    window.desk.new_patient("Newperson, Sam")
    new = window.desk.new
    new.edits["nhs_number"].setText("999 000 0019")  # a mistyped check digit: the reason shows beside the field
    new.edits["dob"].setText("06/01/1970")
    new.edits["postcode"].setText("LS1 4AP")
    new.edits["address1"].setText("1 Example Street")
    shot("05-new-patient-error")

    # A GP turns the practice-wide opt-out on (from their own session); the desk sees the
    # banner, what it means for the patient, and 'Ask to be included'.
    from gp_optout_desktop.services import exclusion, session as session_service

    gp = session_service.unlock(tmp / "register", "gp", "gp-demo-pass")
    try:
        window.bus.publish(exclusion.set_practice_optout(
            gp, "on", "Partners' decision at the practice meeting; patients told by letter and on the website"))
    finally:
        gp.lock()
    dialogs.set_next_answer("Discard")
    window.desk.to_search()
    window.desk.open_patient(pid)
    shot("desk_patient_include_me")

    # Register > Change my password… (Ctrl+Shift+P): the new password typed twice differently,
    # so its one sentence shows and nothing is changed. The dialog is a window of its own.
    window.change_password()
    dialog = window.password_dialog
    dialog.current.setText("reception-demo-pass")
    dialog.rows.first.setText("a-new-password-1")
    dialog.rows.second.setText("a-new-password-2")
    dialog.submit()
    settle(app)
    path = args.out / "07-change-password.png"
    dialog.grab().save(str(path))
    print(path)
    dialog.reject()

    window.lock()
    shot("06-locked")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
