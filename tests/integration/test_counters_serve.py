"""`serve` with Redis counters: it PINGs Redis at start and reports what it found.

A Redis that does not answer does not stop the server, as a directory that
does not answer does not: the start-up report and the log say so, and the
setting `on_redis_down` decides what the counts do meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.redis_server import RedisServer, redis_server_fixture  # noqa: F401
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def counters_line(mail: Any) -> str:
    """The start-up report's counters line (printed once the PING is answered or not)."""

    def printed() -> str | None:
        lines = mail.stdout().splitlines()
        return next((line for line in lines if line.strip().startswith("counters ")), None)

    return wait_until(printed, what="the counters line of the start-up report")


def test_serve_reports_a_redis_that_answers(make_server: Any, redis_server: RedisServer) -> None:
    mail = make_server(counters={"backend": "redis", "redis_url": redis_server.url})
    line = counters_line(mail)
    assert redis_server.url in line and "unavailable" not in line


@pytest.mark.parametrize(
    ("on_redis_down", "says"),
    [("fail_closed", "counts fail until it answers"), ("local", "counting in this process")],
)
def test_serve_starts_and_says_so_when_redis_is_down(
    make_server: Any, redis_server: RedisServer, on_redis_down: str, says: str
) -> None:
    redis_server.stop()
    mail = make_server(
        counters={
            "backend": "redis",
            "redis_url": redis_server.url,
            "on_redis_down": on_redis_down,
            "redis_timeout_seconds": 0.5,
        }
    )
    line = counters_line(mail)
    assert "unavailable" in line and says in line
    assert "counters:" in mail.stderr_path.read_text()  # logged for the operator too
