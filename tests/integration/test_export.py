"""Memo 4.1, a leaver's backup, against the real server: `mailserver export` of a departed
account's mailbox (corpus messages, Thai folder names, flags) read back with tarfile +
mailbox and compared with what IMAP serves; mbsync copying every folder of a departed
account in grace; neomutt opening the exported mbox."""

from __future__ import annotations

import collections
import datetime as dt
import mailbox
import re
import shlex
import subprocess
from pathlib import Path

from mailserver import mutf7
from tests.archives import extract_archive
from tests.corpus import own_messages
from tests.integration.conftest import MailServer, require_tool
from tests.integration.test_imap_clients import mbsync_config, run_mbsync
from tests.integration.test_imap_messages import BOB, imap_client, send, thai_message

FOLDERS = ["INBOX", "Sent", "Drafts", "โครงการ", "โครงการ/งบประมาณ 2567", "Projects/2024"]
FLAG_SETS = [
    (),
    (b"\\Seen",),
    (b"\\Seen", b"\\Flagged"),
    (b"\\Answered",),
    (b"\\Seen", b"$Forwarded", b"Project-X"),
]
Snapshot = dict[str, collections.Counter[tuple[bytes, frozenset[str]]]]


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def fill_mailbox(server: MailServer, *, deleted: bool = True) -> int:
    """Bob's mailbox: mail delivered by SMTP, the corpus (tests/corpus/) appended over
    several folders (Thai and nested names) with flags and dates.  Returns the count."""
    delivered = 3
    for n in range(delivered):
        send(server, thai_message(subject=f"delivered {n}"))
    files = own_messages()
    assert len(files) > 50
    client = imap_client(server)
    for name in FOLDERS[3:]:
        client.create_folder(name)
    start = dt.datetime(2023, 1, 15, 8, 30, tzinfo=dt.UTC)
    for i, path in enumerate(files):
        flags = FLAG_SETS[i % len(FLAG_SETS)]
        if deleted and i % 17 == 0:
            flags = (*flags, b"\\Deleted")
        folder = FOLDERS[i % len(FOLDERS)]
        when = start + dt.timedelta(days=i, minutes=i)
        client.append(folder, crlf(path.read_bytes()), flags=flags, msg_time=when)
    client.logout()
    return delivered + len(files)


def as_imap_sends(data: bytes) -> bytes:
    """A message as BODY[] carries it: NUL is not allowed in a literal (RFC 3501 §4.3), so
    the server sends 0x80 instead; the archive keeps the real octet."""
    return data.replace(b"\x00", b"\x80")


def depart_yesterday(server: MailServer, login: str = BOB) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    server.cli("account", "depart", login, "--date", yesterday.isoformat())


def imap_snapshot(server: MailServer) -> Snapshot:
    """Every folder's messages as IMAP serves them: (content with LF ends, flags)."""
    client = imap_client(server)
    result: Snapshot = {}
    for _, _, name in client.list_folders():
        client.select_folder(name, readonly=True)
        found: collections.Counter[tuple[bytes, frozenset[str]]] = collections.Counter()
        uids = client.search("ALL")
        if uids:
            for data in client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]).values():
                flags = frozenset(f.decode() for f in data[b"FLAGS"] if f != b"\\Recent")
                found[(lf(data[b"BODY[]"]), flags)] += 1
        result[name] = found
    client.logout()
    return result


def export(server: MailServer, fmt: str, out: Path) -> Path:
    archive = out / f"bob-{fmt}.tar.gz"
    result = server.cli("export", BOB, "--format", fmt, "-o", str(archive), "--actor", "admin")
    assert result.stdout.startswith("exported "), result.stdout + result.stderr
    target = out / fmt
    extract_archive(archive, target)
    return target / BOB


def maildir_flags(letters: str, keywords: dict[str, str]) -> frozenset[str]:
    names = {"D": "\\Draft", "F": "\\Flagged", "P": "$Forwarded", "R": "\\Answered"}
    names |= {"S": "\\Seen", "T": "\\Deleted"}
    return frozenset(names.get(c) or keywords[c] for c in letters)


def test_export_of_a_departed_account_gives_back_what_imap_serves(
    server: MailServer, tmp_path: Path
) -> None:
    count = fill_mailbox(server)
    depart_yesterday(server)
    top = export(server, "maildir", tmp_path)
    mbox_top = export(server, "mbox", tmp_path)
    expected = imap_snapshot(server)
    assert sum(sum(c.values()) for c in expected.values()) == count
    assert set(expected) >= set(FOLDERS)
    for name, wanted in expected.items():
        # Maildir: the same bytes, the flags in the names, keywords in dovecot-keywords.
        path = top.joinpath(*name.split("/"))
        keywords = {}
        if (path / "dovecot-keywords").exists():
            for line in (path / "dovecot-keywords").read_text().splitlines():
                index, _, word = line.partition(" ")
                keywords[chr(ord("a") + int(index))] = word
        box = mailbox.Maildir(path, factory=None, create=False)
        found: collections.Counter[tuple[bytes, frozenset[str]]] = collections.Counter()
        for key in box.iterkeys():
            flags = maildir_flags(box.get_message(key).get_flags(), keywords)
            found[(as_imap_sends(box.get_bytes(key)), flags)] += 1
        assert found == wanted, f"maildir {name}"
        # mbox: the same messages, modulo the mboxrd quoting and the flag fields.
        mbox_file = mbox_top.joinpath(*name.split("/")).with_name(name.split("/")[-1] + ".mbox")
        messages = mailbox.mbox(mbox_file, create=False)
        originals = {_without_flag_fields(content) for content, _ in wanted}
        assert len(messages) == sum(wanted.values()), f"mbox {name}"
        for key in messages.iterkeys():
            content = _without_flag_fields(
                re.sub(rb"(?m)^>(>*From )", rb"\1", as_imap_sends(messages.get_bytes(key)))
            )
            assert content in originals or content[:-1] in originals, f"mbox {name} {key}"
    records = [r for r in server.log_records() if r.get("action") == "export"]
    assert [(r["actor"], r["account"], r["status"]) for r in records] == [
        ("admin", BOB, "departed")
    ] * 2
    assert {r["format"] for r in records} == {"maildir", "mbox"}


