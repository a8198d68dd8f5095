"""Our LDAP schema's one source (both forms, the OID arc), as pure functions;
tests/integration/test_ldap_schema.py loads both forms into slapd."""

from __future__ import annotations

import re

import pytest

from mailserver.directory.ldap_presets import STATE_ATTRIBUTES
from mailserver.directory.ldap_schema import (
    ATTRIBUTE_TYPES,
    FORMS,
    OBJECT_CLASSES,
    PLACEHOLDER_ARC,
    render,
)


@pytest.mark.parametrize("form", FORMS)
def test_an_oid_arc_moves_every_oid_of_the_schema(form: str) -> None:
    arc = "1.3.6.1.4.1.12345"
    text = render(form, arc)
    definitions = re.findall(r"\( (\S+) NAME '(\w+)'", text)
    assert len(definitions) == len(ATTRIBUTE_TYPES) + len(OBJECT_CLASSES)
    assert all(oid.startswith(f"{arc}.1.") for oid, _ in definitions)
    assert PLACEHOLDER_ARC not in text and "PLACEHOLDER" not in text
    assert "PLACEHOLDER" in render(form)


def test_each_form_has_its_own_keywords() -> None:
    conf, ldif = render("schema"), render("ldif")
    assert conf.count("\nattributetype ( ") == len(ATTRIBUTE_TYPES)
    assert conf.count("\nobjectclass ( ") == len(OBJECT_CLASSES) and "olc" not in conf
    assert ldif.count("\nolcAttributeTypes: ( ") == len(ATTRIBUTE_TYPES)
    assert "\ndn: cn=mailserver,cn=schema,cn=config\n" in ldif


@pytest.mark.parametrize(("form", "arc"), [("conf", PLACEHOLDER_ARC), ("ldif", "1.3.x")])
def test_a_bad_form_or_arc_is_refused(form: str, arc: str) -> None:
    with pytest.raises(ValueError):
        render(form, arc)


def test_the_state_attributes_are_those_of_our_class() -> None:
    (account,) = OBJECT_CLASSES
    assert {n.lower() for n in (*account.must, *account.may)} - {"mail"} == STATE_ATTRIBUTES
