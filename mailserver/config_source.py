"""Which settings file a command reads, looked for where administrators expect it.

In order: `--config FILE`; the `MAILSERVER_CONFIG` environment variable; `mailserver.toml`
in the working directory; `/etc/mailserver/mailserver.toml` (the file the systemd unit in
deploy/ names); else the built-in defaults, which keep everything under ./var. A file
named by `--config` or `MAILSERVER_CONFIG` must exist (a typo is an error, never the
defaults); the other two are read when they exist. docs/configuration.md says the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

ENV_VAR = "MAILSERVER_CONFIG"
LOCAL_FILE = "mailserver.toml"
SYSTEM_FILE = Path("/etc/mailserver/mailserver.toml")


class Origin(StrEnum):
    """How the settings were found."""

    OPTION = "--config"
    ENVIRONMENT = ENV_VAR
    WORKING_DIRECTORY = "the working directory"
    SYSTEM = "the system location"
    DEFAULTS = "built-in defaults"


@dataclass(frozen=True, slots=True)
class SettingsSource:
    """The settings file a command uses (None: the built-in defaults), and how it was found."""

    path: Path | None
    origin: Origin

    def describe(self) -> str:
        """For messages: `/etc/x.toml (from MAILSERVER_CONFIG)`, `built-in defaults (...)`."""
        if self.path is None:
            return f"built-in defaults (found no ${ENV_VAR}, ./{LOCAL_FILE} or {SYSTEM_FILE})"
        if self.origin is Origin.OPTION:
            return str(self.path)
        return f"{self.path} (from {self.origin.value})"


def find_settings(
    option: Path | None,
    environ: Mapping[str, str],
    cwd: Path,
    system_file: Path = SYSTEM_FILE,
) -> SettingsSource:
    """The settings file to read: `option`, then $MAILSERVER_CONFIG, then ./mailserver.toml,
    then `system_file`; the built-in defaults when none applies."""
    if option is not None:
        return SettingsSource(option, Origin.OPTION)
    named = environ.get(ENV_VAR, "").strip()
    if named:
        return SettingsSource(Path(named), Origin.ENVIRONMENT)
    local = cwd / LOCAL_FILE
    if local.is_file():
        return SettingsSource(local, Origin.WORKING_DIRECTORY)
    if system_file.is_file():
        return SettingsSource(system_file, Origin.SYSTEM)
    return SettingsSource(None, Origin.DEFAULTS)
