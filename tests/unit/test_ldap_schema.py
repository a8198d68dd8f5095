"""Our LDAP schema's one source (both forms, the OID arc) and the advice for a refused
write, as pure functions; tests/integration/test_ldap_schema.py loads them into slapd."""

from __future__ import annotations

import re

import pytest

from mailserver.directory.ldap_presets import STATE_ATTRIBUTES, preset_mapping
from mailserver.directory.ldap_schema import (
    ATTRIBUTE_TYPES,
    FORMS,
    OBJECT_CLASSES,
    PLACEHOLDER_ARC,
    render,
)
from mailserver.directory.ldap_schema_advice import schema_advice

OURS = preset_mapping()
PPOLICY = preset_mapping("openldap-ppolicy")
ADD = {"objectClass": ["inetOrgPerson", "mailAccount"], "mail": ["a@b.th"]}


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


def test_an_unknown_object_class_is_named_from_the_values_sent() -> None:
    advice = schema_advice(OURS, 21, "objectClass: value #1 invalid per syntax", ADD)
    assert advice.startswith("The server does not know our object class mailAccount: ")
    assert "change object_class and change or blank" in advice


@pytest.mark.parametrize(
    ("code", "message", "sent"),
    [
        (21, "objectClass: value #2 invalid per syntax", ADD),  # no such value sent
        (21, "mailStatusTime: value #0 invalid per syntax", {"mailStatusTime": ["x"]}),
        (65, "object class 'inetOrgPerson' requires attribute 'sn'", ADD),
        (50, "no write access to parent", ADD),
        (17, "", ADD),
    ],
)
def test_a_refusal_that_is_not_a_missing_name_gets_no_advice(
    code: int, message: str, sent: dict[str, list[str]]
) -> None:
    assert schema_advice(OURS, code, message, sent) == ""


def test_an_undefined_attribute_of_another_schema_names_its_field() -> None:
    advice = schema_advice(PPOLICY, 17, "displayName: attribute type undefined", {})
    assert advice.startswith("The server does not know the attribute type displayName: ")
    assert 'change or blank ("") display_name (or pick another' in advice
    assert "mailserver.ldif" not in advice
