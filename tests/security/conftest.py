"""The integration fixtures (a real `mailserver serve` over loopback) for the attack tests."""

from tests.integration.conftest import make_server, server  # noqa: F401
