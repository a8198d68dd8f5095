"""The HR feed: a CSV of separations and transfers, parsed and planned without I/O.

    login,date,kind,unit
    somchai.k@bangkok.go.th,2026-11-30,retire,
    malee.s@bangkok.go.th,2026-11-20,transfer,Traffic and Transport Department

`parse_feed(text)` checks each line (header by name, in any order; `unit` only
for transfers; dates as YYYY-MM-DD, Gregorian) and `plan_feed(rows, accounts,
today)` compares them with the directory: what would change, what is already
so, and what cannot be done. Lines are numbered as in the file (the header is
line 1) so HR can fix them. Planning is sequential over a projection of the
directory, so a file that names a login twice plans like applying it twice, and
applying the same file again plans nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from policy.calendar import utc_date
from policy.model import Account, AccountKind, AccountStatus
from policy.rules import orphaned_since


class Kind(StrEnum):
    SEPARATION = "separation"  # no longer staff (memo 4.1)
    TRANSFER = "transfer"  # moved to another unit inside the organisation


# The words HR systems use, normalised (lower case, spaces and "_" as "-").
KIND_WORDS: dict[str, Kind] = {
    **dict.fromkeys(
        (
            "separation",
            "separated",
            "retire",
            "retired",
            "retirement",
            "resign",
            "resigned",
            "resignation",
            "transfer-out",
            "transferred-out",
            "end-of-contract",
            "contract-end",
            "contract-ended",
        ),
        Kind.SEPARATION,
    ),
    **dict.fromkeys(("transfer", "transferred", "move", "moved", "unit-change"), Kind.TRANSFER),
}
REQUIRED = ("login", "date", "kind")
OPTIONAL = ("unit",)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Thai HR records often use the Buddhist Era (B.E. = A.D. + 543).
_BUDDHIST_ERA_FROM = 2400


@dataclass(frozen=True, slots=True)
class FeedRow:
    line: int
    login: str
    when: date
    kind: Kind
    word: str  # the kind as written, for the audit trail
    unit: str = ""


@dataclass(frozen=True, slots=True)
class FeedError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class FeedChange:
    """One change to one account: `login: before -> after`."""

    line: int
    login: str
    kind: Kind
    word: str
    before: str
    after: str
    separation_date: date | None = None
    unit: str | None = None

    def __str__(self) -> str:
        return f"{self.login}: {self.before} -> {self.after}"


@dataclass(frozen=True, slots=True)
class FeedNote:
    """Something the operator should know that is neither a change nor an error."""

    line: int
    login: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.login}: {self.message}"


@dataclass(frozen=True, slots=True)
class FeedPlan:
    changes: tuple[FeedChange, ...]
    notes: tuple[FeedNote, ...]
    errors: tuple[FeedError, ...]
    unchanged: int  # lines that asked for what is already so


def normalise_kind(word: str) -> Kind | None:
    """The kind a word of the feed stands for, or None when it is not one we know."""
    key = re.sub(r"[\s_]+", "-", word.strip().lower())
    return KIND_WORDS.get(key)


def parse_feed(text: str) -> tuple[list[FeedRow], list[FeedError]]:
    """The rows of a feed and an error per bad line; a bad header is one error, no rows."""
    text = text.removeprefix("\ufeff")  # a byte-order mark left by spreadsheet exports
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[FeedRow] = []
    errors: list[FeedError] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                problem = _check_header(header)
                if problem:
                    return [], [FeedError(line, problem)]
                continue
            if len(cells) > len(header):
                errors.append(FeedError(line, f"{len(cells)} fields, the header has {len(header)}"))
                continue
            fields = dict(zip(header, (c.strip() for c in cells), strict=False))
            row = _row(line, fields)
            if isinstance(row, FeedError):
                errors.append(row)
            else:
                rows.append(row)
    except csv.Error as exc:
        errors.append(FeedError(reader.line_num, f"not valid CSV: {exc}"))
    if header is None:
        errors.append(FeedError(1, "empty file: expected a header login,date,kind[,unit]"))
    return rows, errors


def _check_header(header: list[str]) -> str:
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        detail = []
        if missing:
            detail.append("missing " + ", ".join(missing))
        if unknown:
            detail.append("unknown " + ", ".join(repr(n) for n in unknown))
        if len(set(header)) != len(header):
            detail.append("a column is repeated")
        return "bad header (" + "; ".join(detail) + "): expected login,date,kind[,unit]"
    return ""


def _row(line: int, fields: dict[str, str]) -> FeedRow | FeedError:
    login = fields.get("login", "").lower()
    if not login:
        return FeedError(line, "no login")
    word = fields.get("kind", "")
    kind = normalise_kind(word)
    if kind is None:
        known = "separation (retire, resign, transfer-out, end-of-contract) or transfer"
        return FeedError(line, f"{login}: unknown kind {word!r}: expected {known}")
    when = _date(fields.get("date", ""))
    if isinstance(when, str):
        return FeedError(line, f"{login}: {when}")
    unit = fields.get("unit", "")
    if kind is Kind.TRANSFER and not unit:
        return FeedError(line, f"{login}: a transfer needs the new unit (column unit)")
    return FeedRow(line, login, when, kind, word, unit if kind is Kind.TRANSFER else "")


def _date(text: str) -> date | str:
    """The date, or what is wrong with it."""
    if not _ISO_DATE.match(text):
        return f"bad date {text!r}: expected YYYY-MM-DD"
    try:
        value = date.fromisoformat(text)
    except ValueError:
        return f"bad date {text!r}: no such day"
    if value.year >= _BUDDHIST_ERA_FROM:
        gregorian = value.year - 543
        return f"bad date {text!r}: {value.year} looks like a Buddhist Era year (use {gregorian})"
    return value


def plan_feed(rows: Iterable[FeedRow], accounts: Iterable[Account], today: date) -> FeedPlan:
    """What applying `rows` to `accounts` would change, line by line, in file order."""
    current: dict[str, Account] = {a.login.lower(): a for a in accounts}
    changes: list[FeedChange] = []
    notes: list[FeedNote] = []
    errors: list[FeedError] = []
    unchanged = 0
    now = datetime.combine(today, time(12), tzinfo=UTC)
    for row in rows:
        account = current.get(row.login)
        if account is None:
            errors.append(FeedError(row.line, f"unknown login {row.login}"))
            continue
        if row.kind is Kind.SEPARATION:
            outcome = _separation(row, account)
        else:
            outcome = _transfer(row, account, today)
        if isinstance(outcome, FeedError):
            errors.append(outcome)
            continue
        if isinstance(outcome, FeedNote):
            notes.append(outcome)
            unchanged += 1
            continue
        if outcome is None:
            unchanged += 1
            continue
        after = _project(account, outcome, now)
        notes.extend(_newly_orphaned(row.line, account, after, current, now))
        current[row.login] = after
        changes.append(outcome)
    return FeedPlan(tuple(changes), tuple(notes), tuple(errors), unchanged)


def _state(account: Account) -> str:
    if account.status is AccountStatus.DEPARTED and account.separation_date is not None:
        return f"departed {account.separation_date.isoformat()}"
    return account.status.value


def _separation(row: FeedRow, account: Account) -> FeedChange | FeedNote | FeedError | None:
    if account.kind is AccountKind.ROLE:
        return FeedError(row.line, f"{row.login} is a role (unit) mailbox, not a person")
    status = account.status
    if status is AccountStatus.DEPARTED and account.separation_date == row.when:
        return None
    if status in (AccountStatus.ACTIVE, AccountStatus.DEPARTED):
        after = f"departed {row.when.isoformat()}"
        return FeedChange(row.line, row.login, row.kind, row.word, _state(account), after, row.when)
    # Pending, locked, suspended, closed: never reopened by a feed.
    since = utc_date(account.status_since) if account.status_since else None
    if account.separation_date == row.when or (since is not None and since >= row.when):
        return None  # already past the departure (e.g. suspended by the sweep)
    return FeedNote(
        row.line,
        row.login,
        f"left {status.value} (since {since or 'unknown'}); not changed to departed:"
        " use `mailserver account depart` to give a grace window",
    )


def _transfer(row: FeedRow, account: Account, today: date) -> FeedChange | FeedNote | None:
    if account.unit == row.unit:
        return None
    if row.when > today:
        return FeedNote(
            row.line,
            row.login,
            f"transfer on {row.when.isoformat()} is in the future: apply the file again then",
        )
    return FeedChange(
        row.line,
        row.login,
        row.kind,
        row.word,
        f"unit {account.unit or '-'}",
        f"unit {row.unit}",
        unit=row.unit,
    )


def _project(account: Account, change: FeedChange, now: datetime) -> Account:
    if change.kind is Kind.SEPARATION:
        return dataclasses.replace(
            account,
            status=AccountStatus.DEPARTED,
            separation_date=change.separation_date,
            status_since=now,
        )
    return dataclasses.replace(account, unit=change.unit or "", unit_since=now)


def _newly_orphaned(
    line: int,
    before: Account,
    after: Account,
    accounts: Mapping[str, Account],
    now: datetime,
) -> list[FeedNote]:
    """Role mailboxes this change leaves without their responsible person (memo 4.3)."""
    notes = []
    for role in accounts.values():
        if role.kind is not AccountKind.ROLE or (role.responsible or "").lower() != after.login:
            continue
        if orphaned_since(role, before, now)[0] or not orphaned_since(role, after, now)[0]:
            continue
        notes.append(
            FeedNote(
                line,
                role.login,
                f"will be orphaned: its responsible person {after.login} "
                + ("left" if after.status is AccountStatus.DEPARTED else "moved unit")
                + "; the unit must name a new one",
            )
        )
    return notes
