"""Our LDAP schema on real slapd servers: its two committed forms
(deploy/ldap/mailserver.schema for slapd.conf, deploy/ldap/mailserver.ldif for
cn=config) are what `mailserver ldap-schema` writes and load as the same schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailserver.directory.ldap_schema import ATTRIBUTE_TYPES, OBJECT_CLASSES, PLACEHOLDER_ARC
from tests.integration.slapd import Slapd, make_slapd, make_slapd_conf

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailserver.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


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
