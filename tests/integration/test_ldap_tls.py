"""LdapDirectory over LDAPS and StartTLS against a real slapd serving a generated CA's
certificate: verified when right, closed (never cleartext) when anything is wrong.

A TCP relay in front of slapd keeps every byte the client sent, so "never cleartext"
is checked on the wire: the password must not appear in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailserver.directory import DirectoryUnavailable
from mailserver.directory.ldap import LdapDirectory
from tests.integration.ldap_certs import Ca, make_ca
from tests.integration.slapd import Slapd, make_slapd, slapd  # noqa: F401 (fixture)
from tests.integration.tcprelay import Relay

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
SOMCHAI = ("somchai.k@bangkok.go.th", "sample-password-1")


@dataclass
class TlsSlapd:
    server: Slapd
    ca: Ca
    plain: Relay  # in front of the ldap:// (StartTLS) listener
    ldaps: Relay  # in front of the ldaps:// listener


def _serve(root: Path, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TlsSlapd:
    ca = make_ca(root / "ca")
    server = make_slapd(root / "slapd", tls=ca.issue(root / "server", names))
    server.start()
    server.add_ldif(SAMPLE.read_text())
    assert server.tls_port is not None
    return TlsSlapd(server, ca, Relay(server.port), Relay(server.tls_port))


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[TlsSlapd]:
    served = _serve(tmp_path)
    yield served
    served.plain.close()
    served.ldaps.close()
    served.server.stop()


def _directory(server: Slapd, url: str, **options: object) -> LdapDirectory:
    return LdapDirectory(
        [url],
        server.base,
        bind_dn=server.admin_dn,
        bind_password=server.admin_password,
        connect_timeout=2.0,
        receive_timeout=2.0,
        **options,  # type: ignore[arg-type]
    )


def _secrets_on_the_wire(relay: Relay, server: Slapd) -> bool:
    wire = bytes(relay.sent)
    return SOMCHAI[1].encode() in wire or server.admin_password.encode() in wire


async def _works(ldap: LdapDirectory) -> None:
    try:
        account = await ldap.authenticate(*SOMCHAI)
        assert account is not None and account.login == SOMCHAI[0]
        assert await ldap.authenticate(SOMCHAI[0], "wrong") is None
        assert await ldap.get("malee.s@bangkok.go.th") is not None
    finally:
        await ldap.close()


async def _refused(ldap: LdapDirectory) -> None:
    try:
        with pytest.raises(DirectoryUnavailable):
            await ldap.authenticate(*SOMCHAI)
        with pytest.raises(DirectoryUnavailable):
            await ldap.get(SOMCHAI[0])
    finally:
        await ldap.close()


async def test_ldaps_with_the_right_ca(tls: TlsSlapd) -> None:
    await _works(_directory(tls.server, tls.ldaps.url("ldaps"), ca_file=str(tls.ca.cert_file)))
    assert tls.ldaps.sent and not _secrets_on_the_wire(tls.ldaps, tls.server)


async def test_start_tls_with_the_right_ca(tls: TlsSlapd) -> None:
    ca_file = str(tls.ca.cert_file)
    await _works(_directory(tls.server, tls.plain.url(), start_tls=True, ca_file=ca_file))
    assert tls.plain.sent and not _secrets_on_the_wire(tls.plain, tls.server)


async def test_ldaps_url_with_start_tls_set_too(tls: TlsSlapd) -> None:
    ca_file = str(tls.ca.cert_file)
    await _works(_directory(tls.server, tls.ldaps.url("ldaps"), start_tls=True, ca_file=ca_file))


async def test_the_wire_check_sees_cleartext(tls: TlsSlapd) -> None:
    # The reference for the assertions above: without TLS the secrets are plain to see.
    await _works(_directory(tls.server, tls.plain.url()))
    assert _secrets_on_the_wire(tls.plain, tls.server)


@pytest.mark.parametrize("how", ["ldaps", "start_tls"])
async def test_a_wrong_ca_fails_closed(tls: TlsSlapd, tmp_path: Path, how: str) -> None:
    other = make_ca(tmp_path / "other-ca", "some other CA")
    relay = tls.ldaps if how == "ldaps" else tls.plain
    url = relay.url("ldaps") if how == "ldaps" else relay.url()
    ldap = _directory(tls.server, url, start_tls=how == "start_tls", ca_file=str(other.cert_file))
    await _refused(ldap)
    assert relay.accepted  # it did try
    assert not _secrets_on_the_wire(relay, tls.server)


@pytest.mark.parametrize("how", ["ldaps", "start_tls"])
async def test_the_system_cas_do_not_trust_a_private_ca(tls: TlsSlapd, how: str) -> None:
    relay = tls.ldaps if how == "ldaps" else tls.plain
    url = relay.url("ldaps") if how == "ldaps" else relay.url()
    await _refused(_directory(tls.server, url, start_tls=how == "start_tls"))
    assert not _secrets_on_the_wire(relay, tls.server)


@pytest.mark.parametrize("how", ["ldaps", "start_tls"])
async def test_a_certificate_for_another_name_fails(tmp_path: Path, how: str) -> None:
    served = _serve(tmp_path, names=("ldap.example.org",))
    try:
        relay = served.ldaps if how == "ldaps" else served.plain
        url = relay.url("ldaps") if how == "ldaps" else relay.url()
        ldap = _directory(
            served.server,
            url,
            start_tls=how == "start_tls",
            ca_file=str(served.ca.cert_file),  # the right CA: only the name is wrong
        )
        await _refused(ldap)
        assert relay.accepted and not _secrets_on_the_wire(relay, served.server)
    finally:
        served.plain.close()
        served.ldaps.close()
        served.server.stop()


async def test_start_tls_against_a_server_without_tls_fails_closed(
    slapd: Slapd,  # noqa: F811
) -> None:
    slapd.add_ldif(SAMPLE.read_text())
    relay = Relay(slapd.port)
    try:
        await _refused(_directory(slapd, relay.url(), start_tls=True))
        assert relay.accepted and not _secrets_on_the_wire(relay, slapd)
    finally:
        relay.close()


async def test_ldaps_to_a_plain_listener_fails_closed(slapd: Slapd) -> None:  # noqa: F811
    await _refused(_directory(slapd, f"ldaps://127.0.0.1:{slapd.port}/"))
