"""mailserver.durable: whole-or-nothing replacement, fsyncs, temporary names, cleanup."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mailserver import durable
from mailserver.durable import fsync_dir, write_all, write_file_durably, write_new_file

OLD, NEW = b"old content\n", b"new content\n" * 1000


def names_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_creates_the_file_with_its_content_and_private_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_file_durably(target, NEW)
    assert target.read_bytes() == NEW
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert names_in(tmp_path) == {"state.json"}  # no temporary file left


def test_replaces_an_existing_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(OLD)
    write_file_durably(target, NEW, 0o640)
    assert target.read_bytes() == NEW
    assert names_in(tmp_path) == {"state.json"}


def test_the_target_is_never_seen_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "dovecot-uidlist"
    target.write_bytes(OLD)
    seen_mid_write: list[bytes] = []
    real_write_all = durable.write_all

    def write_in_two_halves(fd: int, data: bytes) -> None:
        real_write_all(fd, data[: len(data) // 2])
        seen_mid_write.append(target.read_bytes())  # what a reader sees right now
        real_write_all(fd, data[len(data) // 2 :])

    monkeypatch.setattr(durable, "write_all", write_in_two_halves)
    for holds_lock in (False, True):
        write_file_durably(target, NEW, caller_holds_lock=holds_lock)
    assert seen_mid_write == [OLD, NEW]  # the old file, whole; then the first write's, whole
    assert target.read_bytes() == NEW


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failure_before_the_rename_keeps_the_old_content_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "envelope.json"
    target.write_bytes(OLD)

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    for holds_lock in (False, True):
        with pytest.raises(OSError, match="No space left"):
            write_file_durably(target, NEW, caller_holds_lock=holds_lock)
    monkeypatch.undo()
    assert target.read_bytes() == OLD
    assert names_in(tmp_path) == {"envelope.json"}


def test_file_and_directory_are_fsynced_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_file_durably(target, NEW)
    assert synced == ["file", "dir"]  # the content, then the new name


def test_two_writers_of_one_target_never_share_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writer A is interrupted half-way through its temporary file while writer B (another
    # process, or a thread without a common lock) writes the same target from start to
    # end. With a shared temporary name B would take A's file, or A's rename would fail.
    target = tmp_path / "envelope.json"
    first, second = b"A" * 10_000, b"B" * 10_000
    real_write_all = durable.write_all
    interrupted = False

    def other_writer_cuts_in(fd: int, data: bytes) -> None:
        nonlocal interrupted
        real_write_all(fd, data[:100])
        if not interrupted:
            interrupted = True
            write_file_durably(target, second)
            assert target.read_bytes() == second
        real_write_all(fd, data[100:])

    monkeypatch.setattr(durable, "write_all", other_writer_cuts_in)
    write_file_durably(target, first)
    assert target.read_bytes() == first  # both writes completed whole; the last rename won
    assert names_in(tmp_path) == {"envelope.json"}


def test_a_random_name_already_taken_is_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    (tmp_path / "state.json.00000000.tmp").write_bytes(b"another writer's")
    draws = iter(["00000000", "11111111"])
    monkeypatch.setattr(durable.secrets, "token_hex", lambda _n: next(draws))
    write_file_durably(target, NEW)
    assert target.read_bytes() == NEW
    assert (tmp_path / "state.json.00000000.tmp").read_bytes() == b"another writer's"


def test_under_the_callers_lock_a_crash_leftover_is_reused_and_removed(tmp_path: Path) -> None:
    target = tmp_path / "dovecot-uidlist"
    target.write_bytes(OLD)
    (tmp_path / "dovecot-uidlist.tmp").write_bytes(b"left by a crash, longer than the rest" * 99)
    write_file_durably(target, NEW, caller_holds_lock=True)
    assert target.read_bytes() == NEW
    assert names_in(tmp_path) == {"dovecot-uidlist"}


def test_a_temporary_directory_holds_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envelopes, tmp = tmp_path / "envelopes", tmp_path / "tmp"
    envelopes.mkdir()
    tmp.mkdir()
    target = envelopes / "Q1.json"
    seen_in_tmp: list[set[str]] = []
    real_write_all = durable.write_all

    def look(fd: int, data: bytes) -> None:
        real_write_all(fd, data)
        seen_in_tmp.append(names_in(tmp))

    monkeypatch.setattr(durable, "write_all", look)
    write_file_durably(target, NEW, tmp_dir=tmp)
    (name,) = seen_in_tmp[0]
    assert name.startswith("Q1.json.") and name.endswith(".tmp")
    assert target.read_bytes() == NEW
    assert names_in(tmp) == set()
    assert names_in(envelopes) == {"Q1.json"}


def test_write_new_file_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "taken"
    path.write_bytes(OLD)
    with pytest.raises(FileExistsError):
        write_new_file(path, NEW)
    assert path.read_bytes() == OLD


def test_write_new_file_sets_the_mtime(tmp_path: Path) -> None:
    path = tmp_path / "1700000000.M1P1Q1.mx1,S=12,W=13"
    write_new_file(path, NEW, mtime=1_000_000_000.0)
    assert path.read_bytes() == NEW
    assert path.stat().st_mtime == 1_000_000_000.0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_new_file_removes_a_file_it_could_not_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="Input/output"):
        write_new_file(tmp_path / "message", NEW)
    monkeypatch.undo()
    assert names_in(tmp_path) == set()


def test_write_all_survives_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out"
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        write_all(fd, NEW)
    finally:
        os.close(fd)
    monkeypatch.undo()
    assert path.read_bytes() == NEW


def test_fsync_dir_accepts_a_directory_only(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "file")
