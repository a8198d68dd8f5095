"""The integration fixtures (a real `mailserver serve` on loopback) for the attack tests."""

from tests.integration.conftest import make_server, server  # noqa: F401
