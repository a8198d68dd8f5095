"""Where the settings are found (mailserver/config_source.py): the order administrators expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailserver.config_source import ENV_VAR, Origin, find_settings


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A working directory with mailserver.toml, a system file, and a file for the variable."""
    cwd, etc = tmp_path / "cwd", tmp_path / "etc"
    cwd.mkdir()
    etc.mkdir()
    paths = {
        "cwd": cwd,
        "local": cwd / "mailserver.toml",
        "system": etc / "mailserver.toml",
        "env": tmp_path / "from-env.toml",
        "option": tmp_path / "option.toml",
    }
    for key in ("local", "system", "env", "option"):
        paths[key].write_text("")
    return paths


def test_the_order_is_option_environment_working_directory_system(
    places: dict[str, Path],
) -> None:
    env = {ENV_VAR: str(places["env"])}
    cwd, system = places["cwd"], places["system"]

    def found(option: Path | None, environ: dict[str, str]) -> tuple[Path | None, Origin]:
        source = find_settings(option, environ, cwd, system)
        return source.path, source.origin

    assert found(places["option"], env) == (places["option"], Origin.OPTION)
    assert found(None, env) == (places["env"], Origin.ENVIRONMENT)
    assert found(None, {}) == (places["local"], Origin.WORKING_DIRECTORY)
    places["local"].unlink()
    assert found(None, {}) == (system, Origin.SYSTEM)
    system.unlink()
    assert found(None, {}) == (None, Origin.DEFAULTS)


def test_a_named_file_is_used_even_when_missing(tmp_path: Path) -> None:
    """A typo in --config or MAILSERVER_CONFIG must fail to load, never fall to defaults."""
    missing = tmp_path / "typo.toml"
    assert find_settings(missing, {}, tmp_path, tmp_path / "none").path == missing
    assert find_settings(None, {ENV_VAR: str(missing)}, tmp_path, tmp_path / "none").path == (
        missing
    )


def test_an_empty_variable_and_a_directory_named_like_the_file_are_ignored(
    tmp_path: Path,
) -> None:
    (tmp_path / "mailserver.toml").mkdir()
    source = find_settings(None, {ENV_VAR: "  "}, tmp_path, tmp_path / "none")
    assert source.origin is Origin.DEFAULTS and source.path is None


def test_descriptions_say_where_the_file_came_from(places: dict[str, Path]) -> None:
    cwd, system = places["cwd"], places["system"]
    env = find_settings(None, {ENV_VAR: str(places["env"])}, cwd, system)
    assert env.describe() == f"{places['env']} (from {ENV_VAR})"
    local = find_settings(None, {}, cwd, system)
    assert local.describe() == f"{places['local']} (from the working directory)"
    assert find_settings(places["option"], {}, cwd, system).describe() == str(places["option"])
    places["local"].unlink()
    system.unlink()
    defaults = find_settings(None, {}, cwd, system).describe()
    assert defaults.startswith("built-in defaults") and ENV_VAR in defaults
