"""Checks of the settings against the machine, for `check-config` and the start of `serve`.

`config.validate` judges the values among themselves; these look outside: the files
the settings name, and the host name the server will announce.

- Every setting of type `Path | None` names a file the operator provides (a TLS
  certificate and key, a password file, a CA bundle...): when set, it must be a
  readable file, or `serve` would die at the first use of it. Paths the server creates
  itself (the data directory, the spool, the SQLite file, the generated certificate
  under data_dir/certs) have a default and are never "missing".
- `server.hostname` defaults to the machine's FQDN, which is `localhost` on a machine
  without one; it is the name in the SMTP greeting (RFC 5321 4.1.3 wants the FQDN of
  the host), in Received: (4.4), in the DSNs and warning mails, and in
  postmaster@hostname. A name without a dot is a warning, not an error: on a laptop
  trying the server out it is harmless.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path

from mailserver.config import ConfigError, Settings

EXAMPLE_HOSTNAME = "mail.bangkok.go.th"


def named_files(settings: Settings) -> list[tuple[str, Path]]:
    """(key, resolved path) of every file setting that is set, in the order of the file."""
    found: list[tuple[str, Path]] = []
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        hints = typing.get_type_hints(type(values))
        for item in dataclasses.fields(values):
            value = getattr(values, item.name)
            if _is_optional_path(hints[item.name]) and value is not None:
                found.append((f"{section.name}.{item.name}", settings.path(value)))
    return found


def missing_files(settings: Settings) -> list[ConfigError]:
    """One error for each file a setting names that is absent, not a file, or unreadable."""
    errors: list[ConfigError] = []
    for key, path in named_files(settings):
        if not path.exists():
            problem = "no such file"
        elif not path.is_file():
            problem = "not a file"
        elif not os.access(path, os.R_OK):
            problem = "cannot be read (permission denied)"
        else:
            continue
        errors.append(ConfigError(key, f"{path}: {problem}"))
    return errors


def advisories(settings: Settings) -> list[ConfigError]:
    """Settings that work but are probably not what the operator wants (warnings)."""
    found: list[ConfigError] = []
    name = settings.server.hostname.strip().rstrip(".")
    if "." not in name:
        found.append(
            ConfigError(
                "server.hostname",
                f"{name!r} is not a fully qualified host name; it is announced in the SMTP"
                f" greeting, Received: headers and warning mails, as postmaster@{name}."
                f' Set it in the settings file: [server] hostname = "{EXAMPLE_HOSTNAME}"',
            )
        )
    return found


def _is_optional_path(hint: object) -> bool:
    if typing.get_origin(hint) not in (types.UnionType, typing.Union):
        return False
    return set(typing.get_args(hint)) == {Path, type(None)}
