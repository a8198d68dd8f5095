"""LIST patterns built to make a backtracking matcher explode (RFC 3501 §6.3.8 wildcards).

Before, `*a*a*a*a*a*a*a*a*a*b` against a long name of a's kept the event loop busy
for longer than any client waits; the clients here give up after 10 seconds.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import MailServer
from tests.integration.test_imap_messages import imap_client

LONG_NAME = "a" * 64
PATHOLOGICAL = [
    "*a*a*a*a*a*a*a*a*a*b",
    "%a%a%a%a%a%a%a%a%a%b",
    "*a%a*a%a*a%a*a%a*a%b",
]


@pytest.mark.parametrize("pattern", PATHOLOGICAL)
def test_pathological_list_is_answered_and_others_are_served(
    server: MailServer, pattern: str
) -> None:
    attacker = imap_client(server)
    attacker.create_folder(LONG_NAME)
    attacker.create_folder(LONG_NAME + "b")
    attacker.subscribe_folder(LONG_NAME)
    attacker.subscribe_folder(LONG_NAME + "b")

    listed = [name for _, _, name in attacker.list_folders("", pattern)]
    assert listed == [LONG_NAME + "b"]
    subscribed = [name for _, _, name in attacker.list_sub_folders("", pattern)]
    assert subscribed == [LONG_NAME + "b"]

    other = imap_client(server, "alice@bangkok.go.th")
    assert other.noop()[0].startswith(b"NOOP")
    other.logout()
    attacker.logout()


def test_a_pattern_as_long_as_a_command_line_is_answered(server: MailServer) -> None:
    client = imap_client(server)
    client.create_folder(LONG_NAME + "b")
    huge = "*a" * 20_000 + "b"  # 40 KB, under imap.max_line
    assert client.list_folders("", huge) == []
    assert [name for _, _, name in client.list_folders("", "*a" * 64 + "b")] == [LONG_NAME + "b"]
    client.logout()
