"""Validation of account values, shared by every directory backend (one set of rules)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mailserver.directory import DirectoryError
from mailserver.logins import normal_login

_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
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
    """The login as stored (`mailserver.logins.normal_login`); DirectoryError if invalid."""
    normal = normal_login(login)
    if normal is None:
        raise DirectoryError(f"{login!r} is not a valid login")
    return normal


def valid_address(address: str) -> str:
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address) or len(address) > _MAX_NAME:
        raise DirectoryError(f"{address!r} is not an e-mail address")
    return address.lower()


def valid_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """Valid, lower-case, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(valid_address(a) for a in addresses))


def clean_update(changes: Mapping[str, object]) -> dict[str, Any]:
    """The checked values of a `Directory.update`: text for unit and display_name, a login
    (or None) for responsible, logins for delegates, addresses for aliases and send_as,
    booleans for the smtp/imap flags; DirectoryError for an unknown key or a bad value."""
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise DirectoryError(f"cannot update {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ("unit", "display_name"):
            clean[key] = text(key, value)
        elif key == "responsible":
            clean[key] = None if value is None else valid_login(text(key, value))
        elif key == "delegates":
            clean[key] = tuple(dict.fromkeys(valid_login(v) for v in strings(key, value)))
        elif key in ("aliases", "send_as"):
            clean[key] = valid_addresses(strings(key, value))
        elif isinstance(value, bool):
            clean[key] = value
        else:
            raise DirectoryError(f"{key} must be true or false")
    return clean


def check_role_links(login: str, role: bool, clean: Mapping[str, Any]) -> None:
    """The rules every backend applies to an update's responsible and delegates: a role
    mailbox needs a responsible person, a person's account has neither, and nobody is
    their own responsible or delegate. (Whether those logins exist is the backend's check.)"""
    if "responsible" in clean:
        responsible = clean["responsible"]
        if role and responsible is None:
            raise DirectoryError(f"role mailbox {login} needs a responsible person")
        if not role and responsible is not None:
            raise DirectoryError("only role mailboxes have a responsible person")
        if responsible == login:
            raise DirectoryError(f"{login} cannot be its own responsible")
    delegates = clean.get("delegates", ())
    if delegates and not role:
        raise DirectoryError("only role mailboxes have delegates")
    if login in delegates:
        raise DirectoryError(f"{login} cannot be its own delegate")
