"""Outbound SMTP: hand one message to one destination for several recipients.

`deliver` is the SMTP client of the queue (RFC 5321 as the client side). It
tries the targets in order (the MX hosts by preference, or the smarthost) and
each target's addresses in order, until one of them takes the transaction,
and returns one `Outcome` per recipient. It never raises for an SMTP or
network problem: whatever goes wrong becomes a temporary or permanent outcome
that the queue records, retries or bounces.

Moving on to the next address/target (RFC 5321 5.1 "the SMTP client SHOULD
try at least two addresses" and 4.5.4.1) happens for anything that goes wrong
*before* the server accepted MAIL FROM:

* the connection fails or times out;
* the greeting is not 220: a 4xx greeting says the host cannot serve now; a
  5xx greeting (RFC 5321 3.1, 554) is treated the same, as Postfix does,
  because it is about that host and not about the message;
* EHLO and the HELO fallback are both refused;
* STARTTLS fails when TLS is required, or the TLS handshake fails (see below);
* AUTH is refused, impossible, or would have to be sent in clear;
* MAIL FROM is answered 4xx (a busy or greylisting host: another MX may take it).

A 5xx to MAIL FROM is final for all recipients. Once MAIL FROM is accepted the
attempt is final for this delivery: each RCPT reply classifies its recipient
(2xx accepted, 4xx temporary, 5xx permanent), and the reply to DATA or to the
end of data applies to every accepted recipient. A lost connection or a timeout
after MAIL FROM makes every recipient without a final answer temporary (the
queue retries later; RFC 5321 6.1 accepts the small risk of a duplicate when
the connection drops after the final dot). When every target failed, all
recipients are temporary with the last error.

TLS (RFC 3207). In "opportunistic" mode (RFC 7435) STARTTLS is used whenever
it is offered, without certificate checks unless a `tls_context` is given; a
STARTTLS refused with 4xx/5xx continues the same session in clear, and a
failed handshake is retried once on a new connection to the same address
without STARTTLS, as Postfix's "may" level does. In "required" mode a missing
STARTTLS, a refused one or a failed handshake (including a certificate that
does not verify for the target's name) is a session failure: the next address
or target is tried, and the final outcome is temporary ("4.7.4"/"4.7.5").

Credentials are only ever sent after a successful STARTTLS (RFC 4954 4:
PLAIN and LOGIN reveal the password); without TLS the session fails with a
temporary "4.7.0" before any AUTH command.

Before sending, a message larger than the server's declared SIZE (RFC 1870)
is permanent for all, and a non-ASCII address for a server without SMTPUTF8
(RFC 6531 3.2) is permanent for that address (for all, if it is the sender).

Codes: `Outcome.code` is the remote reply code, or None for failures decided
here (network errors, TLS, local checks). `Outcome.text` is the reply text as
the server sent it (so its enhanced status code, RFC 3463, stays in front);
texts made here start with an enhanced status code of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

log = logging.getLogger(__name__)

Kind = Literal["delivered", "temporary", "permanent"]
TlsPolicy = Literal["opportunistic", "required"]

# RFC 5321 4.5.3.2 gives no QUIT timeout; the outcomes are decided by then, so
# waiting the full command timeout for a polite goodbye would only delay the queue.
QUIT_TIMEOUT = 10.0
# RFC 5321 4.2.2 / 3.8: 421 means the server is closing the channel.
SERVICE_CLOSING = 421


@dataclass(frozen=True)
class Target:
    """One host to try: an MX host from the lookup, or the smarthost.

    `addresses` are tried in order on `port`; a host name among them is
    resolved by the operating system when connecting. `name` is the host's
    name: it is the TLS server name (SNI and certificate check) and what
    outcomes report as `remote`.
    """

    name: str
    addresses: tuple[str, ...]
    port: int


@dataclass(frozen=True)
class Outcome:
    """What became of one recipient in one delivery attempt."""

    recipient: str
    kind: Kind
    code: int | None  # the remote reply code; None when decided here
    text: str  # reply text with its enhanced status code, or a local explanation
    remote: str  # the target that answered (its name), "" if none was tried


class _SessionFailure(Exception):
    """The session ended before a transaction was accepted: try the next address."""

    def __init__(self, text: str, code: int | None = None, *, tls_failed: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        # The TLS handshake itself failed: opportunistic mode retries without STARTTLS.
        self.tls_failed = tls_failed


@dataclass(frozen=True)
class _Failure:
    """The last session failure, kept to report when every target failed."""

    text: str
    code: int | None
    remote: str


def classify(code: int) -> Kind:
    """The kind of a reply code (RFC 5321 4.2.1): 2yz done, 5yz permanent, else temporary.

    Codes that make no sense as a final answer (1yz, 3yz) are protocol errors and
    treated as temporary, so that the queue tries again rather than bounce.
    """
    if 200 <= code < 300:
        return "delivered"
    if 500 <= code < 600:
        return "permanent"
    return "temporary"


def reply_text(message: str) -> str:
    """One line for the log and DSNs from a (possibly multi-line) reply text.

    aiosmtplib joins the lines of a multi-line reply (RFC 5321 4.2.1) with "\\n"
    after removing the codes; they are joined with a space here.
    """
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def has_8bit(content: bytes) -> bool:
    """Whether the message has a byte above 127 (needs BODY=8BITMIME, RFC 6152)."""
    return not content.isascii()


def needs_smtputf8(address: str) -> bool:
    """Whether an address is non-ASCII and so needs SMTPUTF8 (RFC 6531 3.2)."""
    return not address.isascii()


def bad_address(address: str) -> bool:
    """Whether an address cannot be written on a command line at all (control characters)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in address) or "<" in address or ">" in address


