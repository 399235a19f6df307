"""A desktop's notification server of the tests' own, on a session bus of their own.

A real `dbus-daemon --session` and a small org.freedesktop.Notifications service (the
Desktop Notifications Specification: Notify, GetCapabilities, GetServerInformation,
CloseNotification; the ActionInvoked and NotificationClosed signals) written with jeepney,
so that a real `notify-send` shows its popups here and a test can click one.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


@dataclass(frozen=True)
class Popup:
    id: int
    app_name: str
    summary: str
    body: str
    actions: tuple[str, ...]  # key, label, key, label…
    urgency: int | None
    icon: str


class NotificationServer:
    def __init__(self, address: str, capabilities: tuple[str, ...]) -> None:
        self.address = address
        self.capabilities = capabilities
        self.popups: list[Popup] = []
        self._clicks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the notification server did not take its name")

    def click(self, popup: Popup) -> None:
        """What a click on the popup's body does: the "default" action, then it closes."""
        self._clicks.put(popup.id)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Popup]:
        deadline = time.monotonic() + timeout
        while len(self.popups) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.popups)} popups, not {count}: {self.popups}")
            time.sleep(0.05)
        return list(self.popups)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _serve(self) -> None:
        with open_dbus_connection(self.address) as conn:
            conn.send_and_get_reply(message_bus.RequestName(NAME))
            self._ready.set()
            emitter = DBusAddress(PATH, interface=NAME)
            while not self._stop.is_set():
                while not self._clicks.empty():
                    popup_id = self._clicks.get()
                    conn.send(new_signal(emitter, "ActionInvoked", "us", (popup_id, "default")))
                    conn.send(new_signal(emitter, "NotificationClosed", "uu", (popup_id, 2)))
                try:
                    message = conn.receive(timeout=0.1)
                except TimeoutError:
                    continue
                if message.header.message_type is MessageType.method_call:
                    conn.send(self._answer(message))

    def _answer(self, message):  # type: ignore[no-untyped-def]
        member = message.header.fields.get(HeaderFields.member)
        if member == "GetCapabilities":
            return new_method_return(message, "as", (list(self.capabilities),))
        if member == "GetServerInformation":
            return new_method_return(message, "ssss", ("tests", "hoso", "1", "1.2"))
        if member == "Notify":
            app, _replaces, icon, summary, body, actions, hints, _timeout = message.body
            urgency = hints.get("urgency")
            popup = Popup(
                len(self.popups) + 1,
                app,
                summary,
                body,
                tuple(actions),
                urgency[1] if urgency else None,
                icon,
            )
            self.popups.append(popup)
            return new_method_return(message, "u", (popup.id,))
        return new_method_return(message)  # CloseNotification and the rest: nothing to say


@contextmanager
def session_bus(
    folder: Path, capabilities: tuple[str, ...] = ("actions", "body")
) -> Iterator[tuple[str, NotificationServer]]:
    """A session bus (its address) with the notification server on it."""
    daemon_program = shutil.which("dbus-daemon")
    if daemon_program is None:
        import pytest

        pytest.skip("dbus-daemon (Debian package dbus) is missing")
    address = f"unix:path={folder / 'bus'}"
    daemon = subprocess.Popen(
        [daemon_program, "--session", "--nofork", f"--address={address}", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert daemon.stdout is not None
        daemon.stdout.readline()  # printed once it listens
        server = NotificationServer(address, capabilities)
        try:
            yield address, server
        finally:
            server.close()
    finally:
        daemon.terminate()
        daemon.wait(10)
