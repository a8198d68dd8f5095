"""Our LDAP schema on real slapd servers: a directory without it refuses our writes and the
administrator is told what to load or configure (through the `mailserver` CLI and
LdapDirectory), and its two committed forms (deploy/ldap/mailserver.schema for
slapd.conf, deploy/ldap/mailserver.ldif for cn=config) are what `mailserver ldap-schema`
writes and load as the same schema."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailserver.directory import DirectoryError
from mailserver.directory.ldap_schema import ATTRIBUTE_TYPES, OBJECT_CLASSES, PLACEHOLDER_ARC
from policy.model import AccountStatus
from tests.integration.slapd import Slapd, make_slapd, make_slapd_conf
from tests.integration.test_ldap_presets import directory

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BASE = "dc=bangkok,dc=go,dc=th"
PEOPLE = f"ou=people,{BASE}"
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
NIRAN, NIRAN_DN, NIRAN_PASSWORD = "niran@bangkok.go.th", f"uid=niran,{PEOPLE}", "niran-password-1"
ENTRIES = f"""\
dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {NIRAN_DN}
objectClass: inetOrgPerson
uid: niran
cn: Niran Chai
sn: Chai
mail: {NIRAN}
userPassword: {NIRAN_PASSWORD}
"""
LOAD = "ldapadd -Y EXTERNAL -H ldapi:/// -f deploy/ldap/mailserver.ldif"
# Every field of the openldap-ppolicy preset that names our schema, but entry_classes.
OUR_FIELDS = (
    "aliases",
    "kind",
    "status",
    "status_reason",
    "status_actor",
    "status_since",
    "separation_date",
    "unit",
    "unit_since",
    "responsible",
    "delegates",
    "send_as",
    "services",
)


def start(root: Path, **options: object) -> Slapd:
    server = make_slapd(root, **options)  # type: ignore[arg-type]
    server.start()
    server.add_ldif(ENTRIES)
    return server


@pytest.fixture
def bare_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """slapd with ppolicy but without our schema, as an organisation's directory is
    before its administrator loads deploy/ldap/mailserver.ldif; one inetOrgPerson."""
    server = start(tmp_path / "bare", ppolicy=True, mailserver_schema=False)
    try:
        yield server
    finally:
        server.stop()


def cli_config(tmp_path: Path, server: Slapd, preset: str) -> Path:
    directory_settings = server.directory_settings(
        tmp_path, ldap_user_base=PEOPLE, ldap_preset=preset, ldap_connect_timeout=2
    )
    # The node's data directory exists (a first start made it), in the test's temp dir.
    data_dir = tmp_path / "var"
    data_dir.mkdir(exist_ok=True)
    lines = ["[server]", f"data_dir = {json.dumps(str(data_dir))}", "[directory]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in directory_settings.items()]
    path = tmp_path / f"{preset}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailserver.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def assert_says_load_our_schema(error: str, rejected: str) -> None:
    """The one line names what the server rejected and how to load our schema."""
    assert error.count("\n") <= 1 and "Traceback" not in error, error
    assert f"does not know our {rejected}:" in error, error
    assert "deploy/ldap/mailserver.ldif is not loaded on that server" in error, error
    assert LOAD in error and "deploy/ldap/mailserver.schema" in error, error


# --- a directory without our schema ------------------------------------------------------


def test_cli_add_and_suspend_on_a_server_without_our_schema_say_to_load_it(
    bare_slapd: Slapd, tmp_path: Path
) -> None:
    ppolicy = cli_config(tmp_path, bare_slapd, "openldap-ppolicy")
    added = cli("--config", str(ppolicy), "account", "add", "alice@bangkok.go.th", "--no-password")
    assert added.returncode == 1, added.stdout + added.stderr
    assert_says_load_our_schema(added.stderr, "object class mailAccount")
    assert "value #1 invalid per syntax" in added.stderr  # the server's own answer stays
    assert 'change or blank ("") entry_classes, state_class, aliases, kind,' in added.stderr
    listed = cli("--config", str(ppolicy), "account", "list")
    assert listed.returncode == 0 and NIRAN in listed.stdout, listed.stdout + listed.stderr
    assert "alice" not in listed.stdout

    suspended = cli("--config", str(ppolicy), "account", "suspend", NIRAN, "--reason", "review")
    assert suspended.returncode == 1, suspended.stdout + suspended.stderr
    assert_says_load_our_schema(suspended.stderr, "object class mailAccount")
    assert f"refused to change {NIRAN_DN}" in suspended.stderr
    assert bare_slapd.can_bind(NIRAN_DN, NIRAN_PASSWORD)  # nothing was written, no lock

    # The default preset: its accounts are of our class, so the advice says to change it.
    ours = cli_config(tmp_path, bare_slapd, "mailserver")
    added = cli("--config", str(ours), "account", "add", "alice@bangkok.go.th", "--no-password")
    assert added.returncode == 1, added.stdout + added.stderr
    assert_says_load_our_schema(added.stderr, "object class mailAccount")
    assert "change object_class and change or blank" in added.stderr


async def test_directory_names_the_attribute_the_server_rejected(bare_slapd: Slapd) -> None:
    """Without our class to add, the server rejects our attributes one by one: the
    error names the one it rejected and the preset field that holds it."""
    ldap = directory(bare_slapd, "openldap-ppolicy", state_class="", entry_classes="inetOrgPerson")
    try:
        with pytest.raises(DirectoryError) as suspended:
            await ldap.set_status(NIRAN, AccountStatus.SUSPENDED, reason="review", now=NOW)
        assert_says_load_our_schema(str(suspended.value), "attribute type mailAccountStatus")
        assert 'change or blank ("") status, aliases, kind,' in str(suspended.value)

        with pytest.raises(DirectoryError) as updated:
            await ldap.update(NIRAN, unit="Finance Department", now=NOW)
        assert_says_load_our_schema(str(updated.value), "attribute type mailUnit")
        assert 'change or blank ("") unit, aliases,' in str(updated.value)

        with pytest.raises(DirectoryError) as added:
            await ldap.add_account("alice@bangkok.go.th", password_hash=None, now=NOW)
        assert_says_load_our_schema(str(added.value), "attribute type mailAccountKind")
        assert 'change or blank ("") kind, aliases,' in str(added.value)
    finally:
        await ldap.close()
    assert bare_slapd.can_bind(NIRAN_DN, NIRAN_PASSWORD)


async def test_following_the_advice_makes_the_writes_work(bare_slapd: Slapd) -> None:
    """With the fields it names blanked, a directory without our schema takes the
    account and the suspension (the ppolicy lock, which every other system obeys)."""
    blank = dict.fromkeys(OUR_FIELDS, "")
    ldap = directory(
        bare_slapd, "openldap-ppolicy", state_class="", entry_classes="inetOrgPerson", **blank
    )
    try:
        added = await ldap.add_account("alice@bangkok.go.th", password_hash=None, now=NOW)
        assert added.login == "alice@bangkok.go.th"
        suspended = await ldap.set_status(NIRAN, AccountStatus.SUSPENDED, now=NOW)
        assert suspended.status is AccountStatus.LOCKED  # what the ppolicy lock reads as
    finally:
        await ldap.close()
    assert not bare_slapd.can_bind(NIRAN_DN, NIRAN_PASSWORD)


async def test_an_attribute_no_class_of_the_entry_allows_names_our_class(tmp_path: Path) -> None:
    """Our schema loaded, but the preset told not to add our class: objectClassViolation."""
    server = start(tmp_path / "slapd", ppolicy=True)
    ldap = directory(server, "openldap-ppolicy", state_class="")
    try:
        with pytest.raises(DirectoryError) as updated:
            await ldap.update(NIRAN, unit="Finance Department", now=NOW)
        error = str(updated.value)
        assert "No object class of the entry allows the attribute mailUnit" in error
        assert 'state_class = "mailAccount"' in error and 'blank ("") unit' in error
        assert "mailserver.ldif is not loaded" not in error  # it is loaded
    finally:
        await ldap.close()
        server.stop()


async def test_a_missing_ppolicy_overlay_is_named_as_such(tmp_path: Path) -> None:
    """The openldap-ppolicy preset needs its lock attribute: without the overlay, the
    error says to load it (not our schema)."""
    server = start(tmp_path / "slapd")
    ldap = directory(server, "openldap-ppolicy")
    try:
        with pytest.raises(DirectoryError) as suspended:
            await ldap.set_status(NIRAN, AccountStatus.SUSPENDED, now=NOW)
        error = str(suspended.value)
        assert "does not know the attribute type pwdAccountLockedTime" in error
        assert "load the ppolicy overlay" in error and "ldap_directory_lock = false" in error
        assert "mailserver.ldif" not in error
    finally:
        await ldap.close()
        server.stop()


# --- the two forms of our schema ---------------------------------------------------------


@pytest.mark.parametrize("form", ["schema", "ldif"])
def test_committed_schema_files_are_what_ldap_schema_writes(form: str) -> None:
    written = cli("ldap-schema", form)
    assert written.returncode == 0, written.stderr
    committed = (ROOT / "deploy" / "ldap" / f"mailserver.{form}").read_bytes()
    assert written.stdout.encode() == committed, (
        f"deploy/ldap/mailserver.{form} is stale: mailserver ldap-schema {form} > it"
    )


def published(server: Slapd) -> dict[str, list[str]]:
    """Our definitions as the server publishes them in its subschema (RFC 4512 4.2)."""
    return {
        attribute: sorted(
            value
            for value in server.read_attribute("cn=Subschema", attribute)
            if value.startswith(f"( {PLACEHOLDER_ARC}.")
        )
        for attribute in ("attributeTypes", "objectClasses")
    }


def test_both_forms_load_as_the_same_schema(tmp_path: Path) -> None:
    """deploy/ldap/mailserver.schema in a slapd.conf server and deploy/ldap/mailserver.ldif
    in a cn=config server: the same definitions, as each server publishes them."""
    conf = make_slapd_conf(tmp_path / "conf")
    config = make_slapd(tmp_path / "cn-config")
    conf.start()
    try:
        config.start()
        try:
            from_conf, from_config = published(conf), published(config)
        finally:
            config.stop()
    finally:
        conf.stop()
    assert from_conf == from_config
    names = {value.split("'")[1] for values in from_conf.values() for value in values}
    assert names == {d.name for d in (*ATTRIBUTE_TYPES, *OBJECT_CLASSES)}
