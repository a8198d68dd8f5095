"""Our LDAP schema (the auxiliary class mailAccount), defined once, written in both forms.

The definitions follow RFC 4512 4.1.2 (attribute types) and 4.1.1 (object classes).
OpenLDAP takes a schema in two forms: a file that slapd.conf includes
(`attributetype` / `objectclass` lines, slapd.conf(5)) and an entry under
cn=schema,cn=config (`olcAttributeTypes` / `olcObjectClasses`, slapd-config(5)).
`mailserver ldap-schema schema|ldif` writes each from the definitions here;
deploy/ldap/mailserver.schema and deploy/ldap/mailserver.ldif are its output, and a
test checks that they still are and that both forms load into slapd as the same schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A PLACEHOLDER arc: an organisation uses its own IANA Private Enterprise Number.
PLACEHOLDER_ARC = "1.3.6.1.4.1.99999"
OID_ARC = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+\Z")
FORMS = ("schema", "ldif")

_DIRECTORY_STRING = "1.3.6.1.4.1.1466.115.121.1.15"
_GENERALIZED_TIME = "1.3.6.1.4.1.1466.115.121.1.24"
_DN = "1.3.6.1.4.1.1466.115.121.1.12"
_IA5_STRING = "1.3.6.1.4.1.1466.115.121.1.26"
_TEXT = "EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch"
_WORD = "EQUALITY caseIgnoreMatch"
_TIME = "EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch"
_DN_MATCH = "EQUALITY distinguishedNameMatch"
_ADDRESS = "EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch"


@dataclass(frozen=True, slots=True)
class AttributeType:
    """An attribute type of ours, OID <arc>.1.1.<number>."""

    number: int
    name: str
    description: str
    matching: str  # EQUALITY / ORDERING / SUBSTR rules
    syntax: str  # syntax OID with an optional {length}
    single_value: bool = True

    def lines(self, arc: str) -> list[str]:
        """The definition as lines; the first opens it, the last closes it."""
        single = " SINGLE-VALUE" if self.single_value else ""
        return [
            f"( {arc}.1.1.{self.number} NAME '{self.name}'",
            f"DESC '{self.description}'",
            self.matching,
            f"SYNTAX {self.syntax}{single} )",
        ]


@dataclass(frozen=True, slots=True)
class ObjectClass:
    """An object class of ours, OID <arc>.1.2.<number>."""

    number: int
    name: str
    description: str
    kind: str  # STRUCTURAL, AUXILIARY or ABSTRACT
    must: tuple[str, ...]
    may: tuple[str, ...]

    def lines(self, arc: str) -> list[str]:
        """The definition as lines, MAY four names a line."""
        parts = [" $ ".join(self.may[i : i + 4]) for i in range(0, len(self.may), 4)]
        may = [f"MAY ( {parts[0]}", *(f"  {part}" for part in parts[1:])]
        return [
            f"( {arc}.1.2.{self.number} NAME '{self.name}'",
            f"DESC '{self.description}'",
            f"SUP top {self.kind}",
            f"MUST ( {' $ '.join(self.must)} )",
            *(f"{line} $" for line in may[:-1]),
            f"{may[-1]} ) )",
        ]


ATTRIBUTE_TYPES = (
    AttributeType(
        1,
        "mailAccountStatus",
        "Life-cycle state: pending, active, departed, locked, suspended, closed",
        _TEXT,
        f"{_DIRECTORY_STRING}{{32}}",
    ),
    AttributeType(
        2,
        "mailSeparationDate",
        "Day the person stopped being staff (departed accounts)",
        _TIME,
        _GENERALIZED_TIME,
    ),
    AttributeType(
        3, "mailStatusReason", "Why the current status holds", _TEXT, f"{_DIRECTORY_STRING}{{1024}}"
    ),
    AttributeType(
        4, "mailStatusActor", "Who set the current status", _TEXT, f"{_DIRECTORY_STRING}{{256}}"
    ),
    AttributeType(
        5, "mailStatusTime", "Since when the current status holds", _TIME, _GENERALIZED_TIME
    ),
    AttributeType(
        6, "mailAccountKind", "person or role (a unit mailbox)", _WORD, f"{_DIRECTORY_STRING}{{32}}"
    ),
    AttributeType(
        7, "mailResponsible", "Entry of the person responsible for a role mailbox", _DN_MATCH, _DN
    ),
    AttributeType(
        8,
        "mailDelegate",
        "Entries acting for the responsible person of a role mailbox",
        _DN_MATCH,
        _DN,
        single_value=False,
    ),
    AttributeType(
        9,
        "mailUnit",
        "Organisational unit the account belongs to",
        _TEXT,
        f"{_DIRECTORY_STRING}{{256}}",
    ),
    AttributeType(10, "mailUnitSince", "When mailUnit last changed", _TIME, _GENERALIZED_TIME),
    AttributeType(
        11,
        "mailSendAs",
        "Extra address this account may use as sender",
        _ADDRESS,
        f"{_IA5_STRING}{{256}}",
        single_value=False,
    ),
    AttributeType(
        12,
        "mailAlternateAddress",
        "Alias address delivering to this account",
        _ADDRESS,
        f"{_IA5_STRING}{{256}}",
        single_value=False,
    ),
    AttributeType(
        13,
        "mailEnabledService",
        "Service the account may use: smtp, imap (absent: all; none: none)",
        _WORD,
        f"{_DIRECTORY_STRING}{{32}}",
        single_value=False,
    ),
)

OBJECT_CLASSES = (
    ObjectClass(
        1,
        "mailAccount",
        "Mail account state kept by the mailserver",
        "AUXILIARY",
        must=("mail", "mailAccountStatus"),
        may=(
            "mailAccountKind",
            "mailSeparationDate",
            "mailStatusReason",
            "mailStatusActor",
            "mailStatusTime",
            "mailResponsible",
            "mailDelegate",
            "mailUnit",
            "mailUnitSince",
            "mailSendAs",
            "mailAlternateAddress",
            "mailEnabledService",
        ),
    ),
)

# Our names, lower-case.
ATTRIBUTE_NAMES = frozenset(a.name.lower() for a in ATTRIBUTE_TYPES)
CLASS_NAMES = frozenset(c.name.lower() for c in OBJECT_CLASSES)

_ABOUT = """\
The mailserver's account state: the auxiliary class mailAccount, added to
existing inetOrgPerson entries (it needs core, cosine and inetorgperson).
Written by `mailserver ldap-schema {form}` from mailserver/directory/ldap_schema.py:
change the definitions there.

