"""The directory: where accounts and their state live (the one source of truth).

Every backend (embedded SQLite here, LDAP later) implements `Directory` and
returns immutable `policy.model.Account` snapshots. A backend that cannot
reach its store raises `DirectoryUnavailable`; callers fail closed on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from policy.model import Account, AccountKind, AccountStatus


class DirectoryError(Exception):
    """An admin write that cannot be done (the message says why, in one line)."""


class DirectoryUnavailable(DirectoryError):
    """The directory cannot be reached or read: fail closed (tempfail)."""


class AccountNotFound(DirectoryError):
    pass


class AccountExists(DirectoryError):
    pass


@dataclass(frozen=True, slots=True)
class EntryChange:
    """One entry written at or after a moment: who, its revision now, and when."""

    login: str
    revision: str
    modified: datetime


class Directory(Protocol):
    """Reads for the servers, writes for the admin CLI. All methods are coroutines."""

    async def authenticate(self, login: str, password: str) -> Account | None:
        """The account when `password` is right; None for an unknown login or a wrong password.

        Unknown login and wrong password take the same time and give the same answer.
        The account's status is not judged here: that is the policy's job.
        """
        ...

    async def get(self, login: str) -> Account | None:
        """A fresh snapshot of the account with this login (case-insensitive), or None."""
        ...

    async def find_by_address(self, address: str) -> Account | None:
        """The account that receives mail for `address` (primary or alias), or None."""
        ...

    async def local_domains(self) -> frozenset[str]:
        """Domains of every address in the directory, lower-case."""
        ...

    async def list_accounts(self, status: AccountStatus | None = None) -> list[Account]:
        """Every account (or those with `status`), ordered by login."""
        ...

    async def changed_since(self, since: datetime) -> list[EntryChange]:
        """Entries written at or after `since` (by anyone), for the change feed."""
        ...

    async def add_account(
        self,
        login: str,
        *,
        password_hash: str | None,
        address: str | None = None,
        aliases: tuple[str, ...] = (),
        kind: AccountKind = AccountKind.PERSON,
        status: AccountStatus = AccountStatus.ACTIVE,
        unit: str = "",
        responsible: str | None = None,
        display_name: str = "",
        actor: str = "",
        now: datetime,
    ) -> Account:
        """Create an account; raises AccountExists if the login or an address is taken."""
        ...

    async def set_password_hash(self, login: str, password_hash: str, *, now: datetime) -> Account:
        """Replace the stored password hash (already hashed by the caller)."""
        ...

    async def set_status(
        self,
        login: str,
        status: AccountStatus,
        *,
        reason: str = "",
        actor: str = "",
        now: datetime,
        separation_date: date | None = None,
    ) -> Account:
        """Move the account to `status`, recording why, who and when."""
        ...

    async def update(self, login: str, *, now: datetime, **changes: object) -> Account:
        """Change other fields (unit, responsible, delegates, aliases, send_as, smtp/imap flags)."""
        ...

    async def close(self) -> None: ...
