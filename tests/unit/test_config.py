"""Settings: defaults that work embedded, errors that name the key, docs that list every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailserver import config
from mailserver.cli import main
from policy.settings import InboundAction

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = config.load(None, base=tmp_path)
    assert settings.data_dir == tmp_path / "var"
    assert settings.mail_root == tmp_path / "var" / "mail"
    assert settings.log_dir == tmp_path / "var" / "log"
    assert settings.directory_db == tmp_path / "var" / "directory.sqlite3"
    assert (settings.smtp.submission_port, settings.smtp.submissions_port) == (2587, 2465)
    assert settings.log.retention_days == 90
    assert config.validate(settings) == []


def test_file_values_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[server]\ndata_dir = "/srv/mail"\nlocal_domains = ["bangkok.go.th"]\n'
        "[smtp]\nsubmission_port = 587\naccount_staleness_seconds = 5\n"
        '[policy]\ninbound_suspended = "reject-disabled"\ndeparted_can_send = true\n'
        '[messages]\nlanguages = ["th"]\n'
    )
    settings = config.load(path)
    assert settings.data_dir == Path("/srv/mail")
    assert settings.server.local_domains == ("bangkok.go.th",)
    assert settings.smtp.submission_port == 587
    assert settings.smtp.account_staleness_seconds == 5.0
    assert settings.policy.inbound_suspended is InboundAction.REJECT_DISABLED
    assert settings.policy.departed_can_send is True
    assert settings.messages.languages == ("th",)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[smtp]\nsubmission_prot = 587\n", "smtp.submission_prot"),
        ('[smtp]\nsubmission_port = "587"\n', "smtp.submission_port"),
        ("[smpt]\n", "smpt"),
        ('[policy]\ninbound_closed = "bounce"\n', "policy.inbound_closed"),
        ("[policy]\ndeparted_can_send = 1\n", "policy.departed_can_send"),
        ("smtp = 3\n", "smtp"),
    ],
)
def test_load_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as error:
        config.load(path)
    assert error.value.key == key


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[smtp\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[log]\nretention_days = 30\n", "log.retention_days"),
        ("[smtp]\nsubmission_port = 70000\n", "smtp.submission_port"),
        ('[tls]\nmin_version = "SSLv3"\n', "tls.min_version"),
        ('[tls]\ncert_file = "a.pem"\n', "tls.cert_file"),
        ('[messages]\nlanguages = ["fr"]\n', "messages.languages"),
        ("[imap]\nlogin_timeout_seconds = 0\n", "imap.login_timeout_seconds"),
        ("[pop3]\nlogin_timeout_seconds = -1\n", "pop3.login_timeout_seconds"),
    ],
)
def test_validate_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    assert [e.key for e in config.validate(config.load(path))] == [key]


LDAP = '[directory]\nbackend = "ldap"\nldap_base = "dc=bangkok,dc=go,dc=th"\n'


@pytest.mark.parametrize(
    "text",
    [
        'ldap_urls = ["ldaps://ldap1.bangkok.go.th/"]\n',
        'ldap_urls = ["ldap://ldap1.bangkok.go.th/"]\nldap_start_tls = true\n',
        'ldap_urls = ["ldaps://ldap1/", "LDAP://ldap2/"]\nldap_start_tls = true\n',
        'ldap_urls = ["ldap://127.0.0.1/"]\nldap_allow_cleartext = true\n',
    ],
)
def test_ldap_over_tls_or_with_the_explicit_opt_in_is_valid(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(LDAP + text)
    assert config.validate(config.load(path)) == []


@pytest.mark.parametrize(
    ("text", "cleartext"),
    [
        ('ldap_urls = ["ldap://ldap1.bangkok.go.th/"]\n', "ldap://ldap1.bangkok.go.th/"),
        ('ldap_urls = ["ldaps://ldap1/", "LDAP://ldap2:389"]\n', "LDAP://ldap2:389"),
        ('ldap_urls = ["ldap://ldap1/"]\nldap_start_tls = false\n', "ldap://ldap1/"),
    ],
)
def test_ldap_in_clear_is_refused_without_the_opt_in(
    tmp_path: Path, text: str, cleartext: str
) -> None:
    """Users' passwords must never cross the network in clear by default."""
    path = tmp_path / "m.toml"
    path.write_text(LDAP + text)
    errors = config.validate(config.load(path))
    assert [e.key for e in errors] == ["directory.ldap_urls"]
    assert cleartext in errors[0].message and "ldap_allow_cleartext" in errors[0].message


def test_ldap_urls_of_another_scheme_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(LDAP + 'ldap_urls = ["ldapi:///run/slapd/ldapi"]\n')
    errors = config.validate(config.load(path))
    assert [e.key for e in errors] == ["directory.ldap_urls"]
    assert "not an ldap:// or ldaps:// URL" in errors[0].message


def test_the_sqlite_backend_ignores_ldap_urls(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[directory]\nldap_urls = ["ldap://ldap1/"]\n')
    assert config.validate(config.load(path)) == []


def test_check_config_refuses_ldap_in_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.toml"
    path.write_text(LDAP + 'ldap_urls = ["ldap://ldap1.bangkok.go.th/"]\n')
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "directory.ldap_urls" in err and "in clear" in err and "Traceback" not in err


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("[smtp]\nmax_recipients = 50\n")
    bad.write_text("[log]\nretention_days = 7\n")
    assert main(["check-config", str(good)]) == 0
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "log.retention_days" in err and "Traceback" not in err


def test_every_setting_is_documented() -> None:
    documented = set(
        re.findall(r"^\| `([a-z0-9_]+\.[a-z0-9_]+)` \|", DOCS.read_text(encoding="utf-8"), re.M)
    )
    missing = [key for key in config.documented_keys() if key not in documented]
    assert missing == []
    stale = [key for key in documented if key not in config.documented_keys()]
    assert stale == []
