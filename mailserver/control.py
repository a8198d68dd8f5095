"""The node's control socket: the admin CLI tells the running server an account changed.

A suspension or lock made with `mailserver account ...` must reach live IMAP
sessions on this node at once, not at their next periodic re-check. The CLI
writes one JSON line to a Unix socket under the data directory; the server
re-judges every live session of that login. The socket is mode 0600, and the
message carries only a login: the server re-reads the directory itself, so a
forged message can at worst cause an extra check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"


class AccountWatch:
    """Who wants to hear that an account changed: live sessions, keyed by login."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[Callable[[], None]]] = defaultdict(set)
        self._everyone: set[Callable[[str], None]] = set()

    def watch(self, login: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when `login` changes; returns the function that stops it."""
        key = login.lower()
        self._listeners[key].add(callback)

        def stop() -> None:
            listeners = self._listeners.get(key)
            if listeners is not None:
                listeners.discard(callback)
                if not listeners:
                    del self._listeners[key]

        return stop

    def watch_all(self, callback: Callable[[str], None]) -> None:
        """Call `callback(login)` for every change (e.g. to drop a credential cache entry)."""
        self._everyone.add(callback)

    def changed(self, login: str) -> int:
        """Tell everyone watching `login`; returns how many sessions were told."""
        for callback in list(self._everyone):
            callback(login.lower())
        listeners = list(self._listeners.get(login.lower(), ()))
        for callback in listeners:
            callback()
        return len(listeners)

    def sessions(self, login: str) -> int:
        return len(self._listeners.get(login.lower(), ()))


async def serve_control(path: Path, watch: AccountWatch) -> asyncio.AbstractServer:
    """Listen on the control socket; each line `{"account": LOGIN}` calls watch.changed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            message = json.loads(line)
            told = watch.changed(str(message["account"]))
            writer.write(json.dumps({"sessions": told}).encode() + b"\n")
            await writer.drain()
        except (ValueError, KeyError, TypeError, TimeoutError, ConnectionError) as exc:
            log.warning("bad control message: %s", type(exc).__name__)
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(handle, path)
    finally:
        os.umask(old_umask)
    return server


def notify_account_changed(data_dir: Path, login: str, timeout: float = 2.0) -> int | None:
    """From the CLI: tell a running server on this node; None when none is running."""
    path = data_dir / SOCKET_NAME
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps({"account": login}).encode() + b"\n")
            reply = sock.makefile("rb").readline()
        return int(json.loads(reply)["sessions"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
