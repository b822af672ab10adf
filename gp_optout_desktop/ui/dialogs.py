"""Every modal question and message in the app goes through here.

A dialog run with ``.exec()`` hangs a headless test even when QMessageBox is
patched (KeePassXC's MessageBox::setNextAnswer idea): tests queue the next
answer with ``set_next_answer`` and, with ``strict`` on, an unexpected dialog
fails the test instead of blocking it.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtWidgets import QMessageBox, QWidget

_next_answers: deque[str] = deque()
shown: list[tuple[str, str]] = []  # (title, text) of every dialog asked or shown, for tests
strict = False  # tests set True: a dialog with no queued answer raises instead of blocking


def set_next_answer(answer: str) -> None:
    """The next ``ask``/``inform`` returns ``answer`` without showing anything."""
    _next_answers.append(answer)


def reset() -> None:
    _next_answers.clear()
    shown.clear()


def _queued(title: str, text: str) -> str | None:
    shown.append((title, text))
    if _next_answers:
        return _next_answers.popleft()
    if strict:
        raise AssertionError(f"Unexpected dialog with no queued answer: {title}")
    return None


def plain(label: str) -> str:
    """A button label without its '&' mnemonic marker."""
    return label.replace("&&", "\0").replace("&", "").replace("\0", "&")


def with_mnemonics(labels: tuple[str, ...]) -> list[str]:
    """Every button gets an Alt-key: the label's own '&' if it has one, else its first letter
    not already taken (so a keyboard user answers with Alt+letter, never by guessing Enter)."""
    def marked(label: str) -> int:  # index of the letter after a single '&', or -1
        i = label.replace("&&", "\0\0").find("&")
        return i + 1 if 0 <= i < len(label) - 1 else -1

    taken = {label[marked(label)].casefold() for label in labels if marked(label) >= 0}
    out = []
    for label in labels:
        if marked(label) >= 0:
            out.append(label)
            continue
        for i, ch in enumerate(label):
            if ch.isalnum() and ch.casefold() not in taken:
                taken.add(ch.casefold())
                out.append(f"{label[:i]}&{label[i:]}")
                break
        else:
            out.append(label)
    return out


def ask(parent: QWidget | None, title: str, text: str, buttons: tuple[str, ...] = ("Yes", "No"),
        default: str | None = None, escape: str | None = None) -> str:
    """Ask a question; returns the chosen button's text without its '&' (``escape`` if closed).
    ``default`` is the button Enter presses: give the safe one for anything that loses data."""
    answer = _queued(title, text)
    if answer is not None:
        return plain(answer)
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    made = {}
    for label, shown_label in zip(buttons, with_mnemonics(tuple(buttons))):
        made[plain(label)] = box.addButton(shown_label, QMessageBox.ButtonRole.ActionRole)
    default = plain(default) if default else None
    if default in made:
        box.setDefaultButton(made[default])
    escape = plain(escape or buttons[-1])
    if escape in made:
        box.setEscapeButton(made[escape])
    box.exec()
    clicked = box.clickedButton()
    for label, button in made.items():
        if button is clicked:
            return label
    return escape


def inform(parent: QWidget | None, title: str, text: str) -> None:
    if _queued(title, text) is not None:
        return
    QMessageBox.information(parent, title, text)


def save_path(parent: QWidget | None, title: str, suggested: str, file_filter: str = "Text files (*.txt)") -> str:
    """A file name to save to, or '' if cancelled."""
    answer = _queued(title, suggested)
    if answer is not None:
        return answer
    from PySide6.QtWidgets import QFileDialog

    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, file_filter)
    return path


def print_document(parent: QWidget | None, title: str, document) -> bool:
    """Print a QTextDocument after the usual print dialog; True if it was sent to a printer."""
    answer = _queued(title, "print")
    if answer is not None:
        return answer == "Print"
    from PySide6.QtPrintSupport import QPrintDialog, QPrinter

    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    dialog = QPrintDialog(printer, parent)
    dialog.setWindowTitle(title)
    if dialog.exec() != QPrintDialog.DialogCode.Accepted:
        return False
    document.print_(printer)
    return True
