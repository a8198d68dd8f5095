"""Validation of account values, shared by every directory backend (one set of rules)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailserver.directory import DirectoryError

_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
_LOGIN = re.compile(r"[^\s\x00-\x1f\x7f]+")
_MAX_NAME = 254

# Fields `Directory.update` may change.
UPDATABLE = frozenset(
    {
        "unit",
        "responsible",
        "delegates",
        "aliases",
        "send_as",
        "smtp_enabled",
        "imap_enabled",
        "display_name",
    }
)


def text(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise DirectoryError(f"{key} must be text")
    return value


def strings(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise DirectoryError(f"{key} must be a list of text values")
    return tuple(text(key, v) for v in value)


def valid_login(login: str) -> str:
    if not isinstance(login, str) or not _LOGIN.fullmatch(login) or len(login) > _MAX_NAME:
        raise DirectoryError(f"{login!r} is not a valid login")
    return login.lower()


def valid_address(address: str) -> str:
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address) or len(address) > _MAX_NAME:
        raise DirectoryError(f"{address!r} is not an e-mail address")
    return address.lower()


def valid_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """Valid, lower-case, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(valid_address(a) for a in addresses))
