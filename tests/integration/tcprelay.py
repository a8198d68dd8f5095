"""A real TCP relay on loopback in front of a server, for counting and breaking connections.

    relay = Relay(slapd.port)
    ...  # the client talks to relay.port
    relay.accepted, relay.open, relay.peak   # connections: ever, now, most at once
    relay.cut()        # close every connection now (a server's idle timeout)
    relay.poison()     # the current connections die when their client next sends
    relay.stall = True # nothing the clients send is passed on (a hung server)
    relay.sent         # every byte the clients sent (to look for cleartext)

Two threads per connection copy bytes; when one side closes, both are closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.poisoned = False
        self.closed = False


class Relay:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self.stall = False
        self.sent = bytearray()
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="relay-accept").start()

    def url(self, scheme: str = "ldap") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:  # the server is down: the client sees its connection closed
                with self._lock:
                    self.accepted += 1
                client.close()
                continue
            pair = _Pair(client, upstream)
            with self._lock:
                self.accepted += 1
                self.open += 1
                self.peak = max(self.peak, self.open)
                self._pairs.add(pair)
            threading.Thread(target=self._pipe, args=(pair, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(pair, False), daemon=True).start()

    def _pipe(self, pair: _Pair, from_client: bool) -> None:
        source, sink = (pair.client, pair.upstream) if from_client else (pair.upstream, pair.client)
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_client:
                    with self._lock:
                        self.sent += data
                    if pair.poisoned:
                        break
                    if self.stall:
                        continue
                sink.sendall(data)
        self._close(pair)

    def _close(self, pair: _Pair) -> None:
        with self._lock:
            if pair.closed:
                return
            pair.closed = True
            self.open -= 1
            self._pairs.discard(pair)
        for sock in (pair.client, pair.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            self._close(pair)

    def poison(self) -> None:
        with self._lock:
            for pair in self._pairs:
                pair.poisoned = True

    def close(self) -> None:
        self._listener.close()
        self.cut()
