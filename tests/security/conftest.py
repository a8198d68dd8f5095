"""The security tests drive the real server: the integration fixtures start it."""

from tests.integration.conftest import make_server, server  # noqa: F401
