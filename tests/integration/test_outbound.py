"""The outbound SMTP client against real peers on loopback: smtp-sink and aiosmtpd."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from mailserver.smtpclient.client import Outcome, Target, deliver, parse_smarthost
from tests.integration.conftest import free_port

if TYPE_CHECKING:  # not imported at run time: pytest loads it as a plugin, below
    from tests.integration.sink import Peer, SmtpSink

# The fixtures make_sink, make_peer and silent_port.
pytest_plugins = ["tests.integration.sink"]
pytestmark = pytest.mark.integration

SENDER = "alice@bangkok.go.th"
ANN, BEN = "ann@remote.example", "ben@remote.example"
HELO = "mail.bangkok.go.th"

CONTENT = (
    b"From: Alice <alice@bangkok.go.th>\r\n"
    b"To: ann@remote.example\r\n"
    b"Subject: Outbound\r\n"
    b"Message-ID: <out-1@bangkok.go.th>\r\n"
    b"\r\n"
    b"A line.\r\n"
    b".leading dot survives\r\n"
    b"..two dots too\r\n"
    b"\r\n"
    b"last line\r\n"
)
CONTENT_8BIT = CONTENT + "สวัสดีครับ\r\n".encode()

SinkFactory = Callable[..., "SmtpSink"]
PeerFactory = Callable[..., "Peer"]


def sink_target(sink: SmtpSink | int, name: str = "sink.test.example") -> Target:
    port = sink if isinstance(sink, int) else sink.port
    return Target(name, ("127.0.0.1",), port)


async def send(
    targets: Sequence[Target],
    recipients: Sequence[str] = (ANN,),
    content: bytes = CONTENT,
    *,
    sender: str = SENDER,
    **options: Any,
) -> list[Outcome]:
    settings: dict[str, Any] = {
        "helo": HELO,
        "tls": "opportunistic",
        "connect_timeout": 5.0,
        "command_timeout": 5.0,
    }
    settings.update(options)
    return await deliver(targets, sender, recipients, content, **settings)


def kinds(outcomes: list[Outcome]) -> list[str]:
    return [o.kind for o in outcomes]


# --- plain delivery to smtp-sink ----------------------------------------------------------


async def test_delivered_content_is_byte_exact(make_sink: SinkFactory) -> None:
    sink = make_sink()
    outcomes = await send([sink_target(sink)], [ANN, BEN], CONTENT_8BIT)
    assert kinds(outcomes) == ["delivered", "delivered"]
    assert [o.recipient for o in outcomes] == [ANN, BEN]
    assert all(o.code == 250 and o.remote == "sink.test.example" for o in outcomes)
    assert outcomes[0].text.startswith("2.0.0")  # enhanced status code kept
    [message] = sink.wait_messages(1)
    assert message.content == CONTENT_8BIT
    assert message.proto == "ESMTP"
    assert message.helo == HELO
    # RFC 6152: 8-bit content is declared to a server that offers 8BITMIME.
    assert message.mail_args == f"<{SENDER}> BODY=8BITMIME"
    assert message.rcpt_args == (f"<{ANN}>", f"<{BEN}>")


async def test_seven_bit_content_has_no_body_parameter(make_sink: SinkFactory) -> None:
    sink = make_sink()
    assert kinds(await send([sink_target(sink)])) == ["delivered"]
    assert sink.wait_messages(1)[0].mail_args == f"<{SENDER}>"


async def test_eight_bit_content_to_a_server_without_8bitmime_is_sent_as_is(
    make_sink: SinkFactory,
) -> None:
    sink = make_sink("-8")
    assert kinds(await send([sink_target(sink)], content=CONTENT_8BIT)) == ["delivered"]
    [message] = sink.wait_messages(1)
    assert message.mail_args == f"<{SENDER}>"
    assert message.content == CONTENT_8BIT


async def test_null_sender(make_sink: SinkFactory) -> None:
    sink = make_sink()
    assert kinds(await send([sink_target(sink)], sender="")) == ["delivered"]
    assert sink.wait_messages(1)[0].mail_args == "<>"


async def test_helo_when_ehlo_is_refused(make_sink: SinkFactory) -> None:
    sink = make_sink("-f", "EHLO")
    assert kinds(await send([sink_target(sink)])) == ["delivered"]
    [message] = sink.wait_messages(1)
    assert message.proto == "SMTP"
    assert message.content == CONTENT


# --- per-recipient and per-message replies -------------------------------------------------


async def test_rcpt_tempfail_is_temporary(make_sink: SinkFactory) -> None:
    sink = make_sink("-r", "RCPT")
    outcomes = await send([sink_target(sink)], [ANN, BEN])
    assert kinds(outcomes) == ["temporary", "temporary"]
    assert outcomes[0].code == 450 and outcomes[0].text.startswith("4.")
    assert sink.messages() == []  # no DATA without an accepted recipient


async def test_rcpt_reject_is_permanent(make_sink: SinkFactory) -> None:
    sink = make_sink("-f", "RCPT")
    outcomes = await send([sink_target(sink)], [ANN, BEN])
    assert kinds(outcomes) == ["permanent", "permanent"]
    assert outcomes[0].code == 500 and outcomes[0].text.startswith("5.")
    assert sink.messages() == []


async def test_mixed_recipients(make_peer: PeerFactory) -> None:
    gone, full = "gone@remote.example", "full@remote.example"
    peer = make_peer(
        starttls=False,
        replies={gone: "550 5.1.1 No such user", full: "452 4.2.2 Mailbox full"},
    )
    outcomes = await send([sink_target(peer.port, peer.name)], [ANN, gone, full, BEN])
    assert kinds(outcomes) == ["delivered", "permanent", "temporary", "delivered"]
    assert (outcomes[1].code, outcomes[1].text) == (550, "5.1.1 No such user")
    assert (outcomes[2].code, outcomes[2].text) == (452, "4.2.2 Mailbox full")
    [message] = peer.received
    assert message.rcpt_tos == (ANN, BEN)
    assert message.content == CONTENT


async def test_data_rejected_applies_to_all_accepted(make_sink: SinkFactory) -> None:
    sink = make_sink("-f", "DATA")
    outcomes = await send([sink_target(sink)], [ANN, BEN])
    assert kinds(outcomes) == ["permanent", "permanent"]
    assert outcomes[0].code == 500


async def test_end_of_data_tempfail(make_sink: SinkFactory) -> None:
    sink = make_sink("-r", ".")
    outcomes = await send([sink_target(sink)], [ANN, BEN])
    assert kinds(outcomes) == ["temporary", "temporary"]
    assert outcomes[0].code == 450


async def test_mail_from_rejected_is_permanent_for_all(make_sink: SinkFactory) -> None:
    sink = make_sink("-f", "MAIL")
    outcomes = await send([sink_target(sink)], [ANN, BEN])
    assert kinds(outcomes) == ["permanent", "permanent"]


async def test_mail_from_tempfail_tries_the_next_target(make_sink: SinkFactory) -> None:
    busy, good = make_sink("-r", "MAIL"), make_sink()
    outcomes = await send([sink_target(busy, "mx1"), sink_target(good, "mx2")])
    assert kinds(outcomes) == ["delivered"] and outcomes[0].remote == "mx2"


async def test_disconnect_at_data_is_temporary(make_sink: SinkFactory) -> None:
    sink = make_sink("-q", "DATA")
    outcomes = await send([sink_target(sink)], [ANN, BEN])
    assert kinds(outcomes) == ["temporary", "temporary"]
    assert outcomes[0].code is None and "4.4.2" in outcomes[0].text


async def test_message_larger_than_the_declared_size(make_peer: PeerFactory) -> None:
    peer = make_peer(starttls=False, data_size_limit=100)
    outcomes = await send([sink_target(peer.port, peer.name)], [ANN])
    assert kinds(outcomes) == ["permanent"]
    assert outcomes[0].text.startswith("5.3.4")
    assert peer.received == []


async def test_size_and_smtputf8_parameters(make_peer: PeerFactory) -> None:
    peer = make_peer(starttls=False)
    thai = "สมชาย@ตัวอย่าง.ไทย"
    outcomes = await send([sink_target(peer.port, peer.name)], [thai], CONTENT_8BIT)
    assert kinds(outcomes) == ["delivered"]
    [message] = peer.received
    assert message.rcpt_tos == (thai,)
    assert set(message.mail_options) == {
        f"SIZE={len(CONTENT_8BIT)}",
        "BODY=8BITMIME",
        "SMTPUTF8",
    }


async def test_non_ascii_recipient_without_smtputf8(make_sink: SinkFactory) -> None:
    sink = make_sink()
    thai = "สมชาย@ตัวอย่าง.ไทย"
    outcomes = await send([sink_target(sink)], [thai, ANN])
    assert kinds(outcomes) == ["permanent", "delivered"]
    assert outcomes[0].text.startswith("5.6.7")
    assert sink.wait_messages(1)[0].rcpt_args == (f"<{ANN}>",)


# --- trying targets in order ---------------------------------------------------------------


async def test_refused_connection_moves_to_the_next_target(make_sink: SinkFactory) -> None:
    sink = make_sink()
    down = Target("mx1.remote.example", ("127.0.0.1",), free_port())
    outcomes = await send([down, sink_target(sink, "mx2.remote.example")])
    assert kinds(outcomes) == ["delivered"]
    assert outcomes[0].remote == "mx2.remote.example"


async def test_addresses_of_one_target_in_order(make_sink: SinkFactory) -> None:
    sink = make_sink()  # listens on 127.0.0.1 only
    target = Target("mx.remote.example", ("127.0.0.2", "127.0.0.1"), sink.port)
    assert kinds(await send([target])) == ["delivered"]


@pytest.mark.parametrize("option", ["-r", "-f"])
async def test_refused_greeting_moves_to_the_next_target(
    make_sink: SinkFactory, option: str
) -> None:
    refusing, good = make_sink(option, "CONNECT"), make_sink()
    outcomes = await send([sink_target(refusing, "mx1"), sink_target(good, "mx2")])
    assert kinds(outcomes) == ["delivered"] and outcomes[0].remote == "mx2"
    assert len(good.wait_messages(1)) == 1


async def test_all_targets_down_is_temporary_with_the_last_error(make_sink: SinkFactory) -> None:
    refusing = make_sink("-f", "CONNECT")
    down = Target("mx1.remote.example", ("127.0.0.1",), free_port())
    outcomes = await send([down, sink_target(refusing, "mx2.remote.example")], [ANN, BEN])
    assert kinds(outcomes) == ["temporary", "temporary"]
    assert all(o.remote == "mx2.remote.example" for o in outcomes)
    assert outcomes[0].code is not None and 500 <= outcomes[0].code < 600  # the last reply
    outcomes = await send([down], [ANN])
    assert kinds(outcomes) == ["temporary"]
    assert outcomes[0].remote == "mx1.remote.example" and outcomes[0].code is None
    assert outcomes[0].text.startswith("4.4.1")


async def test_no_targets_at_all() -> None:
    outcomes = await send([], [ANN, BEN])
    assert kinds(outcomes) == ["temporary", "temporary"]


# --- timeouts -----------------------------------------------------------------------------


async def test_silent_server_times_out(silent_port: int) -> None:
    started = time.monotonic()
    outcomes = await send(
        [sink_target(silent_port)], [ANN, BEN], connect_timeout=1.0, command_timeout=1.0
    )
    assert time.monotonic() - started < 3
    assert kinds(outcomes) == ["temporary", "temporary"]
    assert "Timed out" in outcomes[0].text


async def test_stalled_command_times_out(make_sink: SinkFactory) -> None:
    sink = make_sink("-W", "RCPT:5")
    started = time.monotonic()
    outcomes = await send([sink_target(sink)], [ANN], connect_timeout=1.0, command_timeout=1.0)
    assert time.monotonic() - started < 3
    assert kinds(outcomes) == ["temporary"]
    assert outcomes[0].text.startswith("4.4.2 Timed out during RCPT TO")


# --- TLS and AUTH ----------------------------------------------------------------------------


async def test_opportunistic_starttls_is_used_when_offered(make_peer: PeerFactory) -> None:
    peer = make_peer()
    outcomes = await send([sink_target(peer.port, peer.name)], [ANN, BEN], CONTENT_8BIT)
    assert kinds(outcomes) == ["delivered", "delivered"]
    [message] = peer.received
    assert message.tls and message.content == CONTENT_8BIT


async def test_opportunistic_falls_back_to_clear_after_a_failed_handshake(
    make_peer: PeerFactory,
) -> None:
    peer = make_peer()
    # The system's CAs do not trust the peer's self-signed certificate.
    outcomes = await send(
        [sink_target(peer.port, peer.name)], tls_context=ssl.create_default_context()
    )
    assert kinds(outcomes) == ["delivered"]
    [message] = peer.received
    assert not message.tls


async def test_required_tls_without_starttls_is_temporary(make_sink: SinkFactory) -> None:
    sink = make_sink()
    outcomes = await send([sink_target(sink)], [ANN, BEN], tls="required")
    assert kinds(outcomes) == ["temporary", "temporary"]
    assert outcomes[0].text.startswith("4.7.4 TLS is required")
    assert sink.messages() == []


async def test_required_tls_with_a_verified_certificate(make_peer: PeerFactory) -> None:
    peer = make_peer()
    target = sink_target(peer.port, peer.name)
    outcomes = await send([target], tls="required", tls_context=peer.client_context())
    assert kinds(outcomes) == ["delivered"]
    assert peer.received[0].tls


async def test_required_tls_with_an_unverified_certificate(make_peer: PeerFactory) -> None:
    peer = make_peer()
    wrong_name = Target("other.test.example", ("127.0.0.1",), peer.port)
    outcomes = await send([wrong_name], tls="required", tls_context=peer.client_context())
    assert kinds(outcomes) == ["temporary"]
    assert outcomes[0].text.startswith("4.7.5")
    outcomes = await send([sink_target(peer.port, peer.name)], tls="required")  # system CAs
    assert kinds(outcomes) == ["temporary"]
    assert peer.received == []


async def test_auth_over_starttls_to_a_smarthost(make_peer: PeerFactory) -> None:
    peer = make_peer()
    smarthost = parse_smarthost(f"127.0.0.1:{peer.port}")
    outcomes = await send(
        [smarthost],
        [ANN, BEN],
        tls="required",
        auth=(peer.user, peer.password),
        tls_context=peer.client_context(),
    )
    assert kinds(outcomes) == ["delivered", "delivered"]
    assert outcomes[0].remote == "127.0.0.1"
    assert [(a.login, a.tls) for a in peer.auth_attempts] == [(peer.user, True)]
    [message] = peer.received
    assert message.tls and message.login == peer.user


async def test_auth_rejected_is_temporary(make_peer: PeerFactory) -> None:
    peer = make_peer()
    outcomes = await send(
        [sink_target(peer.port, peer.name)],
        tls="required",
        auth=(peer.user, "wrong"),
        tls_context=peer.client_context(),
    )
    assert kinds(outcomes) == ["temporary"]
    assert outcomes[0].code == 535
    assert peer.received == []


async def test_never_auth_in_clear(make_peer: PeerFactory, make_sink: SinkFactory) -> None:
    # aiosmtpd offering AUTH without TLS, and smtp-sink (it always offers AUTH in clear).
    peer = make_peer(starttls=False, auth_require_tls=False)
    outcomes = await send([sink_target(peer.port, peer.name)], auth=(peer.user, peer.password))
    assert kinds(outcomes) == ["temporary"]
    assert outcomes[0].text.startswith("4.7.0 Refusing to send credentials")
    assert peer.auth_attempts == [] and peer.received == []
    sink = make_sink()
    outcomes = await send([sink_target(sink)], auth=(peer.user, peer.password))
    assert kinds(outcomes) == ["temporary"]
    assert sink.messages() == []
