"""Checks of the settings against the machine (mailserver/config_checks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailserver import config
from mailserver.config_checks import advisories, missing_files, named_files

# Every setting that names a file the operator provides (none of them has a default).
FILE_SETTINGS = [
    ("relay", "smarthost_password_file"),
    ("tls", "cert_file"),
    ("tls", "key_file"),
    ("directory", "ldap_bind_password_file"),
    ("directory", "ldap_ca_file"),
]


def settings_file(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "m.toml"
    path.write_text(f'[server]\ndata_dir = "{tmp_path / "var"}"\n{text}', encoding="utf-8")
    return config.load(path)


def every_file_setting(value: str) -> str:
    sections: dict[str, list[str]] = {}
    for section, key in FILE_SETTINGS:
        sections.setdefault(section, []).append(f'{key} = "{value}"')
    return "".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items())


def test_the_defaults_name_no_file_and_miss_none(tmp_path: Path) -> None:
    """The generated certificate under data_dir/certs is not "missing" before first start."""
    settings = config.load(None, base=tmp_path)
    assert named_files(settings) == []
    assert missing_files(settings) == []


def test_every_file_setting_is_checked(tmp_path: Path) -> None:
    settings = settings_file(tmp_path, every_file_setting("/nonexistent/file"))
    errors = missing_files(settings)
    assert [e.key for e in errors] == [f"{s}.{k}" for s, k in FILE_SETTINGS]
    assert all(e.message == "/nonexistent/file: no such file" for e in errors)


def test_files_that_exist_pass_and_relative_ones_hang_off_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret").write_text("s3cret\n")
    settings = settings_file(tmp_path, every_file_setting("secret"))
    assert {path for _, path in named_files(settings)} == {tmp_path / "var" / "secret"}
    assert missing_files(settings) == []


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    settings = settings_file(tmp_path, f'[directory]\nldap_ca_file = "{tmp_path}"\n')
    (error,) = missing_files(settings)
    assert (error.key, error.message) == ("directory.ldap_ca_file", f"{tmp_path}: not a file")


@pytest.mark.parametrize("name", ["localhost", "mailhost", "localhost."])
def test_a_host_name_without_a_dot_is_a_warning_that_says_how_to_set_it(
    tmp_path: Path, name: str
) -> None:
    settings = settings_file(tmp_path, f'hostname = "{name}"\n')
    (warning,) = advisories(settings)
    assert warning.key == "server.hostname"
    assert "[server]" in warning.message and 'hostname = "mail.' in warning.message
    assert f"postmaster@{name.rstrip('.')}" in warning.message


def test_a_dotted_host_name_is_fine(tmp_path: Path) -> None:
    assert advisories(settings_file(tmp_path, 'hostname = "mail.bangkok.go.th"\n')) == []
