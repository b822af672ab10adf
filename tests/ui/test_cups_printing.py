"""Real printing: a private CUPS scheduler with a PDF printer (cups-pdf), and a batch of letters
sent to it through the letters screen's own print path (services.letters.print_batch, then
_printing.print_pdf onto a QPrinter that Qt's CUPS plugin found). The printed PDF holds each
page as a bitmap (what prints is exactly the previewed page), so its text is read back with
OCR (tesseract).

Needs root (cups-pdf's backend runs as root and its per-queue configuration lives in
/etc/cups) and the packages scripts/run-tests installs as root: cups, printer-driver-cups-pdf,
tesseract-ocr. Skipped where those are missing; under CI (CI=true) that skip is a failure."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo

from gp_optout_desktop.services import letters as letters_service, objections
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services.letters import reference
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import _printing, letters as letters_screen
from tests.ui.helpers import wait_idle

CUPS_PDF_BACKEND = Path("/usr/lib/cups/backend/cups-pdf")
CUPS_PDF_PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")


def _missing() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root (cups-pdf's backend runs as root): run scripts/run-tests as root"
    for what, found in (("cupsd", shutil.which("cupsd") or Path("/usr/sbin/cupsd").exists()),
                        ("printer-driver-cups-pdf", CUPS_PDF_BACKEND.exists() and CUPS_PDF_PPD.exists()),
                        ("tesseract-ocr", shutil.which("tesseract")), ("poppler-utils", shutil.which("pdftoppm"))):
        if not found:
            return f"{what} is not installed (scripts/run-tests installs it when run as root)"
    return None


@pytest.fixture
def cups_pdf_printer(tmp_path):
    """A private cupsd (own socket, spool and logs in tmp_path) with one cups-pdf queue whose
    output folder is tmp_path/out; yields (queue name, output folder)."""
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real-printing test cannot run under CI: {reason}")
        pytest.skip(reason)
    # CUPS's filters run as the lp user: its folders must be reachable by lp, which pytest's
    # own temporary folders (0700) are not.
    base = Path(tempfile.mkdtemp(prefix="gp-optout-cups-"))
    base.chmod(0o755)
    conf, out = base / "conf", tmp_path / "out"
    for d in (conf, base / "spool" / "tmp", base / "cache", base / "state", base / "log", out):
        d.mkdir(parents=True)
    sock = base / "cups.sock"
    (conf / "cupsd.conf").write_text(
        f"Listen {sock}\nLogLevel warn\nWebInterface No\nBrowsing No\nDefaultAuthType None\n"
        "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n")
    (conf / "cups-files.conf").write_text(
        f"ServerRoot {conf}\nRequestRoot {base / 'spool'}\nTempDir {base / 'spool' / 'tmp'}\n"
        f"CacheDir {base / 'cache'}\nStateDir {base / 'state'}\nErrorLog {base / 'log' / 'error_log'}\n"
        f"AccessLog {base / 'log' / 'access_log'}\nPageLog {base / 'log' / 'page_log'}\n")
    queue = f"gpoptouttest{os.getpid()}"
    # cups-pdf reads /etc/cups/cups-pdf-<name>.conf for the device URI cups-pdf:/<name>.
    queue_conf = Path("/etc/cups") / f"cups-pdf-{queue}.conf"
    queue_conf.write_text(f"Out {out}\nAnonDirName {out}\nLabel 0\nTitlePref 1\nGrp root\n")
    cupsd = subprocess.Popen(["cupsd", "-f", "-c", str(conf / "cupsd.conf"), "-s", str(conf / "cups-files.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    old_server = os.environ.get("CUPS_SERVER")
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert cupsd.poll() is None, f"cupsd stopped: {cupsd.stderr.read().decode(errors='replace')}"
            assert time.monotonic() < deadline, "cupsd did not open its socket"
            time.sleep(0.1)
        env = {**os.environ, "CUPS_SERVER": str(sock)}
        subprocess.run(["lpadmin", "-p", queue, "-E", "-v", f"cups-pdf:/{queue}", "-P", str(CUPS_PDF_PPD)],
                       env=env, check=True, capture_output=True)
        # Qt's CUPS plugin talks to libcups in this process: point it (and new threads) here.
        os.environ["CUPS_SERVER"] = str(sock)
        libcups = ctypes.CDLL(ctypes.util.find_library("cups") or "libcups.so.2")
        libcups.cupsSetServer(str(sock).encode())
        yield queue, out, base / "log" / "error_log"
    finally:
        if old_server is None:
            os.environ.pop("CUPS_SERVER", None)
        else:
            os.environ["CUPS_SERVER"] = old_server
        cupsd.terminate()
        cupsd.wait(timeout=30)
        queue_conf.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def _ocr(pdf: Path, work: Path) -> str:
    # The top half of each A4 page at 200 dpi holds the reference, NHS number and greeting.
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-x", "0", "-y", "0", "-W", "1654", "-H", "1200", "-png",
                    str(pdf), str(work / "page")], check=True)
    text = []
    for png in sorted(work.glob("page-*.png")):
        done = subprocess.run(["tesseract", str(png), "-"], capture_output=True, text=True, check=True)
        text.append(done.stdout)
    # OCR's one usual confusion here: the letter O for a zero inside "L000015".
    return re.sub(r"\bL[0-9O]{6}\b", lambda m: m.group().replace("O", "0"), "\n".join(text))


@pytest.mark.slow
def test_a_batch_of_letters_prints_on_a_real_cups_pdf_printer(qtbot, demo, cups_pdf_printer, tmp_path):
    queue, out, error_log = cups_pdf_printer
    found = [p.printerName() for p in QPrinterInfo.availablePrinters()]
    assert queue in found, f"Qt's CUPS plugin did not see the printer: {found}"

    screen = letters_screen.create(lambda: demo, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    # Three letters waiting: the demo's, and objections recorded now for patients with none.
    waiting = {p.patient_id for p in letters_service.pending(demo)}
    for patient_id in range(1, 50):
        if len(waiting) >= 3:
            break
        if patient_id in waiting:
            continue
        try:
            objections.record(demo, patient_id, via="post")
        except ValidationError:  # already objects: the rules refuse a second identical objection
            continue
        waiting.add(patient_id)
    screen.refresh()
    wait_idle(qtbot, screen)
    pending = letters_service.pending(demo)
    chosen = pending[:3]
    assert len(chosen) == 3
    screen.table.clearSelection()
    flags = screen.table.selectionModel().SelectionFlag
    for row in range(3):
        screen.table.selectionModel().select(screen.model.index(row, 0), flags.Select | flags.Rows)

    assert screen.selected_ids() == [l.letter_id for l in chosen], (screen.selected_ids(), chosen)
    _printing.set_next_printer(QPrinter(QPrinterInfo.printerInfo(queue), QPrinter.PrinterMode.HighResolution))
    screen.printer_button.click()
    wait_idle(qtbot, screen)
    assert "Printed 3 letters" in screen.status.text(), screen.status.text()
    pages = screen.preview.document.pageCount()

    # The job goes through CUPS's filters and cups-pdf's Ghostscript: wait until CUPS has no
    # job left for the queue, then read what cups-pdf wrote.
    deadline = time.monotonic() + 180
    while subprocess.run(["lpstat", "-o", queue], capture_output=True, text=True).stdout.strip() \
            or not list(out.glob("*.pdf")):
        if time.monotonic() > deadline:
            raise AssertionError(f"the printer did not finish; CUPS said: {error_log.read_text()[-2000:]}")
        time.sleep(0.5)
    (printed,) = out.glob("*.pdf")
    info = subprocess.run(["pdfinfo", str(printed)], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == pages

    ocr = tmp_path / "ocr"
    ocr.mkdir()
    text = _ocr(printed, ocr)
    for letter in chosen:
        assert reference(letter.letter_id) in text, f"{reference(letter.letter_id)} not on the printed pages"
        assert letter.nhs_display in text
    assert text.count("Dear ") == 3, "one greeting per letter"
    assert {p.letter_id for p in letters_service.pending(demo)}.isdisjoint(l.letter_id for l in chosen)
