"""Live desks (issue 15): another desk's committed change reaches this desk's screens.

A ``Watcher`` runs one background thread with its own listening connection
(store/server/listen.py) and turns the server's notifications into "patients X, Y changed at
revision N" callbacks. It keeps the last revision it delivered, and a notice of a later
revision makes it read the patients changed since then from the server (one indexed read
under row-level security; notices that arrive together make one change). So:

- a notice it has already covered (heard twice around a reconnect) is dropped;
- a missed notice, one too big to carry its ids, or one forged by another login (any login
  may NOTIFY on any channel) can neither lose nor invent a change;
- after the connection was lost it reconnects with backoff and reads everything changed
  since that revision (NOTIFY is not replayed), delivered as one change marked ``caught_up``.

The watcher never raises into its caller: a lost or unreachable server becomes the state
DISCONNECTED (with the sentence the desk shows) and the thread retries with backoff until it
is stopped. Callbacks run on the watcher's thread; the Qt bridge (ui/live_bridge.py) moves
them onto the UI thread. Qt-free.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from ..store.server.listen import Listener

log = logging.getLogger(__name__)

CONNECTING = "connecting"
LIVE = "live"
DISCONNECTED = "disconnected"
STOPPED = "stopped"
UNREACHABLE_MESSAGE = "Server unreachable - nothing can be saved until it is back"
MESSAGES = {
    CONNECTING: "Connecting to the register server...",
    LIVE: "Connected to the register server: other desks' changes show here as they are saved.",
    DISCONNECTED: UNREACHABLE_MESSAGE,
    STOPPED: "Not listening for other desks' changes.",
}
BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)  # seconds between reconnection attempts, then the last


@dataclass(frozen=True)
class Change:
    """Patients changed on the server, up to and including ``revision``. ``caught_up`` marks
    a change read back by revision (after a gap or a reconnection) rather than heard live."""

    revision: int
    patients: tuple[int, ...]
    caught_up: bool = False


class Watcher:
    """Listens for one practice's changes on its own connection, on its own thread.

    ``connect`` opens a fresh server connection (the desk's login; called again to reconnect).
    ``since`` is the revision the desk's screens show; None means "now" (the first connection
    reads the current revision and reports nothing before it)."""

    def __init__(self, connect: Callable[[], object], *, on_change: Callable[[Change], None],
                 on_state: Callable[[str, str], None] | None = None, since: int | None = None,
                 poll: float = 0.2, backoff: tuple[float, ...] = BACKOFF):
        self._connect, self._on_change, self._on_state = connect, on_change, on_state
        self._revision = since
        self._poll, self._backoff = poll, backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None
        self.state = STOPPED
        self.reconnects = 0  # successful connections after the first

    @property
    def revision(self) -> int | None:
        """The last revision delivered (or read at the first connection)."""
        return self._revision

    def start(self) -> "Watcher":
        if self._thread is not None:
            raise RuntimeError("this watcher has already been started")
        self._thread = threading.Thread(target=self._run, name="gp-optout-live", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close the connection; returns within about ``poll`` seconds
        (or the connection attempt under way, bounded by its connect_timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_state(STOPPED)

    # -- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        attempt, connected_before = 0, False
        while not self._stop.is_set():
            if not connected_before:
                self._set_state(CONNECTING)
            try:
                self._listener = self._open()
                if connected_before:
                    self.reconnects += 1
                connected_before, attempt = True, 0
                self._catch_up()
                self._set_state(LIVE)
                self._listen()
            except Exception as exc:  # why: an outage must never reach the UI; it is a state, retried
                if self._stop.is_set():
                    break
                log.info("register server connection lost or refused (%s)", exc.__class__.__name__)
                self._set_state(DISCONNECTED)
                self._stop.wait(self._backoff[min(attempt, len(self._backoff) - 1)])
                attempt += 1
            finally:
                self._close()

    def _open(self) -> Listener:
        conn = self._connect()
        try:
            return Listener.open(conn)
        except BaseException:
            conn.close()
            raise

    def _listen(self) -> None:
        while not self._stop.is_set():
            notices = self._listener.wait(self._poll)
            # Any login may NOTIFY on any channel (PostgreSQL has no privilege for it), so a
            # notice is only a wake-up: what changed is read back through row-level security.
            # A forged notice then costs one indexed read and can never hide a real change.
            if any(n.revision is None or n.revision > self._revision for n in notices):
                self._catch_up(caught_up=False)

    def _catch_up(self, *, caught_up: bool = True) -> None:
        if self._revision is None:  # first connection: start from the server's revision now
            self._revision = self._listener.revision()
            return
        revision, patients = self._listener.changes_since(self._revision)
        if revision > self._revision:
            self._deliver(Change(revision, patients, caught_up=caught_up))

    def _deliver(self, change: Change) -> None:
        self._revision = change.revision
        try:
            self._on_change(change)
        except Exception:  # why: a screen's failure to refresh must not stop the desk hearing changes
            log.exception("a live-change callback failed")

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(state, MESSAGES[state])
            except Exception:  # why: as _deliver
                log.exception("a live-state callback failed")

    def _close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # why: closing a connection the server already dropped; nothing to keep
                log.debug("closing the listening connection failed", exc_info=True)
            self._listener = None