{load}

OID arc: {arc}{placeholder}
OIDs must never change once entries use them.
  {arc}.1.1.n  attribute types
  {arc}.1.2.n  object classes

Values:
  mailAccountStatus   pending | active | departed | locked | suspended | closed
  mailAccountKind     person | role (a unit's mailbox; mailResponsible names its person)
  mailEnabledService  smtp | imap; absent = every service enabled, "none" = none
  times               GeneralizedTime in UTC, e.g. 20260131170000Z

mailAlternateAddress is defined here (it is not in core, cosine,
inetorgperson, nis or misc). If your directory already loads a schema that
defines it (e.g. a Sun/Oracle or qmail schema), delete its definition from
the copy you load and the mapping keeps working."""

_PLACEHOLDER = """ is a PLACEHOLDER. Before loading this into a
production directory, write the schema under your own IANA Private Enterprise
Number (https://pen.iana.org/):
  mailserver ldap-schema {form} --oid-arc 1.3.6.1.4.1.<your PEN>"""

_LOAD = {
    "schema": """\
slapd.conf form. Include it after the schemas it builds on:
  include /etc/ldap/schema/core.schema
  include /etc/ldap/schema/cosine.schema
  include /etc/ldap/schema/inetorgperson.schema
  include /etc/ldap/schema/mailserver.schema
A server configured in cn=config (slapd.d) loads mailserver.ldif instead.""",
    "ldif": """\
cn=config form. Load it once into a running server:
  ldapadd -Y EXTERNAL -H ldapi:/// -f mailserver.ldif
A server configured with slapd.conf includes mailserver.schema instead.""",
}


def render(form: str, arc: str = PLACEHOLDER_ARC) -> str:
    """The schema in `form` ("schema": a slapd.conf include file; "ldif": the
    cn=config entry for ldapadd), with OIDs under `arc`; ValueError if either is bad."""
    if form not in FORMS:
        raise ValueError(f"unknown schema form {form!r} (one of {', '.join(FORMS)})")
    if not OID_ARC.match(arc):
        raise ValueError(f"{arc!r} is not an OID (digits and dots, e.g. 1.3.6.1.4.1.12345)")
    placeholder = _PLACEHOLDER.format(form=form) if arc == PLACEHOLDER_ARC else ""
    about = _ABOUT.format(form=form, load=_LOAD[form], arc=arc, placeholder=placeholder)
    header = "".join(f"# {line}".rstrip() + "\n" for line in about.splitlines())
    definitions = [("attributetype", "olcAttributeTypes", a.lines(arc)) for a in ATTRIBUTE_TYPES]
    definitions += [("objectclass", "olcObjectClasses", c.lines(arc)) for c in OBJECT_CLASSES]
    if form == "schema":
        # slapd.conf(5): a line starting with white space continues the one before.
        body = "\n".join(
            f"{keyword} {lines[0]}\n" + "".join(f"  {line}\n" for line in lines[1:])
            for keyword, _, lines in definitions
        )
        return f"{header}\n{body}"
    # RFC 2849: a continuation line starts with one space, removed when unfolding.
    entry = "dn: cn=mailserver,cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: mailserver\n"
    body = "".join(
        f"{attribute}: {lines[0]}\n" + "".join(f"  {line}\n" for line in lines[1:])
        for _, attribute, lines in definitions
    )
    return f"{header}{entry}{body}"


__all__ = [
    "ATTRIBUTE_NAMES",
    "ATTRIBUTE_TYPES",
    "CLASS_NAMES",
    "FORMS",
    "OBJECT_CLASSES",
    "PLACEHOLDER_ARC",
    "render",
]
