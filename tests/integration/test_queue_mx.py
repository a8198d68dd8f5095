"""Delivery by MX with a real DNS server (dnsmasq) and a real receiving MTA (smtp-sink):
preference order with fallback, implicit MX, and null MX (RFC 7505) bouncing at once."""

from __future__ import annotations

import email
import email.policy
from typing import Any

from tests.integration.dnsmasq import Dnsmasq, Records, dnsmasq  # noqa: F401 (fixture)
from tests.integration.test_queue import ALICE, BOB, outgoing, submit

pytest_plugins = ["tests.integration.sink"]


def mx_server(make_server: Any, dns: Dnsmasq, sink_port: int) -> Any:
    server = make_server(
        relay={"dns_servers": dns.servers, "dns_port": dns.port, "remote_port": sink_port},
        queue={"retry_initial_seconds": 1, "retry_max_seconds": 1},
    )
    server.add_account(ALICE)
    server.add_account(BOB)
    return server


def test_mx_preference_with_fallback_to_the_next_host(
    make_server: Any,
    make_sink: Any,
    dnsmasq: Dnsmasq,  # noqa: F811
) -> None:
    sink = make_sink()  # listens on 127.0.0.1 only
    dnsmasq.serve(
        Records()
        .mx("partner.test", "down.partner.test", 10)  # preferred, but nothing listens there
        .mx("partner.test", "up.partner.test", 20)
        .a("down.partner.test", "127.0.0.2")
        .a("up.partner.test", "127.0.0.1")
    )
    server = mx_server(make_server, dnsmasq, sink.port)
    sent = outgoing(to="someone@partner.test")
    submit(server, sent, ["someone@partner.test"])
    (got,) = sink.wait_messages(1, timeout=20)
    assert got.content.endswith(sent)
    server.wait_for_empty_queue()
    (line,) = [r for r in server.log_records() if r.get("status") == "delivered"]
    assert "up.partner.test" in line["remote"]


def test_implicit_mx_uses_the_domain_address(
    make_server: Any,
    make_sink: Any,
    dnsmasq: Dnsmasq,  # noqa: F811
) -> None:
    sink = make_sink()
    dnsmasq.serve(Records().a("nomx.test", "127.0.0.1"))
    server = mx_server(make_server, dnsmasq, sink.port)
    submit(server, outgoing(to="x@nomx.test"), ["x@nomx.test"])
    assert len(sink.wait_messages(1, timeout=20)) == 1


def test_null_mx_bounces_without_retrying(
    make_server: Any,
    make_sink: Any,
    dnsmasq: Dnsmasq,  # noqa: F811
) -> None:
    sink = make_sink()
    dnsmasq.serve(Records().null_mx("nomail.test").a("nomail.test", "127.0.0.1"))
    server = mx_server(make_server, dnsmasq, sink.port)
    submit(server, outgoing("Null MX", to="x@nomail.test"), ["x@nomail.test"])
    (path,) = server.wait_for_mail(ALICE, timeout=20)
    report = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    status = report.get_payload()[1].as_string()
    assert "Action: failed" in status and "5.1.10" in status
    assert sink.messages() == []
    attempts = [
        r
        for r in server.log_records()
        if r["event"] == "deliver" and r["recipients"] == ["x@nomail.test"]
    ]
    assert len(attempts) == 1 and attempts[0]["status"] == "bounced"


def test_unknown_domain_bounces(make_server: Any, make_sink: Any, dnsmasq: Dnsmasq) -> None:  # noqa: F811
    sink = make_sink()
    dnsmasq.serve(Records().a("exists.test", "127.0.0.1"))
    server = mx_server(make_server, dnsmasq, sink.port)
    submit(server, outgoing("Typo", to="x@no-such-domain.test"), ["x@no-such-domain.test"])
    (path,) = server.wait_for_mail(ALICE, timeout=20)
    assert "5.1.2" in path.read_text(errors="replace")


def test_mx_pointing_back_at_us_bounces_as_a_loop(
    make_server: Any,
    make_sink: Any,
    dnsmasq: Dnsmasq,  # noqa: F811
) -> None:
    sink = make_sink()
    dnsmasq.serve(
        Records().mx("loop.test", "mail.test.example", 10).a("mail.test.example", "127.0.0.1")
    )
    server = mx_server(make_server, dnsmasq, sink.port)  # its hostname is mail.test.example
    submit(server, outgoing("Loop", to="x@loop.test"), ["x@loop.test"])
    (path,) = server.wait_for_mail(ALICE, timeout=20)
    assert "5.4.6" in path.read_text(errors="replace")
    assert sink.messages() == []