def mail_parameters(
    extensions: Mapping[str, str], size: int, eight_bit: bool, smtputf8: bool
) -> list[str]:
    """The MAIL FROM parameters for what the server advertised (keys in lower case).

    SIZE= when SIZE is offered (RFC 1870 6), BODY=8BITMIME for 8-bit content when
    8BITMIME is offered (RFC 6152 2), SMTPUTF8 when the envelope needs it (RFC 6531
    3.4; the caller checked that it is offered). 8-bit content to a server without
    8BITMIME is sent as is without a BODY parameter: RFC 6152 would have us convert
    it to 7 bits, which changes the message and breaks signatures; practically every
    server accepts 8-bit data, and Postfix does the same when it cannot convert.
    """
    params: list[str] = []
    if "size" in extensions:
        params.append(f"SIZE={size}")
    if eight_bit and "8bitmime" in extensions:
        params.append("BODY=8BITMIME")
    if smtputf8:
        params.append("SMTPUTF8")
    return params


def size_limit(extensions: Mapping[str, str]) -> int | None:
    """The fixed maximum message size a server declared with SIZE (RFC 1870 4), if any."""
    value = extensions.get("size", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return None


def parse_smarthost(value: str, default_port: int = 25) -> Target:
    """A `Target` from "host", "host:port", "[host]", "[host]:port" or "[ipv6]:port".

    The default port is 25, as for Postfix's relayhost: a relay that wants
    submission says so with ":587" (RFC 6409; STARTTLS is used on either). The
    brackets of Postfix's syntax (no MX lookup) are accepted and dropped: a
    smarthost is never looked up by MX here. A bare IPv6 address needs brackets
    to carry a port.

    Raises ValueError for an empty value or a bad port.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty smarthost")
    port_text = ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host:
            raise ValueError(f"bad smarthost {value!r}: unbalanced brackets")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad smarthost {value!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text  # a name, an IPv4 address, or an IPv6 address without port
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"bad smarthost {value!r}: bad host")
    port = default_port
    if port_text or text.endswith(":"):
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad smarthost {value!r}: bad port {port_text!r}")
        port = int(port_text)
    return Target(name=host, addresses=(host,), port=port)


@functools.cache
def _default_context(verify: bool) -> ssl.SSLContext:
    """A client context, built once (loading the CA store is the expensive part)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:
        # RFC 7435: opportunistic security encrypts without authenticating the peer.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _describe(exc: BaseException) -> str:
    """An exception as one line of text (some have an empty str())."""
    text = reply_text(str(exc))
    return text or type(exc).__name__


async def deliver(
    targets: Sequence[Target],
    sender: str,
    recipients: Sequence[str],
    content: bytes,
    *,
    helo: str,
    tls: TlsPolicy,
    auth: tuple[str, str] | None = None,
    connect_timeout: float,
    command_timeout: float,
    tls_context: ssl.SSLContext | None = None,
) -> list[Outcome]:
    """Deliver `content` from `sender` ("" is the null sender) to `recipients`.

    Returns one Outcome per recipient, in the order given. `helo` is the name
    sent in EHLO/HELO. `connect_timeout` bounds the TCP connection and the wait
    for the greeting, `command_timeout` every later command (including the TLS
    handshake and the reply to the end of data). `tls_context` replaces the
    default client context (no verification in opportunistic mode, the system's
    CAs and the target's name in required mode). `auth` is (user, password) for
    AUTH PLAIN or LOGIN, sent only over TLS.

    The content is sent as is apart from what DATA requires (RFC 5321 4.5.2 dot
    stuffing, and aiosmtplib's normalising of bare CR or LF to CRLF and adding a
    final CRLF if missing; RFC 5321 2.3.8 forbids bare ones anyway).
    """
    delivery = _Delivery(
        sender=sender,
        content=content,
        helo=helo,
        tls=tls,
        auth=auth,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
        tls_context=tls_context,
    )
    return await delivery.run(targets, recipients)


@dataclass
class _Delivery:
    """The settings of one `deliver` call, shared by its sessions."""

    sender: str
    content: bytes
    helo: str
    tls: TlsPolicy
    auth: tuple[str, str] | None
    connect_timeout: float
    command_timeout: float
    tls_context: ssl.SSLContext | None

    async def run(self, targets: Sequence[Target], recipients: Sequence[str]) -> list[Outcome]:
        """Outcomes in the order of `recipients`; unusable addresses are refused here."""
        outcomes: dict[int, Outcome] = {}
        pending: list[int] = []
        for index, recipient in enumerate(recipients):
            if bad_address(self.sender):
                outcomes[index] = Outcome(
                    recipient, "permanent", None, "5.1.7 Bad sender address syntax", ""
                )
            elif bad_address(recipient):
                outcomes[index] = Outcome(
                    recipient, "permanent", None, "5.1.3 Bad destination address syntax", ""
                )
            else:
                pending.append(index)
        if pending:
            todo = [(index, recipients[index]) for index in pending]
            outcomes.update(await self._try_targets(targets, todo))
        return [outcomes[index] for index in range(len(recipients))]

    async def _try_targets(
        self, targets: Sequence[Target], todo: list[tuple[int, str]]
    ) -> dict[int, Outcome]:
        """RFC 5321 5.1: each target, each of its addresses, until one takes the transaction."""
        last = _Failure("4.4.4 No host to deliver to", None, "")
        for target in targets:
            for address in target.addresses:
                try:
                    try:
                        return await self._session(target, address, todo, starttls=True)
                    except _SessionFailure as failure:
                        if not (failure.tls_failed and self.tls == "opportunistic"):
                            raise
                        log.info("TLS failed with %s[%s], retrying in clear", target.name, address)
                        return await self._session(target, address, todo, starttls=False)
                except _SessionFailure as failure:
                    log.info("delivery to %s[%s] failed: %s", target.name, address, failure.text)
                    last = _Failure(failure.text, failure.code, target.name)
        return {
            index: Outcome(recipient, "temporary", last.code, last.text, last.remote)
            for index, recipient in todo
        }

    def _client(self, target: Target, address: str) -> aiosmtplib.SMTP:
        verify = self.tls == "required"
        return aiosmtplib.SMTP(
            hostname=address,
            port=target.port,
            local_hostname=self.helo,
            timeout=self.command_timeout,
            start_tls=False,  # STARTTLS is decided below, per policy
            tls_context=self.tls_context or _default_context(verify),
        )

    async def _session(
        self, target: Target, address: str, todo: list[tuple[int, str]], *, starttls: bool
    ) -> dict[int, Outcome]:
        """One connection to one address; raises _SessionFailure to move on."""
        where = f"{target.name}[{address}]:{target.port}"
        try:
            smtp = self._client(target, address)
        except ValueError as exc:  # e.g. whitespace in the HELO name
            raise _SessionFailure(f"4.3.5 Bad client settings: {_describe(exc)}") from exc
        stage = "connecting"
        tcp: asyncio.BaseTransport | None = None
        try:
            try:
                await smtp.connect(timeout=self.connect_timeout)
            except aiosmtplib.SMTPConnectResponseError as exc:
                # RFC 5321 3.1 / 4.3.2: 554 (or 4xx) instead of 220: try another host.
                raise _SessionFailure(reply_text(exc.message), exc.code) from exc
            tcp = smtp.transport
            stage = "EHLO"
            await self._hello(smtp)
            if starttls:
                stage = "STARTTLS"
                await self._starttls(smtp, target, where)
            if self.auth is not None:
                stage = "AUTH"
                await self._authenticate(smtp, where)
            stage = "MAIL FROM"
            return await self._transaction(smtp, target, where, todo)
        except _SessionFailure:
            raise
        except aiosmtplib.SMTPTimeoutError as exc:
            code = "4.4.1" if stage == "connecting" else "4.4.2"
            raise _SessionFailure(f"{code} Timed out {_while(stage)} {where}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            # An unexpected reply outside the steps above, e.g. a malformed one.
            raise _SessionFailure(
                f"4.4.2 Unexpected reply {_while(stage)} {where}: {reply_text(exc.message)}",
                exc.code if 100 <= exc.code < 600 else None,
            ) from exc
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            code = "4.4.1" if stage == "connecting" else "4.4.2"
            raise _SessionFailure(f"{code} {_describe(exc)} ({_while(stage)} {where})") from exc
        finally:
            smtp.close()
            # Closing a TLS transport only starts the TLS shutdown, which closes the TCP
            # connection when the peer answers. The SMTP dialogue is over (QUIT, or a
            # failure): close the connection now rather than leave it to the peer.
            if tcp is not None and not tcp.is_closing():
                tcp.close()

    async def _hello(self, smtp: aiosmtplib.SMTP) -> None:
        """EHLO, or HELO if EHLO is refused (RFC 5321 3.2, 4.1.4)."""
        try:
            await smtp.ehlo()
            return
        except aiosmtplib.SMTPHeloError as exc:
            if exc.code == SERVICE_CLOSING or not smtp.is_connected:
                raise _SessionFailure(reply_text(exc.message), exc.code) from exc
        try:
            await smtp.helo()
        except aiosmtplib.SMTPHeloError as exc:
            raise _SessionFailure(reply_text(exc.message), exc.code) from exc

    async def _starttls(self, smtp: aiosmtplib.SMTP, target: Target, where: str) -> None:
        """STARTTLS (RFC 3207) if offered; what a failure means depends on the policy."""
        required = self.tls == "required"
        if not smtp.supports_extension("starttls"):
            if required:
                raise _SessionFailure(f"4.7.4 TLS is required but {where} does not offer STARTTLS")
            return
        try:
            await smtp.starttls(server_hostname=target.name, timeout=self.command_timeout)
        except aiosmtplib.SMTPResponseException as exc:
            # RFC 3207 4: a 454 leaves the session usable in clear.
            if required or exc.code == SERVICE_CLOSING or not smtp.is_connected:
                raise _SessionFailure(
                    f"4.7.4 STARTTLS refused by {where}: {reply_text(exc.message)}", exc.code
                ) from exc
            log.info("STARTTLS refused by %s, continuing in clear", where)
            return
        except (
            ssl.SSLError,
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
        ) as exc:
            raise _SessionFailure(
                f"4.7.5 TLS handshake with {where} failed: {_describe(exc)}", tls_failed=True
            ) from exc
        sslobject = smtp.get_transport_info("ssl_object")
        log.debug("TLS with %s: %s", where, sslobject.version() if sslobject else "?")
        # RFC 3207 4.2: forget what was learnt in clear and ask again.
        await self._hello(smtp)

    async def _authenticate(self, smtp: aiosmtplib.SMTP, where: str) -> None:
        """AUTH PLAIN or LOGIN (RFC 4954, 4616), only inside TLS."""
        assert self.auth is not None
        if smtp.get_transport_info("sslcontext") is None:
            raise _SessionFailure(f"4.7.0 Refusing to send credentials to {where} without TLS")
        methods = smtp.server_auth_methods
        username, password = self.auth
        try:
            if "plain" in methods:
                await smtp.auth_plain(username, password)
            elif "login" in methods:
                await smtp.auth_login(username, password)
            else:
                raise _SessionFailure(
                    f"4.7.0 {where} offers no AUTH mechanism we use (PLAIN, LOGIN)"
                )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise _SessionFailure(reply_text(exc.message), exc.code) from exc

    async def _transaction(
        self,
        smtp: aiosmtplib.SMTP,
        target: Target,
        where: str,
        todo: list[tuple[int, str]],
    ) -> dict[int, Outcome]:
        """MAIL, RCPT for each recipient, DATA, QUIT (RFC 5321 3.3)."""
        remote = target.name
        extensions = smtp.esmtp_extensions
        utf8_offered = "smtputf8" in extensions

        def each(kind: Kind, code: int | None, text: str) -> dict[int, Outcome]:
            return {index: Outcome(rcpt, kind, code, text, remote) for index, rcpt in todo}

        # RFC 6531 3.2: a non-ASCII envelope cannot go to a server without SMTPUTF8.
        if needs_smtputf8(self.sender) and not utf8_offered:
            await self._quit(smtp)
            return each("permanent", None, f"5.6.7 {where} does not support SMTPUTF8")
        # RFC 1870 6.1: do not send what the server declared too large.
        limit = size_limit(extensions)
        if limit is not None and len(self.content) > limit:
            await self._quit(smtp)
            return each(
                "permanent",
                None,
                f"5.3.4 Message size {len(self.content)} exceeds the limit {limit} of {where}",
            )
        sendable = [
            (index, rcpt) for index, rcpt in todo if utf8_offered or not needs_smtputf8(rcpt)
        ]
        if not sendable:
            await self._quit(smtp)
            return each("permanent", None, f"5.6.7 {where} does not support SMTPUTF8")
        smtputf8 = needs_smtputf8(self.sender) or any(needs_smtputf8(r) for _, r in sendable)
        encoding = "utf-8" if smtputf8 else "ascii"
        params = mail_parameters(extensions, len(self.content), has_8bit(self.content), smtputf8)

        reply = await smtp.execute_command(
            b"MAIL",
            f"FROM:<{self.sender}>".encode(encoding),
            *(p.encode("ascii") for p in params),
        )
        kind = classify(reply.code)
        if kind == "temporary":
            raise _SessionFailure(reply_text(reply.message), reply.code)
        if kind == "permanent":
            await self._quit(smtp)
            return each("permanent", reply.code, reply_text(reply.message))

        # From here on the transaction is this target's: no more trying elsewhere.
        outcomes: dict[int, Outcome] = {}
        for index, rcpt in todo:
            if (index, rcpt) not in sendable:
                text = f"5.6.7 {where} does not support SMTPUTF8 for a non-ASCII address"
                outcomes[index] = Outcome(rcpt, "permanent", None, text, remote)
        accepted: list[tuple[int, str]] = []
        stage = "RCPT TO"
        try:
            for index, rcpt in sendable:
                reply = await smtp.execute_command(b"RCPT", f"TO:<{rcpt}>".encode(encoding))
                if reply.code == SERVICE_CLOSING:
                    # RFC 5321 3.8: the server is going away; what is not final is retried.
                    return self._fill(outcomes, todo, remote, reply_text(reply.message), 421)
                kind = classify(reply.code)
                if kind == "delivered":
                    accepted.append((index, rcpt))
                else:
                    outcomes[index] = Outcome(
                        rcpt, kind, reply.code, reply_text(reply.message), remote
                    )
            if accepted:  # RFC 5321 3.3: no DATA without an accepted recipient
                stage = "DATA"
                outcomes.update(await self._data(smtp, accepted, remote))
            await self._quit(smtp)
            return outcomes
        except aiosmtplib.SMTPTimeoutError:
            text = f"4.4.2 Timed out {_while(stage)} {where}"
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            text = f"4.4.2 {_describe(exc)} ({_while(stage)} {where})"
        log.info("delivery to %s broke off: %s", where, text)
        return self._fill(outcomes, todo, remote, text)

    async def _data(
        self, smtp: aiosmtplib.SMTP, accepted: list[tuple[int, str]], remote: str
    ) -> dict[int, Outcome]:
        """DATA and the content; the reply (to DATA or to the final dot) is for all accepted."""
        try:
            reply = await smtp.data(self.content)
        except aiosmtplib.SMTPDataError as exc:
            kind = classify(exc.code)
            text = reply_text(exc.message)
            if kind == "delivered":  # a 2xx where 354 was due: a protocol error
                kind = "temporary"
                text = f"4.5.0 Unexpected reply to DATA: {exc.code} {text}"
            return {index: Outcome(rcpt, kind, exc.code, text, remote) for index, rcpt in accepted}
        text = reply_text(reply.message)
        return {
            index: Outcome(rcpt, "delivered", reply.code, text, remote) for index, rcpt in accepted
        }

    @staticmethod
    def _fill(
        outcomes: dict[int, Outcome],
        todo: list[tuple[int, str]],
        remote: str,
        text: str,
        code: int | None = None,
    ) -> dict[int, Outcome]:
        """`outcomes` plus a temporary one (`text`) for each recipient without a final answer."""
        for index, rcpt in todo:
            if index not in outcomes:
                outcomes[index] = Outcome(rcpt, "temporary", code, text, remote)
        return outcomes

    async def _quit(self, smtp: aiosmtplib.SMTP) -> None:
        """QUIT (RFC 5321 4.1.1.10); its failure changes nothing."""
        if not smtp.is_connected:
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit(timeout=min(QUIT_TIMEOUT, self.command_timeout))


def _while(stage: str) -> str:
    """Words for where a session was when it failed."""
    return "connecting to" if stage == "connecting" else f"during {stage} with"
