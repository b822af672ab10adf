"""The main window: the unlock screen, then a navigation list of screens with the
front desk first; a status bar with the user, role and exclusion-file state; Lock now
(Ctrl+L) and the idle lock. Extra screens come from ui.screens.SCREENS (part 2)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QHBoxLayout, QLabel, QListWidget, QMainWindow, QStackedWidget,
                               QToolBar, QVBoxLayout, QWidget)

from ..domain import roles
from ..problem_log import log_problem, where_to_look
from ..services import session as session_service, settings as settings_service
from ..services.on_server import not_yet, on_server
from ..store.errors import StoreError
from . import exclusion_status, responsive, worker
from .style import STYLE_SHEET
from .bus import ChangeBus, ScopedBus
from .desk import DeskFlow
from .idle_lock import IdleLock
from .integrity_status import IntegrityStatus
from .screens.policy_banner import PolicyBanner
from .unlock import UnlockWidget

DESK_TITLE = "Front desk"
# Screens that run on a server register: every action on them reaches only services ported to
# both engines (ADR 0015, addendum "screens on a server"). Any other screen says not_yet there.
SERVER_SCREENS = frozenset({"Overview", "Coding", "Audit trail", "Letters", "Users", "Import", "Reconcile",
                            "Practice-wide opt-out", "Exclusion file", "Settings", "Practice list", "Backups"})
OUTAGE_TEXT = ("Server unreachable - nothing can be saved until it is back. Saving and searching are paused; "
               "what you have typed stays on screen. Keep paper forms until this message goes.")
log = logging.getLogger(__name__)


def screen_failed_text(title: str) -> str:
    """What a screen that could not be built says instead (nothing else on the desk is affected)."""
    return (f"The {title} screen could not be opened. Nothing was changed. Lock the register (Ctrl+L) and "
            f"unlock it again to try once more. If it still does not open, tell your practice's IT support: "
            f"the details (no patient information) are in {where_to_look()}.")


def demo_hint_text() -> str:
    from ..services.demo import DEMO_USERS

    users = ", ".join(f"{name} / {pw} ({roles.ROLE_LABELS[role].lower()})" for name, (pw, role) in DEMO_USERS.items())
    return f"Demo register of synthetic patients. Users and passwords: {users}."


def _throttled(address, attempt: Callable) -> Callable:
    """``attempt(address, user, password)`` with wrong passwords slowed as on the register file,
    counted in this computer's one count (services/server_throttle.py), which every
    ``gp-optout`` command's server sign-in shares and a restart of the program does not clear.
    Runs on a worker thread (the count is a locked file, not a QSettings)."""

    def run(user: str, password: str):
        from ..services.server_throttle import SignInThrottle

        return SignInThrottle.on_this_computer().sign_in(attempt, address, user, password)

    return run


def server_sign_in(address) -> Callable:
    """The unlock form's sign-in on a server register (imported when used: psycopg)."""

    def sign_in(_folder, user: str, password: str):
        from ..services import server_session

        return _throttled(address, server_session.sign_in)(user, password)

    return sign_in


def server_recovery(address) -> Callable:
    """The unlock form's recovery on a server register: the login's new password (set by the
    server's administrator) and the practice's recovery key (services/server_session.py),
    slowed after wrong tries like a sign-in (same login, same count)."""

    def recover(_folder, user: str, password: str, recovery_key: str):
        from ..services import server_session

        def attempt(address, user, password):
            return server_session.sign_in(address, user, password, recovery_key=recovery_key)

        return _throttled(address, attempt)(user, password)

    return recover


def not_on_server_page(title: str) -> QLabel:
    """A screen the server register cannot run yet, in its place in the list: one sentence."""
    names = sorted(SERVER_SCREENS)
    page = QLabel(not_yet(f"the {title} screen") + " The front desk (search, patients, objections) and the "
                  + ", ".join(names[:-1]) + " and " + names[-1] + " screens work.")
    page.setWordWrap(True)
    page.setAlignment(Qt.AlignmentFlag.AlignCenter)
    page.setAccessibleName("Not available on a server register")
    return page


def load_screens() -> list:
    from .screens import SCREENS

    return list(SCREENS)


