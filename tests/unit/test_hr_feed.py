"""The HR feed (mailserver/lifecycle/hrfeed.py): CSV parsing and planning, without I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from mailserver.lifecycle.hrfeed import (
    FeedChange,
    FeedPlan,
    FeedRow,
    Kind,
    normalise_kind,
    parse_feed,
    plan_feed,
)
from policy.model import Account, AccountKind, AccountStatus

TODAY = date(2026, 11, 26)
HEADER = "login,date,kind,unit\n"


def rows_of(text: str) -> list[FeedRow]:
    rows, errors = parse_feed(text)
    assert errors == []
    return rows


def errors_of(text: str) -> list[str]:
    return [str(e) for e in parse_feed(text)[1]]


# --- parsing ---------------------------------------------------------------------------


def test_a_feed_of_both_kinds() -> None:
    rows = rows_of(
        HEADER + "Somchai.K@bangkok.go.th,2026-11-30,separation,\n"
        "malee.s@bangkok.go.th , 2026-11-20 , transfer , Traffic and Transport Department\n"
    )
    assert rows == [
        FeedRow(2, "somchai.k@bangkok.go.th", date(2026, 11, 30), Kind.SEPARATION, "separation"),
        FeedRow(
            3,
            "malee.s@bangkok.go.th",
            date(2026, 11, 20),
            Kind.TRANSFER,
            "transfer",
            "Traffic and Transport Department",
        ),
    ]


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("separation", Kind.SEPARATION),
        ("Retire", Kind.SEPARATION),
        ("retirement", Kind.SEPARATION),
        ("RESIGN", Kind.SEPARATION),
        ("resigned", Kind.SEPARATION),
        ("transfer-out", Kind.SEPARATION),
        ("transfer out", Kind.SEPARATION),
        ("transfer_out", Kind.SEPARATION),
        ("end of contract", Kind.SEPARATION),
        ("end-of-contract", Kind.SEPARATION),
        ("transfer", Kind.TRANSFER),
        ("moved", Kind.TRANSFER),
        ("promoted", None),
        ("leave", None),  # a leave of absence is not a separation
        ("", None),
    ],
)
def test_kind_synonyms(word: str, kind: Kind | None) -> None:
    assert normalise_kind(word) is kind


def test_header_in_any_order_and_without_unit() -> None:
    (row,) = rows_of("KIND, Login ,date\nretire,somchai.k@bangkok.go.th,2026-11-30\n")
    assert (row.login, row.kind, row.when) == (
        "somchai.k@bangkok.go.th",
        Kind.SEPARATION,
        date(2026, 11, 30),
    )


def test_bom_blank_lines_and_comments_keep_line_numbers() -> None:
    text = (
        "\ufeff# exported from HR\n"
        + HEADER
        + "\n,,,\nsomchai.k@bangkok.go.th,2026-11-30,resign,\n"
    )
    (row,) = rows_of(text)
    assert row.line == 5


def test_quoted_unit_with_comma() -> None:
    (row,) = rows_of(HEADER + 'a@bangkok.go.th,2026-11-01,transfer,"Finance, Accounts"\n')
    assert row.unit == "Finance, Accounts"


def test_separation_ignores_a_unit() -> None:
    (row,) = rows_of(HEADER + "a@bangkok.go.th,2026-11-01,retire,Finance\n")
    assert row.unit == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a@bangkok.go.th,26/11/2026,retire,", "bad date '26/11/2026': expected YYYY-MM-DD"),
        ("a@bangkok.go.th,20261126,retire,", "bad date '20261126'"),
        ("a@bangkok.go.th,2026-02-30,retire,", "no such day"),
        ("a@bangkok.go.th,,retire,", "bad date ''"),
        ("a@bangkok.go.th,2569-11-26,retire,", "Buddhist Era year (use 2026)"),
        ("a@bangkok.go.th,2026-11-26,promoted,", "unknown kind 'promoted'"),
        ("a@bangkok.go.th,2026-11-26,,", "unknown kind ''"),
        ("a@bangkok.go.th,2026-11-26,transfer,", "a transfer needs the new unit"),
        (",2026-11-26,retire,", "no login"),
        ("a@bangkok.go.th,2026-11-26,retire,,extra", "5 fields, the header has 4"),
    ],
)
def test_bad_lines_are_reported_with_their_number(line: str, message: str) -> None:
    text = HEADER + "ok@bangkok.go.th,2026-11-01,retire,\n" + line + "\n"
    rows, errors = parse_feed(text)
    assert [r.login for r in rows] == ["ok@bangkok.go.th"]  # the good line still counts
    (error,) = errors
    assert error.line == 3
    assert message in error.message


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("login,date\n", "missing kind"),
        ("login,date,kind,unit,manager\n", "unknown 'manager'"),
        ("login,date,kind,kind\n", "repeated"),
        ("user,when,what\n", "missing login, date, kind"),
    ],
)
def test_a_bad_header_stops_the_file(header: str, message: str) -> None:
    rows, errors = parse_feed(header + "a@bangkok.go.th,2026-11-01,retire\n")
    assert rows == []
    (error,) = errors
    assert error.line == 1 and message in error.message


def test_empty_file() -> None:
    assert errors_of("") == ["line 1: empty file: expected a header login,date,kind[,unit]"]


# --- planning --------------------------------------------------------------------------


def person(login: str, **fields: object) -> Account:
    values: dict[str, object] = {
        "login": f"{login}@bangkok.go.th",
        "address": f"{login}@bangkok.go.th",
        "unit": "Finance",
    }
    values.update(fields)
    return Account(**values)  # type: ignore[arg-type]


def plan(text: str, accounts: list[Account], today: date = TODAY) -> FeedPlan:
    rows, errors = parse_feed(HEADER + text)
    assert errors == []
    return plan_feed(rows, accounts, today)


def lines(result: FeedPlan) -> list[str]:
    return [str(c) for c in result.changes]


def test_separation_of_an_active_person() -> None:
    result = plan("somchai@bangkok.go.th,2026-11-30,retire,\n", [person("somchai")])
    assert lines(result) == ["somchai@bangkok.go.th: active -> departed 2026-11-30"]
    (change,) = result.changes
    assert change.separation_date == date(2026, 11, 30) and change.word == "retire"
    assert result.errors == () and result.unchanged == 0


def test_already_departed_on_that_date_is_unchanged() -> None:
    account = person("somchai", status=AccountStatus.DEPARTED, separation_date=date(2026, 11, 30))
    result = plan("somchai@bangkok.go.th,2026-11-30,resign,\n", [account])
    assert result.changes == () and result.unchanged == 1 and result.notes == ()


def test_a_corrected_separation_date_is_a_change() -> None:
    account = person("somchai", status=AccountStatus.DEPARTED, separation_date=date(2026, 11, 30))
    result = plan("somchai@bangkok.go.th,2026-11-15,resign,\n", [account])
    assert lines(result) == ["somchai@bangkok.go.th: departed 2026-11-30 -> departed 2026-11-15"]


@pytest.mark.parametrize(
    ("status", "since", "separation", "note"),
    [
        # Suspended by the sweep after the grace window: nothing to do, nothing to say.
        (AccountStatus.SUSPENDED, datetime(2026, 11, 1, tzinfo=UTC), date(2026, 8, 1), False),
        # Closed after the separation date: already past it.
        (AccountStatus.CLOSED, datetime(2026, 12, 1, tzinfo=UTC), None, False),
        # Suspended or locked before leaving: never reopened by a feed; the operator is told.
        (AccountStatus.SUSPENDED, datetime(2026, 10, 1, tzinfo=UTC), None, True),
        (AccountStatus.LOCKED, datetime(2026, 10, 1, tzinfo=UTC), None, True),
        (AccountStatus.PENDING, None, None, True),
    ],
)
def test_disabled_accounts_are_never_reopened(
    status: AccountStatus, since: datetime | None, separation: date | None, note: bool
) -> None:
    account = person("somchai", status=status, status_since=since, separation_date=separation)
    date_text = (separation or date(2026, 11, 1)).isoformat()
    result = plan(f"somchai@bangkok.go.th,{date_text},resign,\n", [account])
    assert result.changes == () and result.unchanged == 1
    assert bool(result.notes) is note


def test_unknown_login_and_role_mailbox_are_errors() -> None:
    role = person("finance", kind=AccountKind.ROLE, responsible="somchai@bangkok.go.th")
    result = plan(
        "nobody@bangkok.go.th,2026-11-30,retire,\n"
        "finance@bangkok.go.th,2026-11-30,retire,\n"
        "somchai@bangkok.go.th,2026-11-30,retire,\n",
        [person("somchai"), role],
    )
    assert [str(e) for e in result.errors] == [
        "line 2: unknown login nobody@bangkok.go.th",
        "line 3: finance@bangkok.go.th is a role (unit) mailbox, not a person",
    ]
    assert lines(result) == ["somchai@bangkok.go.th: active -> departed 2026-11-30"]


def test_transfer() -> None:
    result = plan("malee@bangkok.go.th,2026-11-20,transfer,Traffic\n", [person("malee")])
    assert lines(result) == ["malee@bangkok.go.th: unit Finance -> unit Traffic"]
    same = plan("malee@bangkok.go.th,2026-11-20,transfer,Finance\n", [person("malee")])
    assert same.changes == () and same.unchanged == 1


def test_a_future_transfer_waits() -> None:
    result = plan("malee@bangkok.go.th,2026-12-01,transfer,Traffic\n", [person("malee")])
    assert result.changes == ()
    (note,) = result.notes
    assert "in the future" in note.message


def test_role_mailboxes_orphaned_by_the_feed_are_named() -> None:
    accounts = [
        person("somchai"),
        person("malee"),
        person("finance", kind=AccountKind.ROLE, responsible="somchai@bangkok.go.th"),
        person("hr", kind=AccountKind.ROLE, responsible="malee@bangkok.go.th"),
    ]
    result = plan(
        "somchai@bangkok.go.th,2026-11-20,retire,\nmalee@bangkok.go.th,2026-11-20,move,Traffic\n",
        accounts,
    )
    assert [(n.login, n.line) for n in result.notes] == [
        ("finance@bangkok.go.th", 2),
        ("hr@bangkok.go.th", 3),
    ]
    assert "left" in result.notes[0].message and "moved unit" in result.notes[1].message
    # A separation still ahead orphans nothing yet.
    ahead = plan("somchai@bangkok.go.th,2026-12-31,retire,\n", accounts)
    assert ahead.notes == () and len(ahead.changes) == 1


def test_a_login_twice_plans_like_applying_twice() -> None:
    result = plan(
        "somchai@bangkok.go.th,2026-11-30,retire,\nsomchai@bangkok.go.th,2026-11-30,retire,\n",
        [person("somchai")],
    )
    assert len(result.changes) == 1 and result.unchanged == 1


def _applied(accounts: list[Account], changes: tuple[FeedChange, ...]) -> list[Account]:
    by_login = {a.login: a for a in accounts}
    for change in changes:
        account = by_login[change.login]
        if change.kind is Kind.SEPARATION:
            account = dataclasses.replace(
                account, status=AccountStatus.DEPARTED, separation_date=change.separation_date
            )
        else:
            account = dataclasses.replace(account, unit=change.unit or "")
        by_login[change.login] = account
    return list(by_login.values())


def test_applying_the_same_file_twice_changes_nothing_the_second_time() -> None:
    accounts = [person("somchai"), person("malee"), person("niran")]
    text = (
        "somchai@bangkok.go.th,2026-11-30,resign,\n"
        "malee@bangkok.go.th,2026-11-20,transfer,Traffic\n"
        "niran@bangkok.go.th,2026-10-31,end of contract,\n"
    )
    first = plan(text, accounts)
    assert len(first.changes) == 3
    second = plan(text, _applied(accounts, first.changes))
    assert second.changes == () and second.unchanged == 3
