"""MX lookup (RFC 5321 §5.1, RFC 7505) against a real dnsmasq on loopback."""

from __future__ import annotations

import random
import time
from collections import Counter

import dns.asyncresolver
import dns.name
import dns.rdatatype
import pytest

from mailserver.queue import mx
from tests.integration.conftest import free_port
from tests.integration.dnsmasq import Dnsmasq, Records, dnsmasq  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

PORT = 2525


def resolver(server: Dnsmasq, timeout: float = 2.0) -> dns.asyncresolver.Resolver:
    return mx.make_resolver(server.servers, server.port, timeout=timeout)


async def test_mx_hosts_in_preference_order(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(
        Records()
        .mx("order.test", "mx30.order.test", 30)
        .mx("order.test", "mx10.order.test", 10)
        .mx("order.test", "mx20.order.test", 20)
        .a("mx10.order.test", "192.0.2.10")
        .a("mx20.order.test", "192.0.2.20")
        .a("mx30.order.test", "192.0.2.30")
    )
    hosts = await mx.resolve_destination("order.test", resolver(dnsmasq), port=PORT)
    assert [(h.name, h.preference) for h in hosts] == [
        ("mx10.order.test", 10),
        ("mx20.order.test", 20),
        ("mx30.order.test", 30),
    ]
    assert [h.addresses for h in hosts] == [("192.0.2.10",), ("192.0.2.20",), ("192.0.2.30",)]
    assert all(h.port == PORT for h in hosts)


async def test_equal_preferences_are_shuffled(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    records = Records().mx("even.test", "backup.even.test", 50).a("backup.even.test", "192.0.2.9")
    for n in range(3):
        records.mx("even.test", f"mx{n}.even.test", 10).a(f"mx{n}.even.test", f"192.0.2.{n + 1}")
    dnsmasq.serve(records)
    firsts: Counter[str] = Counter()
    rng = random.Random(7)
    for _ in range(30):
        hosts = await mx.resolve_destination("even.test", resolver(dnsmasq), port=PORT, rng=rng)
        assert {h.name for h in hosts[:3]} == {"mx0.even.test", "mx1.even.test", "mx2.even.test"}
        assert hosts[3].name == "backup.even.test"
        firsts[hosts[0].name] += 1
    assert len(firsts) == 3  # each of the equal hosts came first at some point


async def test_multiple_mx_hosts_with_their_addresses(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(
        Records()
        .mx("multi.test", "mx1.multi.test", 10)
        .mx("multi.test", "mx2.multi.test", 20)
        .aaaa("mx1.multi.test", "2001:db8::1")
        .a("mx1.multi.test", "192.0.2.1")
        .a("mx1.multi.test", "192.0.2.11")
        .aaaa("mx2.multi.test", "2001:db8::2")
    )
    hosts = await mx.resolve_destination("multi.test", resolver(dnsmasq), port=PORT)
    assert hosts[0].name == "mx1.multi.test"
    # A records first, then AAAA.
    assert set(hosts[0].addresses[:2]) == {"192.0.2.1", "192.0.2.11"}
    assert hosts[0].addresses[2:] == ("2001:db8::1",)
    assert hosts[1] == mx.Host("mx2.multi.test", ("2001:db8::2",), PORT, 20)


async def test_mx_host_without_address_is_skipped(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(
        Records()
        .mx("skip.test", "gone.skip.test", 5)
        .mx("skip.test", "mx.skip.test", 10)
        .a("mx.skip.test", "192.0.2.7")
    )
    hosts = await mx.resolve_destination("skip.test", resolver(dnsmasq), port=PORT)
    assert hosts == [mx.Host("mx.skip.test", ("192.0.2.7",), PORT, 10)]


async def test_no_mx_host_with_address_is_temporary(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(Records().mx("hollow.test", "gone.hollow.test", 10))
    with pytest.raises(mx.TemporaryFailure) as caught:
        await mx.resolve_destination("hollow.test", resolver(dnsmasq), port=PORT)
    assert caught.value.enhanced == "4.4.4"
    assert "gone.hollow.test" in caught.value.text


async def test_fallback_to_address_without_mx(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(Records().a("plain.test", "192.0.2.5").a("plain.test", "2001:db8::5"))
    hosts = await mx.resolve_destination("plain.test", resolver(dnsmasq), port=PORT)
    assert hosts == [mx.Host("plain.test", ("192.0.2.5", "2001:db8::5"), PORT, 0)]


async def test_no_mx_and_no_address_is_permanent(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    # The name exists (it has a TXT record) but has neither MX nor A/AAAA.
    dnsmasq.serve(Records().txt("bare.test", "v=spf1 -all"))
    with pytest.raises(mx.PermanentFailure) as caught:
        await mx.resolve_destination("bare.test", resolver(dnsmasq), port=PORT)
    assert caught.value.enhanced == "5.1.2"
    assert "no MX and no address" in caught.value.text


@pytest.mark.parametrize("raw", [False, True], ids=["mx-host", "dns-rr"])
async def test_null_mx_is_permanent(dnsmasq: Dnsmasq, raw: bool) -> None:  # noqa: F811
    dnsmasq.serve(Records().null_mx("nomail.test", raw=raw).a("nomail.test", "192.0.2.80"))
    # What dnsmasq serves really is RFC 7505's "0 .".
    answer = await resolver(dnsmasq).resolve("nomail.test", dns.rdatatype.MX)
    assert [(r.preference, r.exchange) for r in answer] == [(0, dns.name.root)]
    with pytest.raises(mx.PermanentFailure) as caught:
        await mx.resolve_destination("nomail.test", resolver(dnsmasq), port=PORT)
    assert caught.value.enhanced == "5.1.10"
    assert "null MX" in caught.value.text
    assert str(caught.value).startswith("5.1.10 ")


async def test_nxdomain_is_permanent(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(Records().mx("exists.test", "mx.exists.test", 10))
    with pytest.raises(mx.PermanentFailure) as caught:
        await mx.resolve_destination("nosuch.test", resolver(dnsmasq), port=PORT)
    assert caught.value.enhanced == "5.1.2"
    assert "no such domain" in caught.value.text


async def test_refused_is_temporary(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    # Outside its local zones, dnsmasq without upstreams answers REFUSED.
    dnsmasq.serve(Records())
    with pytest.raises(mx.TemporaryFailure) as caught:
        await mx.resolve_destination("elsewhere.org", resolver(dnsmasq), port=PORT)
    assert caught.value.enhanced == "4.4.3"


async def test_unreachable_name_server_is_temporary() -> None:
    # Nothing listens on this port: the query is refused by ICMP or times out.
    unreachable = mx.make_resolver(["127.0.0.1"], free_port(), timeout=1.0)
    started = time.monotonic()
    with pytest.raises(mx.TemporaryFailure) as caught:
        await mx.resolve_destination("anything.test", unreachable, port=PORT)
    assert caught.value.enhanced == "4.4.3"
    assert time.monotonic() - started < 5


async def test_domain_literal_needs_no_dns(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(Records())
    res = resolver(dnsmasq)
    assert await mx.resolve_destination("[192.0.2.1]", res, port=PORT) == [
        mx.Host("192.0.2.1", ("192.0.2.1",), PORT, 0)
    ]
    assert await mx.resolve_destination("[IPv6:2001:DB8::1]", res, port=PORT) == [
        mx.Host("2001:db8::1", ("2001:db8::1",), PORT, 0)
    ]
    for bad in ("[2001:db8::1]", "[IPv6:192.0.2.1]", "[192.0.2.300]", "[192.0.2.1"):
        with pytest.raises(mx.PermanentFailure):
            await mx.resolve_destination(bad, res, port=PORT)
    assert "query[" not in dnsmasq.log()


async def test_names_are_case_and_dot_insensitive(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(Records().mx("case.test", "mx.case.test", 10).a("mx.case.test", "192.0.2.3"))
    hosts = await mx.resolve_destination("Case.TEST.", resolver(dnsmasq), port=PORT)
    assert [h.addresses for h in hosts] == [("192.0.2.3",)]


async def test_restart_serves_new_records_on_same_port(dnsmasq: Dnsmasq) -> None:  # noqa: F811
    dnsmasq.serve(Records().a("first.test", "192.0.2.1"))
    port = dnsmasq.port
    dnsmasq.serve(Records().a("second.test", "192.0.2.2"))
    assert dnsmasq.port == port
    hosts = await mx.resolve_destination("second.test", resolver(dnsmasq), port=PORT)
    assert hosts[0].addresses == ("192.0.2.2",)
    with pytest.raises(mx.PermanentFailure):
        await mx.resolve_destination("first.test", resolver(dnsmasq), port=PORT)
