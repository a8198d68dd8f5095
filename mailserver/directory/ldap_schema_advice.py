"""What to tell the administrator when a write fails because the server's schema lacks a name.

A server without our schema (deploy/ldap/mailserver.ldif not loaded) refuses a write
naming our object class with invalidAttributeSyntax (RFC 4511 A.2, code 21: objectClass
values have the OID syntax, RFC 4512 2.4.1, and an unknown name is not one), and one of
our attributes with undefinedAttributeType (code 17); an attribute the server knows but
no class of the entry allows gives objectClassViolation (code 65). OpenLDAP's answer
("objectClass: value #1 invalid per syntax") points at a value by its position in the
request, not at what to fix. `schema_advice` names the class or attribute the server
rejected and says what to do: load our schema, or change the `directory.ldap_attributes`
that name it. No I/O: the message texts are OpenLDAP's, the values are what we sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import fields as dataclass_fields

from mailserver.directory.ldap_presets import OVERRIDABLE, REQUIRED, LdapMapping, lock_attributes
from mailserver.directory.ldap_schema import ATTRIBUTE_NAMES, CLASS_NAMES

UNDEFINED_ATTRIBUTE_TYPE = 17
INVALID_ATTRIBUTE_SYNTAX = 21
OBJECT_CLASS_VIOLATION = 65

LOAD_SCHEMA = (
    "deploy/ldap/mailserver.ldif is not loaded on that server (load it:"
    " `ldapadd -Y EXTERNAL -H ldapi:/// -f deploy/ldap/mailserver.ldif`; with"
    " slapd.conf: include deploy/ldap/mailserver.schema)"
)

_CLASS_VALUE = re.compile(r"\bobjectClass: value #(\d+) invalid per syntax", re.IGNORECASE)
_UNDEFINED = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)(?:;[^:]*)?: attribute type undefined")
_NOT_ALLOWED = re.compile(r"\battribute '([A-Za-z][A-Za-z0-9-]*)' not allowed")


def schema_advice(
    m: LdapMapping, code: object, message: str, sent: Mapping[str, Sequence[str]]
) -> str:
    """A sentence naming what the server's schema lacks and what to do about it, for a
    write refused with `code` and `message` whose attributes were `sent`; "" when the
    refusal is not about a name the schema lacks."""
    if code == INVALID_ATTRIBUTE_SYNTAX and (found := _CLASS_VALUE.search(message)):
        classes = next((v for k, v in sent.items() if k.lower() == "objectclass"), [])
        index = int(found.group(1))
        return _unknown(m, "object class", classes[index]) if index < len(classes) else ""
    if code == UNDEFINED_ATTRIBUTE_TYPE and (found := _UNDEFINED.match(message)):
        return _unknown(m, "attribute type", _spelled_as_sent(found.group(1), sent))
    if code == OBJECT_CLASS_VIOLATION and (found := _NOT_ALLOWED.search(message)):
        name = _spelled_as_sent(found.group(1), sent)
        advice = f"No object class of the entry allows the attribute {name}"
        if name.lower() in ATTRIBUTE_NAMES and m.state_class.lower() != "mailaccount":
            advice += (
                " (our class mailAccount does: set directory.ldap_attributes.state_class"
                ' = "mailAccount")'
            )
        fields = _fields_change(m, {name.lower()})
        return f"{advice}: {fields}" if fields else advice
    return ""


def _unknown(m: LdapMapping, kind: str, name: str) -> str:
    if name.lower() in ATTRIBUTE_NAMES | CLASS_NAMES:
        fields = _fields_change(m, {name.lower()}, ATTRIBUTE_NAMES | CLASS_NAMES)
        other = f". A directory with another schema instead: {fields}" if fields else ""
        return f"The server does not know our {kind} {name}: {LOAD_SCHEMA}{other}"
    if name.lower() in (a.lower() for a in lock_attributes(m.lock)):
        source = "the ppolicy overlay" if m.lock == "ppolicy" else "the schema that defines it"
        return (
            f"The server does not know the {kind} {name} of the {m.preset} preset's"
            f" directory-wide lock: load {source}, or set directory.ldap_directory_lock = false"
        )
    fields = _fields_change(m, {name.lower()})
    return f"The server does not know the {kind} {name}" + (f": {fields}" if fields else "")


def _fields_change(
    m: LdapMapping, first: frozenset[str] | set[str], then: frozenset[str] = frozenset()
) -> str:
    """Which `directory.ldap_attributes` to change: the fields naming one of `first`,
    then those naming one of `then` (names lower-case); "" when none does."""
    order = [f.name for f in dataclass_fields(m) if f.name in OVERRIDABLE]
    naming = [[f for f in order if _names(getattr(m, f), wanted)] for wanted in (first, then)]
    fields = list(dict.fromkeys(naming[0] + naming[1]))
    if not fields:
        return ""
    change = [f for f in fields if f in REQUIRED]
    blank = [f for f in fields if f not in REQUIRED]
    steps = [f"change {', '.join(change)}"] if change else []
    steps += [f'change or blank ("") {", ".join(blank)}'] if blank else []
    also = "(or pick another directory.ldap_preset)"
    return f"in directory.ldap_attributes, {' and '.join(steps)} {also}"


def _names(value: object, wanted: frozenset[str] | set[str]) -> bool:
    """Whether a mapping field's value (a name or a tuple of names) names one of `wanted`."""
    values = value if isinstance(value, tuple) else (value,)
    return any(isinstance(v, str) and v.lower() in wanted for v in values)


def _spelled_as_sent(name: str, sent: Mapping[str, Sequence[str]]) -> str:
    return next((k for k in sent if k.lower() == name.lower()), name)


__all__ = ["LOAD_SCHEMA", "schema_advice"]
