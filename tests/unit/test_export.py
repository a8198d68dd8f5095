"""`mailserver export`: the archive read back with Python's tarfile + mailbox, byte for byte.

The mailbox holds the test corpus (tests/corpus/, the same files test_imap_mime.py
uses) spread over INBOX, special-use folders and Thai folder names,
with flags and keywords; the archive must give every message back unchanged (mbox:
modulo the mboxrd From_ quoting and the Status / X-Status / X-Keywords fields that
carry the flags) with its flags and INTERNALDATE.
"""

from __future__ import annotations

import collections
import io
import json
import mailbox
import re
import tarfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailserver import cli
from mailserver.backup import export as export_mod
from mailserver.backup import mbox
from mailserver.backup.export import ExportError, archive_path, export_mailbox
from mailserver.backup.progress import Progress
from mailserver.store.files import to_disk
from mailserver.store.flags import LETTER_TO_FLAG
from mailserver.store.mailstore import MailStore, UserStore
from tests.archives import extract_archive
from tests.corpus import own_messages

CORPUS_FILES = own_messages()
LOGIN = "somchai.k@bangkok.go.th"
FOLDERS = ["INBOX", "Sent", "โครงการ", "โครงการ/งบประมาณ 2567", "Projects/cur"]
FLAG_SETS: list[frozenset[str]] = [
    frozenset(),
    frozenset({"\\Seen"}),
    frozenset({"\\Seen", "\\Flagged", "$Junk"}),
    frozenset({"\\Answered", "\\Draft", "$Forwarded", "Project-X"}),
    frozenset({"\\Seen", "\\Deleted"}),
]
FLAG_FIELDS = re.compile(rb"^(status|x-status|x-keywords):", re.IGNORECASE)
BASE_DATE = datetime(2023, 1, 15, 8, 30, 0, tzinfo=UTC)

# (folder, content as stored, flags, internaldate, delivered to new/ without flags)
Expected = dict[str, collections.Counter[tuple[bytes, frozenset[str]]]]


def test_the_corpus_is_there() -> None:
    assert len(CORPUS_FILES) > 50


