"""Commands of any state and of login: CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN,
AUTHENTICATE (RFC 3501 §6.1-6.2, RFC 4959 SASL-IR, RFC 2971 ID), ENABLE (RFC 5161)."""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode

from mailserver.imap.protocol import Atom, Command, RawLine, continuation, untagged, untagged_status
from mailserver.imap.protocol.values import ImapValue
from mailserver.imap.session import CommandFailed, ImapSession, Ok, State
from policy import rules
from policy.model import Decision, Verdict


def text_arg(value: object, what: str) -> str:
    """An astring argument as text (atoms and strings alike)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise CommandFailed(f"{what} must be UTF-8", status="BAD") from None
    if isinstance(value, str):
        return str(value)
    raise CommandFailed(f"Expected {what}", status="BAD")


def arity(command: Command, low: int, high: int | None = None) -> list[ImapValue]:
    high = low if high is None else high
    if not low <= len(command.args) <= high:
        raise CommandFailed(f"Wrong number of arguments to {command.name}", status="BAD")
    return list(command.args)


async def capability(session: ImapSession, command: Command) -> Ok:
    from mailserver.imap.commands import capabilities

    arity(command, 0)
    await session.send(untagged(Atom("CAPABILITY"), *[Atom(c) for c in capabilities(session)]))
    return Ok("CAPABILITY completed")


async def noop(session: ImapSession, command: Command) -> Ok:
    return Ok("NOOP completed")


async def logout(session: ImapSession, command: Command) -> Ok:
    arity(command, 0)
    await session.send(untagged_status("BYE", "Logging out"))
    session.state = State.LOGOUT
    return Ok("LOGOUT completed")


async def id_command(session: ImapSession, command: Command) -> Ok:
    """RFC 2971: record what the client says it is (useful to operators), say who we are."""
    (params,) = arity(command, 1)
    if isinstance(params, list) and params:
        pairs = [text_arg(v, "ID value") if v is not None else "" for v in params]
        client = dict(zip(pairs[::2], pairs[1::2], strict=False))
        name = client.get("name", "")[:64]
        version = client.get("version", "")[:32]
        session.log("id", detail=f"{name} {version}".strip())
    await session.send(untagged(Atom("ID"), ["name", "mailserver", "vendor", "mailserver"]))
    return Ok("ID completed")


async def enable(session: ImapSession, command: Command) -> Ok:
    """RFC 5161: nothing here needs enabling yet; answer with what was enabled (nothing)."""
    if not command.args:
        raise CommandFailed("ENABLE needs capability names", status="BAD")
    await session.send(untagged(Atom("ENABLED")))
    return Ok("ENABLE completed")


async def starttls(session: ImapSession, command: Command) -> Ok:
    arity(command, 0)
    if session.encrypted:
        raise CommandFailed("TLS is already active", status="BAD")
    from mailserver.imap.protocol import tagged

    await session.send(tagged(command.tag, "OK", "Begin TLS negotiation now"))
    await session.start_tls()
    return Ok("", answered=True)


async def login(session: ImapSession, command: Command) -> Ok:
    """RFC 3501 §6.2.3; refused before TLS (LOGINDISABLED), RFC 5530 PRIVACYREQUIRED."""
    user, password = arity(command, 2)
    if not session.encrypted:
        raise CommandFailed("Use STARTTLS before LOGIN", code="PRIVACYREQUIRED")
    decision = await session.authenticate(
        text_arg(user, "user name"), text_arg(password, "password"), "LOGIN"
    )
    return await _login_result(session, decision)


async def authenticate(session: ImapSession, command: Command) -> Ok:
    """RFC 3501 §6.2.2 with SASL-IR (RFC 4959): PLAIN (RFC 4616) and LOGIN."""
    args = arity(command, 1, 2)
    mechanism = text_arg(args[0], "mechanism").upper()
    if not session.encrypted:
        raise CommandFailed("Use STARTTLS before AUTHENTICATE", code="PRIVACYREQUIRED")
    if mechanism == "PLAIN":
        initial = args[1] if len(args) == 2 else None
        response = await _sasl_response(session, initial, b"")
        parts = response.split(b"\0")
        if len(parts) != 3:
            raise CommandFailed("Malformed PLAIN response", status="BAD")
        authzid, user, password = parts
        if authzid and authzid != user:
            raise CommandFailed("Proxy authorisation is not allowed", code="AUTHORIZATIONFAILED")
    elif mechanism == "LOGIN":
        initial = args[1] if len(args) == 2 else None
        user = await _sasl_response(session, initial, b"Username:")
        password = await _sasl_response(session, None, b"Password:")
    else:
        raise CommandFailed(f"Unsupported mechanism {mechanism}", status="NO")
    try:
        user_text, password_text = user.decode("utf-8"), password.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandFailed("Credentials must be UTF-8", status="BAD") from None
    decision = await session.authenticate(user_text, password_text, mechanism)
    return await _login_result(session, decision)


async def _sasl_response(session: ImapSession, initial: object, challenge: bytes) -> bytes:
    """One client response: the SASL-IR initial response, or a `+` challenge and a line."""
    if initial is not None:
        text = text_arg(initial, "initial response")
        encoded = b"" if text == "=" else text.encode("ascii", "replace")
    else:
        await session.send(continuation(b64encode(challenge).decode()))
        event = await session.next_event(raw_line=True)
        assert isinstance(event, RawLine)
        encoded = event.data.strip()
        if encoded == b"*":
            raise CommandFailed("AUTHENTICATE cancelled", status="BAD")
    try:
        return b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise CommandFailed("Invalid base64", status="BAD") from None


async def _login_result(session: ImapSession, decision: Decision) -> Ok:
    services = session.ctx.services
    if decision.verdict is Verdict.ALLOW:
        if decision.access_ends is not None:
            # Memo 4.1: a departed user reads and backs up mail until access ends.
            for line in services.user_message(decision):
                await session.send(untagged_status("OK", line, code="ALERT"))
        from mailserver.imap.commands import capabilities

        caps = " ".join(capabilities(session))
        return Ok("Logged in", code=f"CAPABILITY {caps}")
    # The tagged text carries every configured language: webmail shows only that text.
    text = services.user_line(decision)
    if decision.verdict is Verdict.TEMPFAIL:
        raise CommandFailed(text, code="UNAVAILABLE")
    if decision.reason == rules.REASON_BAD_CREDENTIALS:
        raise CommandFailed(text, code="AUTHENTICATIONFAILED")
    if decision.reason == rules.REASON_MAILBOX_ELSEWHERE:
        # RFC 2221 login referral: clients that know it reconnect there, others show the text.
        raise CommandFailed(text, code=f"REFERRAL imap://{decision.params['host']}/")
    # Desktop clients (Thunderbird) pop up [ALERT] lines: one per language, as before.
    for line in services.user_message(decision):
        await session.send(untagged_status("OK", line, code="ALERT"))
    raise CommandFailed(text, code="CONTACTADMIN")