class MainWindow(QMainWindow):
    def __init__(self, folder: Path | None, settings: QSettings, *, idle_ms: int | None = None,
                 app: QApplication | None = None, server=None, sign_in: Callable | None = None):
        """``server`` (a store.server.connect.ServerAddress): the register is on that server, not
        in ``folder``; ``sign_in`` replaces services.server_session.sign_in (tests)."""
        super().__init__()
        self.server = server
        self.folder = Path(folder) if folder is not None else None
        self.settings = settings
        self.session = None
        self.bus = ChangeBus(self)
        self._idle_override = idle_ms
        self._place: dict | None = None
        self._last_user = ""
        self._extra: list[tuple[str, QWidget, ScopedBus]] = []
        self.live = None  # on a server: ui/live_bridge.py LiveBridge, other desks' changes
        self._seen_revision = 0  # the newest revision this window's screens already show
        self._unbuilt: list[tuple] = []  # (ScreenSpec, stand-in widget) still to build after an unlock
        self._build_timer = QTimer(self)
        self._build_timer.setSingleShot(True)
        self._build_timer.setInterval(0)
        self._build_timer.timeout.connect(self._build_next)
        self.setWindowTitle("GP objection register")
        self.setMinimumSize(960, 600)
        self.setStyleSheet(STYLE_SHEET)

        self.pages = QStackedWidget()
        if server is not None:
            self.unlock = UnlockWidget(None, unlock_fn=sign_in or server_sign_in(server),
                                       recovery_fn=server_recovery(server), server=server.describe())
        else:
            self.unlock = UnlockWidget(self.folder)
        self.unlock.unlocked.connect(self.on_unlocked)
        self.workspace = QWidget()
        self.nav = QListWidget()
        self.nav.setAccessibleName("Screens")
        self.nav.setToolTip("Choose a screen (Ctrl+1 to Ctrl+9)")
        self.nav.setFixedWidth(190)
        self.screens = QStackedWidget()
        self.desk = DeskFlow(lambda: self.session, self.bus)
        self.screens.addWidget(self.desk)
        self.nav.currentRowChanged.connect(self._nav_changed)
        row = QHBoxLayout(self.workspace)
        row.setContentsMargins(4, 4, 4, 4)
        row.addWidget(self.nav)
        # The practice-wide opt-out banner sits above every screen, the front desk included;
        # it refreshes itself from the bus (areas 'policy') and clears on lock.
        self.banner = PolicyBanner(lambda: self.session, self.bus)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.banner)
        # On a server: shown, and the screens disabled, while the server cannot be reached.
        self.outage = QLabel()
        self.outage.setObjectName("server_outage")
        self.outage.setWordWrap(True)
        self.outage.setStyleSheet("#server_outage { background: #fde7e9; border: 2px solid #a4262c; "
                                  "border-radius: 4px; padding: 6px; font-weight: bold; }")
        self.outage.setAccessibleName("Server unreachable")
        self.outage.hide()
        column.addWidget(self.outage)
        column.addWidget(self.screens, 1)
        row.addLayout(column, 1)
        self.pages.addWidget(self.unlock)
        self.pages.addWidget(self.workspace)
        self.first_run = None
        if server is None and not settings_service.register_exists(self.folder):
            from .first_run import FirstRunWidget

            self.first_run = FirstRunWidget(self.folder)
            self.first_run.opened.connect(self.on_unlocked)
            self.first_run.demo_ready.connect(self._demo_ready)
            self.pages.addWidget(self.first_run)
            self.pages.setCurrentWidget(self.first_run)
        else:
            self.pages.setCurrentWidget(self.unlock)
        self.setCentralWidget(self.pages)

        self.idle = IdleLock(app or QApplication.instance(), idle_ms or 5 * 60_000, self)
        self.idle.idle.connect(self.lock)
        self._build_actions()
        self.user_label = QLabel()
        self.user_label.setAccessibleName("Signed in user")
        self.exclusion_label = QLabel()
        self.exclusion_label.setAccessibleName("Exclusion file status")
        self.statusBar().addWidget(self.user_label)
        self.integrity = IntegrityStatus(lambda: self.session)
        self.statusBar().addWidget(self.integrity)
        self.statusBar().addPermanentWidget(self.exclusion_label)
        self.bus.changed.connect(self._on_changed)
        self.bus.locked.connect(self._locked_elsewhere)
        self._restore_geometry()
        if server is None and self.settings.value(f"demo/{self.folder}", False, type=bool):
            self.unlock.set_hint(demo_hint_text())
        self.unlock.prepare(self.settings.value("unlock/last_user", "", type=str))

    # ---- chrome -----------------------------------------------------------------------
    def _build_actions(self) -> None:
        self.lock_action = QAction("&Lock now", self)
        self.lock_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lock_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.lock_action.setToolTip("Lock the register now (Ctrl+L)")
        self.lock_action.triggered.connect(self.lock)
        self.lock_action.setEnabled(False)
        # Every role's own password, beside Lock now (Alt+R, P or Ctrl+Shift+P): ui/change_password.py.
        self.password_action = QAction("Change my &password…", self)
        self.password_action.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.password_action.setToolTip("Change your own password (Ctrl+Shift+P)")
        self.password_action.triggered.connect(self.change_password)
        self.password_action.setEnabled(False)
        self.password_dialog = None
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        menu = self.menuBar().addMenu("&Register")
        menu.addAction(self.lock_action)
        menu.addAction(self.password_action)
        menu.addSeparator()
        menu.addAction(quit_action)
        toolbar = QToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.lock_action)
        toolbar.addAction(self.password_action)
        self.addToolBar(toolbar)
        for n in range(1, 10):
            action = QAction(self)
            action.setShortcut(QKeySequence(f"Ctrl+{n}"))
            action.triggered.connect(lambda _=False, row=n - 1: self._go(row))
            self.addAction(action)

    def change_password(self) -> None:
        """Change my password: a dialog of its own over the window (built when first asked for)."""
        if self.session is None:
            return
        from .change_password import ChangePasswordDialog

        self._forget_password_dialog()
        self.password_dialog = ChangePasswordDialog(self.session, self)
        self.password_dialog.changed.connect(self.bus.publish)
        self.password_dialog.open()

    def _forget_password_dialog(self) -> None:
        if self.password_dialog is not None:
            self.password_dialog.forget()
            self.password_dialog.deleteLater()
            self.password_dialog = None

    def _go(self, row: int) -> None:
        if self.session is not None and row < self.nav.count():
            self.nav.setCurrentRow(row)

    def _nav_changed(self, row: int) -> None:
        if row >= 0:
            holder = self.screens.widget(row)
            for spec, waiting in list(self._unbuilt):
                if waiting is holder:
                    self._build(spec, holder)  # chosen before its turn: build it now
            self.screens.setCurrentIndex(row)

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None and self.restoreGeometry(geometry):
            return
        screen = QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen else None
        width, height = 1280, 720
        if avail is not None:  # fits a 1366x768 laptop with its taskbar
            width, height = min(width, avail.width() - 40), min(height, avail.height() - 60)
        self.resize(max(width, 960), max(height, 600))

    def _update_status(self) -> None:
        if self.session is None:
            self.user_label.setText("Locked")
            self.exclusion_label.clear()
            return
        self.user_label.setText(f"Signed in: {self.session.user} ({roles.ROLE_LABELS.get(self.session.role, self.session.role)})"
                                + (f" on the server {self.server.describe()}" if self.server is not None else ""))
        text = exclusion_status.describe(self.session)  # on a server too (ADR 0015 addendum, srvops15)
        self.exclusion_label.setText(text)
        self.exclusion_label.setStyleSheet("color: #b00020; font-weight: bold;" if exclusion_status.needs_attention(text) else "")

    # ---- screens from part 2 ----------------------------------------------------------
    def _build_nav(self) -> None:
        """The navigation list now; each screen's widget on a later turn of the event loop
        (one per turn: built all at once they held the UI thread for 70 ms and more after
        every unlock), or at once when it is chosen first."""
        self.nav.clear()
        self.nav.addItem(DESK_TITLE)
        self._unbuilt = []
        for spec in load_screens():
            if not roles.allowed(self.session.role, spec.permission):
                continue
            if on_server(self.session) and spec.title not in SERVER_SCREENS:
                page = not_on_server_page(spec.title)
                self.screens.addWidget(page)
                self.nav.addItem(spec.title)
                self._extra.append((spec.title, page, ScopedBus(self.bus)))
                continue
            holder = QWidget()  # stands in the stack at the screen's row until it is built
            self.screens.addWidget(holder)
            self.nav.addItem(spec.title)
            self._unbuilt.append((spec, holder))
        self._build_timer.start()

    def _build_next(self) -> None:
        if self._unbuilt and self.session is not None:
            self._build(*self._unbuilt[0])
        if self._unbuilt and self.session is not None:
            self._build_timer.start()

    def _build(self, spec, holder: QWidget) -> QWidget:
        self._unbuilt.remove((spec, holder))
        scoped = ScopedBus(self.bus)
        scoped.locked.connect(self._locked_elsewhere)
        try:
            widget = spec.create(lambda: self.session, scoped)
        except Exception as exc:  # noqa: BLE001 - one broken screen must not stop the desk
            log_problem(log, f"The {spec.title} screen could not be built", exc)
            widget = QLabel(screen_failed_text(spec.title))
            widget.setWordWrap(True)
            widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scoped.setParent(widget)
        self._extra.append((spec.title, widget, scoped))
        current = self.screens.currentWidget() is holder
        self.screens.insertWidget(self.screens.indexOf(holder), widget)
        self.screens.removeWidget(holder)
        holder.deleteLater()
        if current:
            self.screens.setCurrentWidget(widget)
        return widget

    def screens_ready(self) -> bool:
        """Every screen this role has is built (tests and benchmarks wait for it)."""
        return not self._unbuilt

    def _drop_screens(self) -> None:
        self._build_timer.stop()
        for _spec, holder in self._unbuilt:
            self.screens.removeWidget(holder)
            holder.deleteLater()
        self._unbuilt = []
        for _title, widget, scoped in self._extra:
            scoped.detach()
            self.screens.removeWidget(widget)
            widget.deleteLater()
        self._extra.clear()
        self.nav.clear()

    # ---- unlock and lock --------------------------------------------------------------
    def on_unlocked(self, session) -> None:
        same_user = session.user == self._last_user
        self.session = session
        self._last_user = session.user
        self.settings.setValue("unlock/last_user", session.user)
        self._build_nav()
        self.bus.unlocked.emit(session)
        self.pages.setCurrentWidget(self.workspace)
        self.lock_action.setEnabled(True)
        self.password_action.setEnabled(True)
        self._update_status()
        place, self._place = self._place, None
        titles = [self.nav.item(i).text() for i in range(self.nav.count())]
        if place and same_user and place["screen"] in titles:
            self.nav.setCurrentRow(titles.index(place["screen"]))
            self.desk.restore(place["desk"])
        else:
            self.nav.setCurrentRow(0)
            self.desk.to_search()
        self._read_idle_minutes()
        self.idle.start()
        # Off the UI thread, after unlock instead of during it (ADR 0011); on a server the practice's
        # check (its addendum "on a server"), on a connection of its own.
        self.integrity.start(on_server=on_server(session))
        if not on_server(session):
            # A key entry with earlier Argon2id parameters is wrapped again now, not before the window showed.
            worker.run(lambda: session_service.rewrap_pending(session), lambda _none: None, self._rewrap_failed)
        else:
            self._listen(session)
        responsive.settled()

    @staticmethod
    def _rewrap_failed(exc: BaseException) -> None:
        # why: the old entry still unlocks and the next unlock tries again; nothing to ask the user
        log_problem(log, "The key entry was not re-wrapped with the new key-derivation parameters", exc)

    def _read_idle_minutes(self) -> None:
        """The idle lock's time from the register: at unlock, and again when a practice manager
        changes it (a ChangeSet with area 'settings'). A test's fixed time is left alone."""
        if self._idle_override is not None or self.session is None:
            return
        try:
            self.idle.set_timeout_ms(settings_service.idle_lock_minutes(self.session) * 60_000)
        except StoreError as exc:
            log_problem(log, "The idle lock time could not be read; the default is used", exc)
            self.idle.set_timeout_ms(settings_service.DEFAULT_IDLE_LOCK_MINUTES * 60_000)

    # ---- other desks (server register) ------------------------------------------------
    def _listen(self, session) -> None:
        """Other desks' changes reach this window's screens as they are saved (hazard H-78)."""
        if getattr(session, "reconnect", None) is None:
            return
        from ..services import live
        from .live_bridge import LiveBridge

        self._seen_revision = session.revision()
        self.live = LiveBridge(self)
        self.live.changed.connect(self._heard)
        self.live.state_changed.connect(self._live_state)
        self.live.watch(session.reconnect, since=self._seen_revision)

    def _live_state(self, state: str, message: str) -> None:
        """While the listening connection cannot reach the server, neither can a save: say so
        above the screens and disable them (every save, and the reads that need the server too)
        until it answers again (hazard H-76). What was typed stays in the disabled form. The
        navigation and Lock stay usable; nothing is ever kept on this PC to save later."""
        from ..services import live

        down = state == live.DISCONNECTED and self.session is not None
        if state == live.LIVE and self.outage.isVisible() and self.session is not None:
            self.session.server_was_away()  # its own connections are checked at their next use
        self.statusBar().showMessage(message if down else "")
        self.outage.setText(OUTAGE_TEXT if down else "")
        self.outage.setVisible(down)
        self.screens.setEnabled(not down)

    def _heard(self, revision: int, patient_ids: list) -> None:
        """A change saved on another desk: the screens refresh as after one of this desk's own
        (the search re-runs; the patient view reloads its patient if among them)."""
        if self.session is None or revision <= self._seen_revision:
            return  # this window's own change, already shown
        from ..services.changes import ChangeSet

        self._seen_revision = revision
        self.bus.publish(ChangeSet("", revision, frozenset(patient_ids), areas=frozenset({"patients"})))

    def _stop_listening(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live.deleteLater()
            self.live = None
        self.outage.hide()
        self.screens.setEnabled(True)

    def _on_changed(self, changes) -> None:
        self._seen_revision = max(self._seen_revision, changes.revision)
        self._update_status()
        if "settings" in changes.areas:
            self._read_idle_minutes()

    def lock(self) -> None:
        """Idle lock and Lock now: forget every patient shown, close the register, ask to unlock."""
        if self.session is None:
            return
        self._forget_password_dialog()  # before the session goes: nothing typed stays
        # A question left open on screen (e.g. "Withdraw ... for <name>?") must not outlive
        # the lock: close it, which answers it with its escape button.
        for _ in range(5):
            modal = QApplication.activeModalWidget()
            if modal is None or modal is self:
                break
            modal.close()
        row = self.nav.currentRow()
        self._place = {"screen": self.nav.item(row).text() if row >= 0 else DESK_TITLE, "desk": self.desk.place()}
        self.idle.stop()
        self._stop_listening()
        session, self.session = self.session, None
        self.bus.locked.emit()
        self.integrity.clear()
        self._drop_screens()
        responsive.forget()
        try:
            session.lock()
        except StoreError as exc:
            log_problem(log, "Locking could not be completed normally; the register was closed", exc)
            if not on_server(session):
                session.register.close()
        self.lock_action.setEnabled(False)
        self.password_action.setEnabled(False)
        self._update_status()
        self.unlock.prepare(session.user)
        self.pages.setCurrentWidget(self.unlock)
        self.unlock.prepare(session.user)

    def _locked_elsewhere(self) -> None:
        # A screen locked the register itself (e.g. a restore swapped its files).
        if self.session is not None:
            self.lock()

    def _demo_ready(self) -> None:
        self.settings.setValue(f"demo/{self.folder}", True)
        self.unlock.set_hint(demo_hint_text())
        self.pages.setCurrentWidget(self.unlock)
        self.unlock.prepare("reception")

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        worker.wait(30000)
        if self.session is not None:
            self.lock()
        self.unlock.discard()
        super().closeEvent(event)
