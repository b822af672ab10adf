"""Render the practice manager's and GP's screens to PNG for docs/screenshots/ (manager_*, gp_*).

Builds a demo register of synthetic patients in a temporary folder, drives the real main
window at 1366x768 (offscreen, or under Xvfb if DISPLAY is set) and grabs each screen.
Dialog answers and chosen folders are queued, exactly as the tests do.

    .venv/bin/python scripts/screenshots_manager.py [--out docs/screenshots] [--patients 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from screenshots import settle, wait_for  # noqa: E402  (part 1's helpers, same folder)


def _record_for_first_without(session, surname: str) -> list[int]:
    """Record a Type 1 objection for the first patient of that surname who has none yet (the
    demo's random draw decides who already has one), and return its letters' ids."""
    from gp_optout_desktop.domain.errors import ValidationError
    from gp_optout_desktop.services import objections, patients

    for pid in patients.find_ids(session, surname, 50):
        try:
            return objections.record(session, pid).letter_ids
        except ValidationError:
            continue  # already recorded for this one: try the next
    raise SystemExit(f"no demo patient named {surname} without an objection")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    parser.add_argument("--patients", type=int, default=2000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from gp_optout_desktop.services import demo, objections, patients
    from gp_optout_desktop.ui import dialogs
    from gp_optout_desktop.ui.main_window import MainWindow
    from gp_optout_desktop.ui.screens import _paths

    app = QApplication.instance() or QApplication(["screenshots"])
    tmp = Path(tempfile.mkdtemp(prefix="gp-optout-shots-"))
    session, _recovery, _stats = demo.create_demo(tmp / "register", args.patients)
    session.lock()
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(tmp / "register", settings)
    window.resize(1366, 768)
    window.show()
    settle(app)
    exports, backups = tmp / "exports", tmp / "usb-backups"
    exports.mkdir()
    backups.mkdir()

    def shot(name: str) -> None:
        settle(app, 0.5)
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    def unlock(user: str, password: str) -> None:
        window.unlock.prepare(user)
        window.unlock.user.setText(user)
        window.unlock.password.setText(password)
        window.unlock.submit()
        wait_for(app, lambda: window.session is not None)
        settle(app)

    def open_screen(title: str):
        titles = [window.nav.item(i).text() for i in range(window.nav.count())]
        window.nav.setCurrentRow(titles.index(title))
        widget = window.screens.currentWidget()
        wait_for(app, lambda: not getattr(widget, "busy", False))
        return widget

    def idle(widget) -> None:
        wait_for(app, lambda: not widget.busy, 120)
        settle(app)

    unlock("manager", "manager-demo-pass")
    overview = open_screen("Overview")
    shot("manager_overview")

    letters = open_screen("Letters")
    letters.select_overdue()
    shot("manager_letters_queue")
    letters.preview_button.click()  # the overdue ones, as they would print: nothing marked sent
    idle(letters)
    shot("manager_letters_preview")
    # Today's forms at the desk: their letters are printed as a batch and previewed.
    fresh = []
    for surname in ("Wright", "Hughes", "Clarke"):
        fresh += _record_for_first_without(window.session, surname)
    letters.refresh()
    idle(letters)
    flags = letters.table.selectionModel().SelectionFlag
    letters.table.clearSelection()
    for row, letter in enumerate(letters.model.rows):
        if letter.letter_id in fresh:
            letters.table.selectionModel().select(letters.model.index(row, 0), flags.Select | flags.Rows)
    _paths.set_next_path(tmp / "letters.pdf")
    letters.pdf_button.click()
    idle(letters)
    shot("manager_letters_printed")
    letters.tabs.setCurrentWidget(letters.templates)
    idle(letters)
    shot("manager_letter_templates")
    letters.tabs.setCurrentIndex(0)

    exclusion = open_screen("Exclusion file")
    _paths.set_next_path(exports)
    exclusion.choose_button.click()
    exclusion.export_button.click()
    idle(exclusion)
    shot("manager_exclusion_current")

    audit = open_screen("Audit trail")
    audit.refresh()
    idle(audit)
    audit.verify_button.click()
    idle(audit)
    shot("manager_audit")

    users = open_screen("Users")
    users.new_name.setText("jsmith")
    users.new_role.setCurrentIndex(users.new_role.findData("receptionist"))
    users.add_button.click()
    idle(users)
    shot("manager_users")
    users.password_panel.forget()

    backups_screen = open_screen("Backups")
    _paths.set_next_path(backups)
    backups_screen.backup_button.click()
    idle(backups_screen)
    shot("manager_backups")

    # A search exported from the clinical system, with one row that is not an objection code.
    from gp_optout_desktop.domain.nhs_number import synthetic_range

    numbers = synthetic_range(800_000)[-4:]
    csv_file = tmp / "clinical-system-export.csv"
    csv_file.write_text("NHS number,Surname,Forename(s),Date of birth,Postcode,Read code,Code date\n"
                        f"{numbers[0]},Parry,Gwen,12/04/1948,LL57 2PW,9Nu0.,14/01/2014\n"
                        f"{numbers[1]},Parry,Huw,30/09/1946,LL57 2PW,9Nu0.,14/01/2014\n"
                        f"{numbers[2]},Okafor,Chidi,02/02/1990,M1 1AE,93C3.,03/03/2015\n"
                        f"{numbers[3]},Begum,Ruksana,21/07/1979,E1 6AN,9Nu4.,11/05/2016\n", encoding="utf-8")
    importing = open_screen("Import")
    _paths.set_next_path(csv_file)
    importing.choose_button.click()
    idle(importing)
    shot("manager_import_refused")
    csv_file.write_text("\n".join(line for line in csv_file.read_text(encoding="utf-8").splitlines()
                                   if "93C3." not in line) + "\n", encoding="utf-8")
    importing.check_button.click()
    idle(importing)
    shot("manager_import_checked")

    window.lock()
    unlock("gp", "gp-demo-pass")
    optout = open_screen("Practice-wide opt-out")
    shot("gp_practice_optout_off")
    optout.reason.setText("Partners' decision at the practice meeting; patients told by letter and on the website")
    dialogs.set_next_answer("Turn it on")
    optout.change_button.click()
    idle(optout)
    shot("gp_practice_optout_on")
    open_screen("Overview")
    shot("gp_overview_with_banner")
    window.lock()

    unlock("manager", "manager-demo-pass")
    open_screen("Exclusion file")
    shot("manager_exclusion_out_of_date")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
