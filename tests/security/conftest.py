"""The running-server fixtures of the integration tests (`server`, `make_server`)."""

from tests.integration.conftest import *  # noqa: F403
