"""The pure logic of the LDAP presets: mapping, status, locks, AD sub-codes, passwords."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailserver import config
from mailserver.directory.ldap_presets import (
    PPOLICY_ADMIN_LOCK,
    ad_bind_refusal,
    alias_filter_values,
    alias_values,
    check_overrides,
    entry_status,
    lock_changes,
    new_rdn,
    parse_filetime,
    password_value,
    preset_mapping,
    read_aliases,
    read_services,
    service_values,
)
from mailserver.passwords import PasswordHasher
from policy.model import AccountStatus as S

NOW = datetime(2026, 2, 1, tzinfo=UTC)
OURS = preset_mapping()
# The start of an AD bind refusal's diagnostic message; the sub-code follows.
AD_ERROR = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
PPOLICY = preset_mapping("openldap-ppolicy")
AD = preset_mapping("active-directory")
IREDMAIL = preset_mapping("iredmail")


def test_presets_and_overrides() -> None:
    assert OURS.object_class == "mailAccount" and OURS.lock == "ppolicy"
    assert AD.login == "userPrincipalName" and AD.login_attributes() == (
        "userPrincipalName",
        "sAMAccountName",
    )
    assert "pwdAccountLockedTime" in PPOLICY.attributes()
    assert {"userAccountControl", "accountExpires"} <= set(AD.attributes())
    custom = preset_mapping(
        "mailserver", {"unit": "departmentNumber", "login_also": "uid, cn", "send_as": ""}
    )
    assert custom.unit == "departmentNumber" and custom.login_also == ("uid", "cn")
    assert "" not in custom.attributes() and "mailSendAs" not in custom.attributes()
    assert not preset_mapping(directory_lock=False).directory_lock
    with pytest.raises(ValueError, match="unknown LDAP preset"):
        preset_mapping("openldap")
    with pytest.raises(ValueError, match="not a mapped field"):
        preset_mapping("mailserver", {"colour": "x"})


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"unit": "ou"}, None),
        ({"unit": ""}, None),
        ({"revision": ["entryCSN"]}, None),
        ({"rdn": "cn={login}"}, None),
        ({"login": ""}, "cannot be empty"),
        ({"unit": "o u"}, "not an attribute name"),
        ({"unit": "x)(uid=*"}, "not an attribute name"),
        ({"unit": 3}, "must be an attribute name"),
        ({"revision": ""}, "at least one"),
        ({"login_also": ["uid", "("]}, "attribute names"),
        ({"rdn": "uid=fixed"}, "rdn must look like"),
        ({"preset": "x"}, "not a mapped field"),
        ({"directory_lock": "x"}, "not a mapped field"),
    ],
)
def test_check_overrides(overrides: dict[str, object], fragment: str | None) -> None:
    errors = check_overrides(overrides)
    if fragment is None:
        assert errors == []
    else:
        assert len(errors) == 1 and fragment in errors[0]


def _v(**values: str | list[str]) -> dict[str, list[str]]:
    return {k.lower(): v if isinstance(v, list) else [v] for k, v in values.items()}


@pytest.mark.parametrize(
    ("mapping", "values", "status", "reason_part"),
    [
        (OURS, _v(mailAccountStatus="active"), S.ACTIVE, ""),
        (OURS, _v(mailAccountStatus="weird"), S.LOCKED, "unknown status"),
        (OURS, _v(), S.LOCKED, "unknown status"),  # our class requires one
        (PPOLICY, _v(), S.ACTIVE, ""),  # a plain person entry
        (PPOLICY, _v(pwdAccountLockedTime=PPOLICY_ADMIN_LOCK), S.LOCKED, "administrator"),
        (PPOLICY, _v(pwdAccountLockedTime="20260201000000Z"), S.LOCKED, "failed logins"),
        (OURS, _v(mailAccountStatus="active", pwdAccountLockedTime="x"), S.LOCKED, "failed"),
        (
            OURS,
            _v(mailAccountStatus="departed", pwdAccountLockedTime=PPOLICY_ADMIN_LOCK),
            S.LOCKED,
            "administrator",
        ),
        # Our own refusing status is kept: it says more than the lock.
        (
            OURS,
            _v(
                mailAccountStatus="suspended",
                mailStatusReason="review",
                pwdAccountLockedTime=PPOLICY_ADMIN_LOCK,
            ),
            S.SUSPENDED,
            "review",
        ),
        (AD, _v(userAccountControl="512"), S.ACTIVE, ""),
        (AD, _v(userAccountControl="514"), S.SUSPENDED, "disabled"),
        (AD, _v(userAccountControl="bogus"), S.LOCKED, "unreadable"),
        (AD, _v(userAccountControl="512", accountExpires="0"), S.ACTIVE, ""),
        (AD, _v(accountExpires="9223372036854775807"), S.ACTIVE, ""),
        (AD, _v(accountExpires="132223104000000000"), S.SUSPENDED, "expired"),
        (AD, _v(accountExpires="157766400000000000"), S.ACTIVE, ""),
        (AD, _v(mailAccountStatus="departed", userAccountControl="514"), S.SUSPENDED, "disabled"),
        (IREDMAIL, _v(accountStatus="active"), S.ACTIVE, ""),
        (IREDMAIL, _v(accountStatus="disabled"), S.SUSPENDED, "disabled"),
        (IREDMAIL, _v(), S.SUSPENDED, "disabled"),  # fail closed
    ],
)
def test_entry_status(mapping: object, values: dict, status: S, reason_part: str) -> None:
    got, reason = entry_status(mapping, values, now=NOW)  # type: ignore[arg-type]
    assert got is status
    assert reason_part in reason


def test_a_lockout_is_over_once_slapd_accepted_the_password() -> None:
    lockout = _v(pwdAccountLockedTime="20260201000000Z")
    assert entry_status(PPOLICY, lockout, now=NOW, bound=True) == (S.ACTIVE, "")
    admin = _v(pwdAccountLockedTime=PPOLICY_ADMIN_LOCK)
    assert entry_status(PPOLICY, admin, now=NOW, bound=True)[0] is S.LOCKED


@pytest.mark.parametrize(
    ("mapping", "values", "status", "expected"),
    [
        (OURS, {}, S.LOCKED, {"pwdAccountLockedTime": [PPOLICY_ADMIN_LOCK]}),
        (OURS, {}, S.SUSPENDED, {"pwdAccountLockedTime": [PPOLICY_ADMIN_LOCK]}),
        (OURS, {}, S.CLOSED, {"pwdAccountLockedTime": [PPOLICY_ADMIN_LOCK]}),
        (OURS, {}, S.ACTIVE, {"pwdAccountLockedTime": []}),
        (OURS, {}, S.DEPARTED, {}),
        (OURS, {}, S.PENDING, {}),
        (preset_mapping(directory_lock=False), {}, S.LOCKED, {}),
        (AD, _v(userAccountControl="66048"), S.LOCKED, {"userAccountControl": ["66050"]}),
        (AD, _v(userAccountControl="66050"), S.LOCKED, {}),
        (AD, _v(userAccountControl="66050"), S.ACTIVE, {"userAccountControl": ["66048"]}),
        (AD, _v(userAccountControl="512"), S.ACTIVE, {}),
        (AD, {}, S.SUSPENDED, {"userAccountControl": ["514"]}),
        (AD, {}, S.ACTIVE, {}),
        (IREDMAIL, {}, S.SUSPENDED, {"accountStatus": ["disabled"]}),
        (IREDMAIL, {}, S.ACTIVE, {"accountStatus": ["active"]}),
    ],
)
def test_lock_changes(mapping: object, values: dict, status: S, expected: dict) -> None:
    assert lock_changes(mapping, values, status) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (AD_ERROR + "data 52e, v4563", None),
        (AD_ERROR + "data 525, v4563", None),
        (AD_ERROR + "data 533, v4563", (S.SUSPENDED, "disabled")),
        (AD_ERROR + "data 701, v4563", (S.SUSPENDED, "expired")),
        (AD_ERROR + "data 775, v4563", (S.LOCKED, "failed logins")),
        (AD_ERROR + "data 532, v4563", (S.SUSPENDED, "password has expired")),
        (AD_ERROR + "data 773, v4563", (S.SUSPENDED, "must be changed")),
        (AD_ERROR + "DATA 775, v2580", (S.LOCKED, "failed logins")),
        ("", None),
        ("invalid credentials", None),
        ("data 7750", None),
    ],
)  # fmt: skip
def test_ad_bind_refusal(message: str, expected: tuple[S, str] | None) -> None:
    """Pure logic only: slapd (the tests' directory) cannot send AD's diagnostics."""
    got = ad_bind_refusal(message)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got[0] is expected[0] and expected[1] in got[1]


def test_filetime() -> None:
    assert parse_filetime("0") is None
    assert parse_filetime("9223372036854775807") is None
    assert parse_filetime("junk") is None
    assert parse_filetime("116444736000000000") == datetime(1970, 1, 1, tzinfo=UTC)


def test_aliases_and_proxy_addresses() -> None:
    values = _v(
        proxyAddresses=["SMTP:a@x.th", "smtp:B@x.th", "X500:/o=x", "sip:a@x.th"],
        mailAlternateAddress=["C@x.th", "c@x.th"],
    )
    assert read_aliases(AD, values) == ["a@x.th", "b@x.th"]  # primary drops out later
    assert read_aliases(OURS, values) == ["c@x.th"]
    assert alias_filter_values(AD, "b@x.th") == ["smtp:b@x.th"]
    assert alias_filter_values(OURS, "b@x.th") == ["b@x.th"]
    current = ["SMTP:a@x.th", "smtp:b@x.th", "X500:/o=x"]
    assert alias_values(AD, current, ["d@x.th", "a@x.th"]) == [
        "SMTP:a@x.th",
        "X500:/o=x",
        "smtp:d@x.th",
    ]
    assert alias_values(OURS, ["x@x.th"], ["d@x.th"]) == ["d@x.th"]


def test_services() -> None:
    assert read_services(OURS, {}) == (True, True)
    assert read_services(OURS, _v(mailEnabledService="none")) == (False, False)
    assert read_services(OURS, _v(mailEnabledService="SMTP")) == (True, False)
    assert read_services(IREDMAIL, {}) == (False, False)
    assert read_services(IREDMAIL, _v(enabledService=["mail", "smtpsecured", "imap"])) == (
        True,
        True,
    )
    assert read_services(IREDMAIL, _v(enabledService=["smtp", "imap"])) == (False, False)
    assert service_values(OURS, [], True, False) == ["smtp"]
    assert service_values(OURS, ["smtp", "imap", "pop3"], False, False) == ["pop3"]
    assert service_values(OURS, ["smtp"], False, False) == ["none"]
    assert service_values(OURS, ["none"], True, True) == ["smtp", "imap"]
    assert service_values(IREDMAIL, ["mail", "smtp", "imapsecured", "pop3"], True, False) == [
        "mail",
        "smtp",
        "pop3",
    ]
    assert service_values(IREDMAIL, ["pop3"], False, True) == [
        "mail",
        "pop3",
        "imap",
        "imapsecured",
    ]


def test_password_values_are_rfc2307_schemes_slapd_verifies() -> None:
    hasher = PasswordHasher(memory_kib=1024, time_cost=1)
    tagged = hasher.hash("pw-123456")
    assert password_value(tagged) == tagged
    assert password_value(tagged.removeprefix("{ARGON2}")) == tagged
    assert password_value("{argon2}" + tagged[8:]) == tagged  # tag case normalised
    crypt = "$6$rounds=5000$saltsalt$" + "a" * 86
    assert password_value(crypt) == "{CRYPT}" + crypt
    ssha = "{SSHA}UStRN8z1+zOMi9PW/OkTzyQL4hdwZaPe"
    assert password_value(ssha) == ssha
    for bad in ("plaintext", "", "{SSHA}short", "{MD5}xyz", "$6$salt"):
        with pytest.raises(ValueError, match="not a hash"):
            password_value(bad)


def test_new_rdn() -> None:
    assert new_rdn(OURS, "alice@bangkok.go.th") == ("uid", "alice")
    assert new_rdn(preset_mapping(overrides={"rdn": "mail={login}"}), "a@b.th") == (
        "mail",
        "a@b.th",
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('ldap_preset = "active-directory"\nldap_attributes = { unit = "department" }', None),
        ('ldap_attributes = { login_also = "uid, cn" }\nldap_directory_lock = false', None),
        ('ldap_preset = "openldap"', "directory.ldap_preset"),
        ('ldap_attributes = { colour = "x" }', "directory.ldap_attributes"),
        ('ldap_attributes = { login = "" }', "directory.ldap_attributes"),
        ('ldap_attributes = { unit = "a b" }', "directory.ldap_attributes"),
    ],
)
def test_settings_are_validated(tmp_path: Path, text: str, problem: str | None) -> None:
    path = tmp_path / "mailserver.toml"
    path.write_text(f"[directory]\n{text}\n")
    errors = config.validate(config.load(path))
    if problem is None:
        assert errors == []
    else:
        assert [e for e in errors if problem in str(e)], errors


def test_an_attribute_override_must_be_text(tmp_path: Path) -> None:
    path = tmp_path / "mailserver.toml"
    path.write_text("[directory]\nldap_attributes = { unit = 3 }\n")
    with pytest.raises(config.ConfigError, match=r"directory\.ldap_attributes\.unit"):
        config.load(path)
