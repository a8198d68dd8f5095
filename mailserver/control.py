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
from typing import Any

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
        for listener in listeners:
            listener()
        return len(listeners)

    def sessions(self, login: str) -> int:
        return len(self._listeners.get(login.lower(), ()))


async def serve_control(
    path: Path, watch: AccountWatch, queue_changed: Callable[[], None]
) -> asyncio.Server:
    """Listen on the control socket. One JSON line per connection:
    `{"account": LOGIN}` calls watch.changed; `{"queue": "changed"}` makes the queue
    runner re-read the spool (after `mailserver queue retry|delete|bounce`)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            message = json.loads(line)
            reply: dict[str, str | int]
            if "queue" in message:
                queue_changed()
                reply = {"queue": "ok"}
            else:
                reply = {"sessions": watch.changed(str(message["account"]))}
            writer.write(json.dumps(reply).encode() + b"\n")
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
    reply = _send(data_dir, {"account": login}, timeout)
    try:
        return int(reply["sessions"]) if reply is not None else None
    except (KeyError, TypeError, ValueError):
        return None


def notify_queue_changed(data_dir: Path, timeout: float = 2.0) -> bool:
    """From the CLI: make a running server re-read its spool; False when none is running."""
    return _send(data_dir, {"queue": "changed"}, timeout) is not None


def _send(data_dir: Path, message: dict[str, str], timeout: float) -> dict[str, Any] | None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(data_dir / SOCKET_NAME))
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = json.loads(sock.makefile("rb").readline())
        return reply if isinstance(reply, dict) else None
    except (OSError, ValueError):
        return None