def _without_flag_fields(data: bytes) -> bytes:
    head, sep, body = data.partition(b"\n\n")
    lines = head.split(b"\n")
    kept = [line for line in lines if not re.match(rb"(?i)(status|x-status|x-keywords):", line)]
    return b"\n".join(kept) + sep + body


def test_mbsync_copies_every_folder_of_a_departed_account_in_grace(
    server: MailServer, tmp_path: Path
) -> None:
    """Memo 4.1: during the grace a real client copies the whole mailbox, byte for byte."""
    count = fill_mailbox(server, deleted=False)
    depart_yesterday(server)
    local = tmp_path / "backup"
    local.mkdir()
    # A leaver's backup: pull every folder, change nothing on the server.
    backup = mbsync_config(server, local, channel="Create Near\nSync Pull\nExpunge None")
    result = run_mbsync(backup, timeout=120)
    expected = imap_snapshot(server)
    # mbsync 1.4 adds its X-TUID field at the end of the header, so it skips a message whose
    # header never ends (no blank line), and says so: those are all it may leave out.
    no_header_end = {
        name: collections.Counter({k: n for k, n in wanted.items() if b"\n\n" not in k[0]})
        for name, wanted in expected.items()
    }
    skipped = sum(sum(c.values()) for c in no_header_end.values())
    assert skipped > 0  # the corpus has such messages (headers/header_only_no_blank_line.eml)
    assert result.stderr.count("has incomplete header; skipping") == skipped
    system = {"\\Seen": "S", "\\Flagged": "F", "\\Answered": "R", "\\Draft": "D"}
    system["$Forwarded"] = "P"  # Maildir's "passed"
    for name, wanted in expected.items():
        # mbsync 1.4 names local folders in modified UTF-7, as IMAP does (1.5 decodes them).
        path = local.joinpath(*(mutf7.encode(level) for level in name.split("/")))
        box = mailbox.Maildir(path, factory=None, create=False)
        found = collections.Counter(
            (_without_tuid(box.get_bytes(k)), "".join(sorted(box.get_message(k).get_flags())))
            for k in box.iterkeys()
        )
        # mbsync 1.4 keeps the Maildir flags (other keywords are not synchronised before 1.5).
        want = collections.Counter(
            {
                (content, "".join(sorted(system[f] for f in flags if f in system))): n
                for (content, flags), n in (wanted - no_header_end[name]).items()
            }
        )
        assert found == want, name
    assert sum(sum(c.values()) for c in expected.values()) == count
    assert (local / mutf7.encode("โครงการ") / mutf7.encode("งบประมาณ 2567") / "cur").is_dir()


def _without_tuid(data: bytes) -> bytes:
    """mbsync adds an X-TUID field (its own tracking id) to the header of what it stores."""
    head, sep, body = data.partition(b"\n\n")
    kept = [line for line in head.split(b"\n") if not line.startswith(b"X-TUID: ")]
    return b"\n".join(kept) + sep + body


def test_neomutt_opens_the_exported_mbox(server: MailServer, tmp_path: Path) -> None:
    neomutt = require_tool("neomutt")
    for n in range(3):
        send(server, thai_message(subject=f"backup {n}", body=f"From the archive {n}\n"))
    client = imap_client(server)
    client.create_folder("โครงการ")
    client.append("โครงการ", thai_message(subject="in a Thai folder"), flags=[b"\\Seen"])
    client.logout()
    depart_yesterday(server)
    top = export(server, "mbox", tmp_path)
    output = tmp_path / "piped.txt"
    home = tmp_path / "home"
    (home / "Mail").mkdir(parents=True)  # else neomutt first asks whether to create it
    # Pipe every message (tagged) to one file, then quit: neomutt writes each one with its
    # From_ line, so their count tells whether it split the mbox where we meant it to.
    command = shlex.join(
        [
            neomutt,
            "-n",
            "-F",
            "/dev/null",
            "-R",
            "-f",
            str(top / "INBOX.mbox"),
            "-e",
            "set pipe_split=yes pipe_decode=no",
            "-e",
            "push '<tag-pattern>~s .<enter><tag-prefix><pipe-message>"
            f"cat >> {output}<enter><exit>'",
        ]
    )
    result = subprocess.run(
        [require_tool("script"), "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"TERM": "xterm", "HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    assert output.exists(), result.stdout + result.stderr
    text = output.read_text(errors="replace")
    assert len(re.findall(r"(?m)^From alice@bangkok\.go\.th ", text)) == 3, text[:2000]
    assert all(f"Subject: backup {n}" in text for n in range(3))
    assert all(f"\n>From the archive {n}\n" in text for n in range(3)), "quoted as stored"