@pytest.fixture
def filled(tmp_path: Path) -> tuple[UserStore, Expected, dict[bytes, set[datetime]]]:
    """A mailbox with every corpus message, Thai folders, flags, keywords and dates."""
    store = MailStore(tmp_path / "mail", hostname="mx1.test")
    user = store.user(LOGIN)
    user.ensure_created()
    for name in FOLDERS[1:]:
        if name != "Sent":
            user.create(name)
    expected: Expected = {name: collections.Counter() for name in FOLDERS}
    dates: dict[bytes, set[datetime]] = collections.defaultdict(set)
    for i, path in enumerate(CORPUS_FILES):
        folder = FOLDERS[i % len(FOLDERS)]
        flags = FLAG_SETS[(i // len(FOLDERS)) % len(FLAG_SETS)]
        content = path.read_bytes()
        date = BASE_DATE + timedelta(days=i, seconds=i)
        if folder == "INBOX" and not flags:
            # Delivered like mail from the queue: lands in new/ (\Recent), mtime = now.
            stored = store.deliver(LOGIN, content)
            date = datetime.fromtimestamp(stored.stat().st_mtime, UTC)
        else:
            user.append(folder, content, flags=flags, internaldate=date)
        expected[folder][(to_disk(content), flags)] += 1
        dates[to_disk(content)].add(date)
    # Envelope sender from Return-Path, and From_ lines inside the message.
    tricky = (
        b"Return-Path: <leaver@bangkok.go.th>\r\nFrom: x@y\r\nSubject: quoting\r\n\r\n"
        b"From the start\r\n>From one\r\n>>From two\r\nFromage\r\n From space\r\n"
    )
    user.append("Sent", tricky, flags=["\\Seen"], internaldate=BASE_DATE)
    expected["Sent"][(to_disk(tricky), frozenset({"\\Seen"}))] += 1
    dates[to_disk(tricky)].add(BASE_DATE)
    return user, expected, dates


def _extract(archive: Path, into: Path) -> Path:
    extract_archive(archive, into)
    return into / LOGIN


def _maildir_flags(letters: str, keywords: dict[str, str]) -> frozenset[str]:
    flags = set()
    for letter in letters:
        if letter in LETTER_TO_FLAG:
            flags.add(LETTER_TO_FLAG[letter])
        elif letter in keywords:
            flags.add(keywords[letter])
    return frozenset(flags)


def test_maildir_archive_gives_every_message_back(
    filled: tuple[UserStore, Expected, dict[bytes, set[datetime]]], tmp_path: Path
) -> None:
    user, expected, dates = filled
    archive = tmp_path / "backup.tar.gz"
    result = export_mailbox(user, "maildir", archive)
    total = sum(sum(c.values()) for c in expected.values())
    assert (result.messages, result.vanished) == (total, 0)
    assert result.folders == len(user.list_mailboxes())
    top = _extract(archive, tmp_path / "out")
    # Folder names are UTF-8 paths; levels are directories.
    assert (top / "โครงการ" / "งบประมาณ 2567" / "cur").is_dir()
    assert (top / "Projects" / "cur.folder" / "new").is_dir()
    for name, wanted in expected.items():
        path = top / archive_path(name)
        keywords = {}
        kw_file = path / "dovecot-keywords"
        if kw_file.exists():
            for line in kw_file.read_text().splitlines():
                index, _, word = line.partition(" ")
                keywords[chr(ord("a") + int(index))] = word
        box = mailbox.Maildir(path, factory=None, create=False)
        found: collections.Counter[tuple[bytes, frozenset[str]]] = collections.Counter()
        for key in box.iterkeys():
            message = box.get_message(key)
            content = box.get_bytes(key)
            found[(content, _maildir_flags(message.get_flags(), keywords))] += 1
            # INTERNALDATE travels as the file's mtime.
            assert int(message.get_date()) in {int(d.timestamp()) for d in dates[content]}
        assert found == wanted, name
    # Messages nobody has seen yet stay in new/.
    inbox = mailbox.Maildir(top / "INBOX", factory=None, create=False)
    assert any(inbox.get_message(k).get_subdir() == "new" for k in inbox.iterkeys())


def _split_header(data: bytes) -> tuple[list[bytes], bytes]:
    lines = data.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line in (b"\n", b"\r\n"):
            return lines[:i], b"".join(lines[i:])
    return lines, b""


def _without_flag_fields(data: bytes) -> bytes:
    head, body = _split_header(data)
    kept: list[bytes] = []
    dropping = False
    for line in head:
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        dropping = bool(FLAG_FIELDS.match(line))
        if not dropping:
            kept.append(line)
    return b"".join(kept) + body


def _flags_from_fields(data: bytes) -> frozenset[str]:
    head, _ = _split_header(data)
    fields = {}
    for line in head:
        match = FLAG_FIELDS.match(line)
        if match:
            fields[match.group(1).lower()] = line.partition(b":")[2].strip().decode()
    status, x_status = fields.get(b"status", ""), fields.get(b"x-status", "")
    flags = {"\\Seen"} if "R" in status else set()
    for letter, flag in (("A", "\\Answered"), ("F", "\\Flagged"), ("T", "\\Draft")):
        if letter in x_status:
            flags.add(flag)
    if "D" in x_status:
        flags.add("\\Deleted")
    flags.update(fields.get(b"x-keywords", "").split())
    return frozenset(flags)


def _unquote(data: bytes) -> bytes:
    return re.sub(rb"(?m)^>(>*From )", rb"\1", data)


def test_mbox_archive_gives_every_message_back(
    filled: tuple[UserStore, Expected, dict[bytes, set[datetime]]], tmp_path: Path
) -> None:
    user, expected, dates = filled
    archive = tmp_path / "backup.tar.gz"
    result = export_mailbox(user, "mbox", archive)
    assert result.messages == sum(sum(c.values()) for c in expected.values())
    top = _extract(archive, tmp_path / "out")
    assert (top / "โครงการ" / "งบประมาณ 2567.mbox").is_file()
    assert (top / "Projects" / "cur.mbox").is_file()
    for name, wanted in expected.items():
        box = mailbox.mbox(top / f"{archive_path(name, maildir=False)}.mbox", create=False)
        # The message's own Status fields, if any, are replaced: compare without them.
        originals = {_without_flag_fields(content): content for content, _ in wanted}
        found: collections.Counter[tuple[bytes, frozenset[str]]] = collections.Counter()
        for key in box.iterkeys():
            exported = box.get_bytes(key)
            content = _without_flag_fields(_unquote(exported))
            if content not in originals and content[:-1] in originals:
                content = content[:-1]  # the newline added to a message that had none
            assert content in originals, f"{name}: message {key} differs from every original"
            original = originals[content]
            found[(original, _flags_from_fields(exported))] += 1
            sender, _, stamp = box.get_message(key).get_from().partition(" ")
            assert stamp in {time.asctime(time.gmtime(d.timestamp())) for d in dates[original]}
            if original.startswith(b"Return-Path: <leaver@"):
                assert sender == "leaver@bangkok.go.th"
        assert found == wanted, name
    sent = (top / "Sent.mbox").read_bytes()
    assert b"\n>From the start\n>>From one\n>>>From two\nFromage\n From space\n" in sent


def test_an_existing_archive_is_kept_unless_forced(
    filled: tuple[UserStore, Expected, dict[bytes, set[datetime]]], tmp_path: Path
) -> None:
    user, _, _ = filled
    archive = tmp_path / "backup.tar.gz"
    archive.write_bytes(b"precious")
    with pytest.raises(ExportError, match="exists"):
        export_mailbox(user, "mbox", archive)
    assert archive.read_bytes() == b"precious"
    export_mailbox(user, "mbox", archive, force=True)
    assert tarfile.is_tarfile(archive)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_failure_leaves_no_half_archive(
    filled: tuple[UserStore, Expected, dict[bytes, set[datetime]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user, _, _ = filled
    calls = 0
    real = export_mod.TarStream.add_file

    def failing(self: export_mod.TarStream, *args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise OSError(28, "No space left on device")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(export_mod.TarStream, "add_file", failing)
    out = tmp_path / "exports"
    out.mkdir()
    for fmt in ("maildir", "mbox"):
        calls = 0
        with pytest.raises(OSError, match="No space"):
            export_mailbox(user, fmt, out / "backup.tar.gz")
        assert list(out.iterdir()) == [], "no archive, no temporary file, no spool"


def test_export_streams_big_messages(tmp_path: Path) -> None:
    """A 24 MiB message goes through in chunks: peak Python memory stays far below it."""
    store = MailStore(tmp_path / "mail", hostname="mx1.test")
    user = store.user(LOGIN)
    line = b"A" * 75 + b"\r\n"
    big = b"Subject: big\r\n\r\n" + line * (24 * 2**20 // len(line))
    user.append("INBOX", big, flags=["\\Seen"])
    for fmt in ("maildir", "mbox"):
        tracemalloc.start()
        try:
            export_mailbox(user, fmt, tmp_path / f"{fmt}.tar.gz")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 6 * 2**20, f"{fmt}: peak {peak / 2**20:.1f} MiB"


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    user = MailStore(tmp_path / "mail", hostname="h").user(LOGIN)
    with pytest.raises(ExportError, match="unknown format"):
        export_mailbox(user, "pst", tmp_path / "x.tar.gz")


def test_archive_path_keeps_levels_and_avoids_maildir_names() -> None:
    assert archive_path("INBOX") == "INBOX"
    assert archive_path("โครงการ/งาน") == "โครงการ/งาน"
    assert archive_path("cur") == "cur"
    assert archive_path("a/new/tmp") == "a/new.folder/tmp.folder"
    assert archive_path("a/new/tmp", maildir=False) == "a/new/tmp"


# --- one message in mboxrd form -------------------------------------------------------


def _mbox(content: bytes, flags: frozenset[str] = frozenset(), recent: bool = False) -> bytes:
    out = io.BytesIO()
    written = mbox.write_message(
        out, io.BytesIO(content), internaldate=BASE_DATE, flags=flags, recent=recent
    )
    assert written == len(out.getvalue())
    return out.getvalue()


def test_from_line_quoting_is_mboxrd() -> None:
    data = _mbox(b"Subject: q\n\nFrom a\n>From b\n>>From c\nFrom\nFromage\n From d\n")
    assert data.split(b"\n", 1)[1] == (
        b"Subject: q\nStatus: O\n\n>From a\n>>From b\n>>>From c\nFrom\nFromage\n From d\n\n"
    )


def test_from_line_of_a_message_that_starts_with_one() -> None:
    data = _mbox(b"From someone@example.com Mon Jan 1 00:00:00 2001\nSubject: s\n\nbody\n")
    lines = data.split(b"\n")
    assert lines[0] == b"From MAILER-DAEMON Sun Jan 15 08:30:00 2023"
    assert lines[1] == b">From someone@example.com Mon Jan 1 00:00:00 2001"


@pytest.mark.parametrize(
    ("field", "sender"),
    [
        (b"Return-Path: <a.b@example.com>\n", "a.b@example.com"),
        (b"Return-Path: <>\n", "MAILER-DAEMON"),
        (b"return-path:\n <folded@example.com>\n", "folded@example.com"),
        (b"Return-Path: bare@example.com\n", "bare@example.com"),
        (b"Return-Path: <with space@example.com>\n", "MAILER-DAEMON"),
        (b"", "MAILER-DAEMON"),
    ],
)
def test_envelope_sender(field: bytes, sender: str) -> None:
    data = _mbox(b"Subject: s\n" + field + b"\nbody\n")
    assert data.startswith(f"From {sender} ".encode())


def test_flags_replace_the_messages_own_status_fields() -> None:
    content = b"Subject: s\r\nStatus: RO\r\nX-Keywords: old\r\n  folded\r\nX-Status: D\r\n\r\nb\r\n"
    flags = frozenset({"\\Seen", "\\Answered", "\\Flagged", "$Forwarded", "Project-X"})
    data = _mbox(content, flags)
    assert data.split(b"\n", 1)[1] == (
        b"Subject: s\r\nStatus: RO\r\nX-Status: AF\r\nX-Keywords: $Forwarded Project-X\r\n"
        b"\r\nb\r\n\n"
    )
    assert _mbox(b"Subject: s\n\nb\n", recent=True).count(b"Status") == 0
    # A header the message ends inside still carries the flags.
    assert _mbox(b"Subject: s\nX: b", frozenset({"\\Seen"})).split(b"\n", 1)[1] == (
        b"Subject: s\nX: b\nStatus: RO\n\n"
    )


def test_a_message_without_final_newline_gets_one() -> None:
    assert _mbox(b"Subject: s\n\nno newline").endswith(b"\n\nno newline\n\n")
    assert _mbox(b"Subject: only a header\n").endswith(b"Subject: only a header\nStatus: O\n\n")


# --- progress and the command ------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    terminal = _Terminal()
    bar = Progress.for_stream(terminal, 10, 10 * 2**20)
    bar.advance(5, 5 * 2**20)
    assert "5/10 messages, 5.0/10.0 MiB" in terminal.getvalue()
    bar.finish()
    assert terminal.getvalue().endswith("\r")
    quiet = io.StringIO()
    Progress.for_stream(quiet, 10, 10).advance(5, 5)
    assert quiet.getvalue() == ""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "mailserver.toml"
    path.write_text(
        f'[server]\ndata_dir = "{tmp_path / "var"}"\n'
        "[auth]\nargon2_memory_kib = 1024\nargon2_time_cost = 1\n",
        encoding="utf-8",
    )
    return path


def test_export_command_logs_the_admin_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-good-password\n"))
    assert cli.main(["--config", str(config), "account", "add", LOGIN, "--password-stdin"]) == 0
    assert (
        cli.main(["--config", str(config), "account", "depart", LOGIN, "--date", "2026-01-15"]) == 0
    )
    store = MailStore(tmp_path / "var" / "mail", hostname="h")
    store.deliver(LOGIN, b"Subject: secret content\r\n\r\nconfidential\r\n")
    capsys.readouterr()
    archive = tmp_path / "leaver.tar.gz"
    args = ["--config", str(config), "export", LOGIN, "--format", "mbox", "-o", str(archive)]
    assert cli.main([*args, "--actor", "admin.niran"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("exported 1 messages in 1 folders, 0.0 MiB -> ")
    log = (tmp_path / "var" / "log" / "policy.log").read_text(encoding="utf-8")
    record = [json.loads(line) for line in log.splitlines()][-1]
    assert record["event"] == "admin" and record["action"] == "export"
    assert (record["actor"], record["account"], record["format"]) == ("admin.niran", LOGIN, "mbox")
    assert (record["messages"], record["status"]) == (1, "departed")
    assert "secret" not in log and "confidential" not in log
    # Not twice over the same file; --quiet prints nothing.
    assert cli.main(args) == 1
    assert "exists" in capsys.readouterr().err
    assert cli.main([*args, "--force", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    unknown = ["--config", str(config), "export", "nobody@bangkok.go.th", "--format", "mbox"]
    assert cli.main([*unknown, "-o", str(tmp_path / "n.tar.gz")]) == 1
    assert "no account" in capsys.readouterr().err
