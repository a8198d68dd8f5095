"""Connections per client address and in all, refused at accept (policy/connections.py).

Raw sockets to the plain-text listeners of our real server: the connections over the
limit get their protocol's refusal (SMTP 421 4.7.0, IMAP BYE [UNAVAILABLE], POP3 -ERR
[SYS/TEMP]) and are closed; other addresses are still served, and a closed connection
makes room again. Linux routes all of 127/8 to loopback, so binding the client socket
to 127.0.0.5 gives the server a second client address.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.conftest import MailServer
from tests.waiting import wait_until

FIRST_CLIENT = "127.0.0.1"
SECOND_CLIENT = "127.0.0.5"


@dataclass(frozen=True)
class Family:
    port: str  # the key of `MailServer.ports`
    greeting: bytes
    per_address_refusal: bytes
    in_all_refusal: bytes


SMTP = Family(
    "submission",
    b"220 ",
    b"421 4.7.0 mail.test.example Too many connections from your address, try again later\r\n",
    b"421 4.7.0 mail.test.example Too many connections, try again later\r\n",
)
IMAP = Family(
    "imap",
    b"* OK",
    b"* BYE [UNAVAILABLE] Too many connections from your address\r\n",
    b"* BYE [UNAVAILABLE] Too many connections\r\n",
)
POP3 = Family(
    "pop3",
    b"+OK",
    b"-ERR [SYS/TEMP] Too many connections from your address\r\n",
    b"-ERR [SYS/TEMP] Too many connections\r\n",
)
FAMILIES = pytest.mark.parametrize("family", [SMTP, IMAP, POP3], ids=["smtp", "imap", "pop3"])


class Client:
    """One raw connection from `source`; `first_line` is what the server said first."""

    def __init__(self, port: int, source: str) -> None:
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=(source, 0)
        )
        self.first_line = self._line()

    def _line(self) -> bytes:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                break
            data += chunk
        return data

    def closed_by_server(self) -> bool:
        """True when the server has hung up (nothing more comes, the read sees EOF)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


def greeted(server: MailServer, family: Family, source: str, opened: list[Client]) -> Client | None:
    """A connection from `source` that got the normal greeting, or None (it was refused).

    For `wait_until`: the server releases a closed connection (ours, or the one start-up
    made to see it listening) once it has seen the close, a moment after the client."""
    client = Client(server.ports[family.port], source)
    if not client.first_line.startswith(family.greeting):
        client.close()
        return None
    opened.append(client)
    return client


def fill(server: MailServer, family: Family, sources: list[str], opened: list[Client]) -> None:
    """Hold one greeted connection from each of `sources`."""
    for source in sources:
        greet = functools.partial(greeted, server, family, source, opened)
        wait_until(greet, what=f"a greeting to {source}")


def three_held(make_server: Any, family: Family, clients: list[Client]) -> MailServer:
    """A server with `max_connections_per_ip = 3`, and three greeted connections to
    `family` from FIRST_CLIENT."""
    server: MailServer = make_server(limits={"max_connections_per_ip": 3})
    fill(server, family, [FIRST_CLIENT] * 3, clients)
    return server


def connect(server: MailServer, port: str, source: str, clients: list[Client]) -> Client:
    """A new connection from `source` to the listener `port`, closed at the end."""
    client = Client(server.ports[port], source)
    clients.append(client)
    return client


@FAMILIES
def test_connections_over_the_per_address_limit_are_refused_and_closed(
    make_server: Any, clients: list[Client], family: Family
) -> None:
    server = three_held(make_server, family, clients)

    fourth = connect(server, family.port, FIRST_CLIENT, clients)
    assert fourth.first_line == family.per_address_refusal
    assert fourth.closed_by_server()

    other = connect(server, family.port, SECOND_CLIENT, clients)
    assert other.first_line.startswith(family.greeting)

    records = server.wait_for_log(lambda r: r.get("reason") == "too_many_connections_from_address")
    refused = [r for r in records if r.get("reason") == "too_many_connections_from_address"]
    assert refused[0]["client_ip"] == FIRST_CLIENT
    assert refused[0]["rule"] == "connections"
    assert refused[0]["from_address"] == 3


@FAMILIES
def test_closing_a_connection_makes_room_for_a_new_one(
    make_server: Any, clients: list[Client], family: Family
) -> None:
    server = three_held(make_server, family, clients)
    assert connect(server, family.port, FIRST_CLIENT, clients).first_line == (
        family.per_address_refusal
    )

    clients.pop(0).close()
    wait_until(
        lambda: greeted(server, family, FIRST_CLIENT, clients),
        what="a new connection once one of the three closed",
    )


@FAMILIES
def test_connections_over_the_total_limit_are_refused(
    make_server: Any, clients: list[Client], family: Family
) -> None:
    server = make_server(limits={"max_connections_per_ip": 0, "max_connections": 3})
    fill(server, family, ["127.0.0.2", "127.0.0.3", "127.0.0.4"], clients)

    fourth = connect(server, family.port, SECOND_CLIENT, clients)
    assert fourth.first_line == family.in_all_refusal
    assert fourth.closed_by_server()


def test_submission_and_mx_share_one_count(make_server: Any, clients: list[Client]) -> None:
    server = three_held(make_server, SMTP, clients)

    at_mx = connect(server, "mx", FIRST_CLIENT, clients)
    assert at_mx.first_line == SMTP.per_address_refusal


def test_imap_connections_do_not_count_against_smtp(
    make_server: Any, clients: list[Client]
) -> None:
    server = three_held(make_server, IMAP, clients)

    smtp = connect(server, "submission", FIRST_CLIENT, clients)
    assert smtp.first_line.startswith(SMTP.greeting)
