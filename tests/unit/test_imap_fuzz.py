"""Fuzzing the IMAP command parser (h11 style): whole vs byte by byte, only protocol errors.

Properties:
- only `ImapProtocolError` escapes `next_event()`, whatever the bytes;
- feeding a stream whole, byte by byte, or in random chunks gives the same events;
- what the parser holds stays within max_line + max_literal_total (+1 for a CR);
- well-formed commands come out with exactly the arguments that were sent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailserver.imap.protocol import (
    NEED_DATA,
    Atom,
    Command,
    CommandParser,
    ContinuationNeeded,
    ImapProtocolError,
    LineTooLong,
    encode_value,
)
from mailserver.imap.protocol.values import ImapValue

LIMITS = {"max_line": 80, "max_literal": 40, "max_literals": 4, "max_discard": 400}
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Err:
    """A raised protocol error, recorded as a comparable event."""

    kind: str
    tag: str | None
    status: str
    code: str | None
    fatal: bool


def drain(parser: CommandParser, out: list[object]) -> bool:
    """Append events until NEED_DATA; False once a fatal error ends the stream."""
    while True:
        try:
            event = parser.next_event()
        except ImapProtocolError as err:
            out.append(Err(type(err).__name__, err.tag, err.status, err.code, err.fatal))
            if err.fatal:
                return False
            continue
        if event is NEED_DATA:
            return True
        out.append(event)


def feed(chunks: list[bytes], **limits: int) -> list[object]:
    parser = CommandParser(**(limits or LIMITS))
    out: list[object] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        if not drain(parser, out):
            break
        # bounded memory between reads: only a line's text plus literals are held
        assert parser.buffered <= parser.max_line + parser.max_literal_total + 1
    return out


def whole_and_pieces(data: bytes, cuts: list[int]) -> tuple[list[object], ...]:
    whole = feed([data])
    by_byte = feed([data[i : i + 1] for i in range(len(data))])
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    chunked = feed([data[a:b] for a, b in itertools.pairwise(bounds)])
    return whole, by_byte, chunked


# -- random bytes ------------------------------------------------------------------------------

NOISE = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [b"a1 ", b"NOOP", b"UID ", b"FETCH", b" ", b"(", b")", b'"', b"\\", b"{", b"}",
             b"{3}", b"{5+}", b"{0}", b"~{2+}", b"{50+}", b"{45}", b"{500+}", b"a1 X {50+}\r\n",
             b"a2 X {45}\r\n", b"\r\n", b"\n", b"\r", b"[", b"]", b"<0.5>",
             b"NIL", b"\x00", b"\xff", b"BODY[HEADER.FIELDS (A B)]", b"x" * 90, b"*", b"%"]
        ),
        max_size=60,
    ).map(b"".join),
)  # fmt: skip


@FUZZ
@given(NOISE, st.lists(st.integers(0, 10_000), max_size=6))
def test_random_bytes_only_raise_protocol_errors_and_chunking_does_not_matter(
    data: bytes, cuts: list[int]
) -> None:
    whole, by_byte, chunked = whole_and_pieces(data, cuts)
    assert whole == by_byte == chunked


# -- valid-ish command streams -----------------------------------------------------------------

ATOM_CHARS = st.sampled_from(list("abcXYZ019.:*,%\\$-_+]&'!#/<>"))
atoms = st.text(ATOM_CHARS, min_size=1, max_size=8).filter(lambda s: s.upper() != "NIL")
sections = st.sampled_from(
    [
        "BODY[]",
        "BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>",
        "BINARY[1.2]",
        "BODY[1.MIME]",
        "[Gmail]/x",
    ]
)


@dataclass(frozen=True)
class Lit:
    """A literal to send: sync or not, with its bytes."""

    data: bytes
    sync: bool


def values(depth: int = 2) -> st.SearchStrategy[object]:
    leaf = st.one_of(
        atoms.map(Atom),
        sections.map(Atom),
        st.none(),
        st.binary(max_size=12).filter(lambda b: not {0, 10, 13} & set(b)),
        st.builds(Lit, st.binary(max_size=12), st.booleans()),
    )  # fmt: skip
    if depth == 0:
        return leaf
    return st.one_of(leaf, st.lists(values(depth - 1), max_size=3))


def wire(value: object) -> bytes:
    """Client-side encoding: literals end the line, everything else as the serialiser does."""
    if isinstance(value, Lit):
        return b"{%d%s}\r\n" % (len(value.data), b"" if value.sync else b"+") + value.data
    if isinstance(value, list):
        return b"(" + b" ".join(wire(v) for v in value) + b")"
    if isinstance(value, bytes):  # always quoted: 8-bit and CTL other than CR/LF/NUL allowed
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return encode_value(value)  # type: ignore[arg-type]


def expected_args(value: object) -> ImapValue:
    if isinstance(value, Lit):
        return value.data
    if isinstance(value, list):
        return [expected_args(v) for v in value]
    return value  # type: ignore[return-value]


@st.composite
def commands(draw: st.DrawFn) -> tuple[bytes, Command, int]:
    tag = draw(st.text(st.sampled_from(list("aAbz019.")), min_size=1, max_size=5))
    name = draw(st.sampled_from(["NOOP", "FETCH", "APPEND", "LOGIN", "X-CMD"]))
    uid = draw(st.booleans()) and name == "FETCH"
    args = draw(st.lists(values(), max_size=4))
    head = f"{tag} {'UID ' if uid else ''}{name}".encode()
    data = b"".join([head, *(b" " + wire(a) for a in args), b"\r\n"])
    syncs = sum(1 for _ in _sync_literals(args))
    return data, Command(tag, name, uid, [expected_args(a) for a in args]), syncs


def _sync_literals(args: list[object]) -> Iterator[Lit]:
    for a in args:
        if isinstance(a, Lit) and a.sync:
            yield a
        elif isinstance(a, list):
            yield from _sync_literals(a)


@FUZZ
@given(st.lists(commands(), min_size=1, max_size=4))
def test_well_formed_commands_parse_to_what_was_sent(
    cmds: list[tuple[bytes, Command, int]],
) -> None:
    data = b"".join(c[0] for c in cmds)
    big = {"max_line": 4096, "max_literal": 4096}
    events = feed([data], **big)
    got = [e for e in events if not isinstance(e, ContinuationNeeded)]
    assert got == [c[1] for c in cmds]
    assert sum(isinstance(e, ContinuationNeeded) for e in events) == sum(c[2] for c in cmds)
    by_byte = feed([data[i : i + 1] for i in range(len(data))], **big)
    assert by_byte == events


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = b"".join(c[0] for c in draw(st.lists(commands(), min_size=1, max_size=4)))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(data)))
        if draw(st.booleans()) and pos < len(data):
            data = data[:pos] + data[pos + 1 :]
        else:
            junk = draw(
                st.sampled_from(
                    [
                        b"{",
                        b"}",
                        b"(",
                        b")",
                        b'"',
                        b"\r\n",
                        b"\xff",
                        b" ",
                        b"{9+}\r\n",
                        b"{41+}\r\n",
                        b"{999+}\r\n",
                    ]
                )
            )
            data = data[:pos] + junk + data[pos:]
    return data


@FUZZ
@given(mutated(), st.lists(st.integers(0, 10_000), max_size=6))
def test_mutated_commands_only_raise_protocol_errors(data: bytes, cuts: list[int]) -> None:
    whole, by_byte, chunked = whole_and_pieces(data, cuts)
    assert whole == by_byte == chunked


# -- resynchronisation -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(NOISE)
def test_parser_recovers_for_the_next_command_after_noise(noise: bytes) -> None:
    """After any garbage line (no literal announced), a clean command still parses."""
    noise = noise.replace(b"\n", b"").rstrip(b"}")
    events = feed([noise + b"\r\nzz9 NOOP\r\n"])
    assert events and events[-1] == Command("zz9", "NOOP", False, [])


def test_ten_mib_line_whole_and_chunked() -> None:
    line = b"a1 SEARCH " + b"x" * (10 * 1024 * 1024) + b"\r\na2 NOOP\r\n"
    limits = {"max_line": 65536, "max_literal": 1024}
    whole = feed([line], **limits)
    chunked = feed([line[i : i + 65536] for i in range(0, len(line), 65536)], **limits)
    assert whole == chunked
    assert whole[0] == Err("LineTooLong", "a1", "BAD", None, False)
    assert whole[1:] == [Command("a2", "NOOP", False, [])]
    assert LineTooLong.__name__ == whole[0].kind  # type: ignore[union-attr]


def test_overlong_line_ending_in_a_huge_literal_reads_the_same_however_fed() -> None:
    """Found by the fuzzer: a too-long line whose non-synchronising literal is too big to
    skip gave one fatal error when fed whole but two errors when fed byte by byte."""
    data = (
        b"0 NOOP BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> "
        b"BODY.PEEK[HEADER.FIELDS (F{999+}\r\nROM TO)]<0.100>\r\n"
    )
    whole, by_byte, chunked = whole_and_pieces(data, [])
    assert whole == by_byte == chunked
    assert [getattr(e, "kind", None) for e in whole] == ["LineTooLong", "LiteralTooLarge"]
