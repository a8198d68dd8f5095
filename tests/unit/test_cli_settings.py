"""The command `serve` tells the administrator to run next (mailserver/cli_settings.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mailserver import config
from mailserver.cli_settings import invocation
from mailserver.serve import first_account_hint

CLONE = Path(__file__).resolve().parents[2]  # a clone root: this checkout


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        (".venv/bin/mailserver", ".venv/bin/mailserver"),  # `make run`, the README
        (str(CLONE / ".venv/bin/mailserver"), ".venv/bin/mailserver"),
        (str(CLONE / "mailserver"), "./mailserver"),  # `mailserver` alone would search PATH
        ("/opt/mailserver/venv/bin/mailserver", "/opt/mailserver/venv/bin/mailserver"),
        ("../other/.venv/bin/mailserver", str(CLONE.parent / "other/.venv/bin/mailserver")),
        ("mailserver", "mailserver"),  # found on PATH: found there again
    ],
)
def test_the_program_as_invoked_relative_to_the_working_directory(
    argv0: str, expected: str
) -> None:
    words = invocation(None, argv0=argv0, module=None, executable="/usr/bin/python3", cwd=CLONE)
    assert words == expected


def test_python_dash_m_and_the_config_option() -> None:
    words = invocation(
        Path("my settings.toml"),
        argv0=str(CLONE / "mailserver/cli.py"),
        module="mailserver.cli",
        executable=str(CLONE / ".venv/bin/python"),
        cwd=CLONE,
    )
    assert words == ".venv/bin/python -m mailserver.cli --config 'my settings.toml'"


def test_the_hint_uses_a_configured_local_domain_else_the_readme_one(tmp_path: Path) -> None:
    settings = config.load(None, base=tmp_path)
    assert first_account_hint(settings, "mailserver") == (
        "mailserver account add alice@bangkok.go.th"
    )
    server = dataclasses.replace(settings.server, local_domains=("example.org", "other.org"))
    local = dataclasses.replace(settings, server=server)
    assert first_account_hint(local, ".venv/bin/mailserver --config m.toml") == (
        ".venv/bin/mailserver --config m.toml account add alice@example.org"
    )
